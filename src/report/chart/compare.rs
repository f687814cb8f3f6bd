//! `compare-<old run id>.png`: per experiment, the old and the new run's
//! bars of [`CHART_COUNTS`]; old bars lighter and hatched, crossed
//! thresholds marked in red.

use plotters::prelude::*;

use super::bars::{
    draw_bar, draw_group_label, draw_value, hatch_and_frame, lighter, BarScale, ValueLabels,
};
use super::{
    bold, chart_err, draw_empty_note, draw_legend, font, layout, render_png, short_meaning, style,
    Area, Caption, LegendItem, Swatch,
};
use crate::compare::table::plural;
use crate::compare::{CompareOutcome, CountDiff, ExperimentDiff, Presence, RunRef, CHART_COUNTS};
use crate::model::verdict::Verdict;
use crate::report::ReportError;

/// Extra copies: no verdict colour of its own.
const DUPLICATES: RGBColor = RGBColor(157, 117, 93);

fn count_colour(count: &str) -> RGBColor {
    match verdict_named(count) {
        Some(v) => style::verdict(v),
        None => DUPLICATES,
    }
}

fn verdict_named(count: &str) -> Option<Verdict> {
    Verdict::ALL.iter().copied().find(|v| v.as_str() == count)
}

/// `compare-<old>.png`: per experiment, old and new bars of
/// [`CHART_COUNTS`]; old bars lighter and hatched.
pub fn chart_png(outcome: &CompareOutcome) -> Result<Vec<u8>, ReportError> {
    render_png("compare", |root| draw_chart(root, outcome))
}

fn caption(o: &CompareOutcome) -> Caption {
    let broker = |r: &RunRef| {
        if r.backend == "mock" {
            "librdkafka MOCK cluster".to_string()
        } else if r.kafka_version.is_empty() {
            r.backend.clone()
        } else {
            format!("Kafka {}, {}", r.kafka_version, r.backend)
        }
    };
    Caption {
        text: format!(
            "old: run {} ({}) · new: run {} ({}) · kafka-chaos {}",
            o.old.run_id,
            broker(&o.old),
            o.new.run_id,
            broker(&o.new),
            env!("CARGO_PKG_VERSION")
        ),
        warn: o.old.backend == "mock" || o.new.backend == "mock",
    }
}

/// Marks a new bar (pixel corners `a` top left, `b` bottom right) whose
/// count crossed a threshold: a red frame outside it, or, for bars too
/// narrow for one, a red arrow above it.
fn draw_violation_mark(
    area: &Area<'_>,
    a: (i32, i32),
    b: (i32, i32),
    arrow: bool,
) -> Result<(), ReportError> {
    if arrow {
        let cx = (a.0 + b.0) / 2;
        let top = a.1 - 3;
        area.draw(&Polygon::new(
            vec![(cx, top), (cx - 5, top - 9), (cx + 5, top - 9)],
            style::WARNING.filled(),
        ))
    } else {
        area.draw(&Rectangle::new(
            [(a.0 - 2, a.1 - 2), (b.0 + 2, b.1)],
            style::WARNING.stroke_width(2),
        ))
    }
    .map_err(chart_err)
}

/// The old/new key above the legend of counts; `violations`: whether any
/// bar is marked, and with an arrow.
fn draw_key(
    area: &Area<'_>,
    o: &CompareOutcome,
    violations: Option<bool>,
) -> Result<(), ReportError> {
    let grey = style::SENT;
    // Swatches of 16 × 16 pixels, centred on the line of their label.
    let corners = |(x, y): (i32, i32)| ((x, y - 8), (x + 16, y + 8));
    let mut items = vec![
        LegendItem {
            swatch: Swatch::Custom(Box::new(move |area, at| {
                let (a, b) = corners(at);
                area.draw(&Rectangle::new([a, b], lighter(grey).filled()))
                    .map_err(chart_err)?;
                hatch_and_frame(area, a, b, grey)
            })),
            label: "old run".into(),
            note: o.old.run_id.clone(),
        },
        LegendItem {
            swatch: Swatch::Custom(Box::new(move |area, at| {
                let (a, b) = corners(at);
                area.draw(&Rectangle::new([a, b], grey.filled()))
                    .map_err(chart_err)
            })),
            label: "new run".into(),
            note: o.new.run_id.clone(),
        },
    ];
    if let Some(arrow) = violations {
        items.push(LegendItem {
            swatch: Swatch::Custom(Box::new(move |area, at| {
                let (a, b) = corners(at);
                // Leave room for the arrow above the swatch.
                let a = if arrow { (a.0, a.1 + 4) } else { a };
                area.draw(&Rectangle::new([a, b], grey.filled()))
                    .map_err(chart_err)?;
                draw_violation_mark(area, a, b, arrow)
            })),
            label: "threshold crossed".into(),
            note: String::new(),
        });
    }
    draw_legend(area, "bars", &items)
}

/// "only in old", or shorter if that does not fit in `max_px`.
fn only_label(area: &Area<'_>, run: &str, max_px: i32) -> String {
    let ls = font(style::LABEL_SIZE);
    let fits = |t: &str| {
        area.estimate_text_size(t, &ls)
            .is_ok_and(|(w, _)| w as i32 <= max_px)
    };
    [format!("only in {run}"), format!("{run} only")]
        .into_iter()
        .find(|t| fits(t))
        .unwrap_or_else(|| run.to_string())
}

fn draw_chart(root: &Area<'_>, o: &CompareOutcome) -> Result<(), ReportError> {
    let title = format!("Old vs new: {} → {}", o.old.run_id, o.new.run_id);
    let violations = o.violations().count();
    let changed: usize = o.experiments.iter().map(ExperimentDiff::changed).sum();
    let mut subtitle = format!(
        "records per experiment: old bars light and hatched, new bars solid · {changed} count{} changed",
        plural(changed)
    );
    if !o.thresholds.is_empty() {
        subtitle.push_str(&format!(
            " · {violations} threshold violation{}",
            plural(violations)
        ));
    }
    let l = layout(root, &title, &subtitle, &caption(o))?;

    let key_h = if violations > 0 {
        52 + 42 * 2 + 26
    } else {
        52 + 42 * 2
    };
    let (key, counts_legend) = l.legend.split_vertically(key_h + 6);
    let legend: Vec<LegendItem> = CHART_COUNTS
        .iter()
        .map(|c| LegendItem {
            swatch: Swatch::Bar(count_colour(c).to_rgba()),
            label: (*c).to_string(),
            note: verdict_named(c)
                .map_or("extra copies in the topic", short_meaning)
                .to_string(),
        })
        .collect();
    draw_legend(&counts_legend, "counts", &legend)?;

    // Over repetitions a bar is the median, with a whisker from the
    // smallest value to the largest.
    let spread = |e: &ExperimentDiff, c: &str, new: bool| {
        e.row(c).and_then(|r| if new { r.new } else { r.old })
    };
    let value = |e: &ExperimentDiff, c: &str, new: bool| spread(e, c, new).map(|s| s.median);
    let max = o
        .experiments
        .iter()
        .flat_map(|e| {
            CHART_COUNTS
                .iter()
                .flat_map(move |c| [spread(e, c, false), spread(e, c, true)])
        })
        .flatten()
        .map(|s| s.max)
        .max()
        .unwrap_or(0) as f64;

    // Each group: a margin, then per count an old and a new bar and a gap.
    const GAP: f64 = 0.7;
    let slots = CHART_COUNTS.len() as f64 * (2.0 + GAP) + GAP;
    let scale = BarScale::new(&l.plot, o.experiments.len(), slots, max);
    let arrows = scale.value_labels == ValueLabels::None;
    draw_key(&key, o, (violations > 0).then_some(arrows))?;
    let mut c = scale.chart(&l.plot)?;

    if o.experiments.is_empty() {
        return draw_empty_note(&l.plot, "no experiments in either run");
    }

    let unit = 1.0 / slots;
    for (i, e) in o.experiments.iter().enumerate() {
        if i > 0 {
            // A faint line between groups.
            c.draw_series(std::iter::once(PathElement::new(
                vec![(i as f64, 0.0), (i as f64, scale.y_top)],
                style::GRID.stroke_width(1),
            )))
            .map_err(chart_err)?;
        }
        for (j, count) in CHART_COUNTS.iter().enumerate() {
            let colour = count_colour(count);
            let start = i as f64 + unit * (GAP + j as f64 * (2.0 + GAP));
            let row = e.row(count);
            let changed = row.is_some_and(CountDiff::changed);
            let violated = e.violations_of(count).next().is_some();
            for new in [false, true] {
                let Some(v) = value(e, count, new) else {
                    continue;
                };
                let x0 = start + if new { unit } else { 0.0 };
                let x1 = x0 + unit * 0.92;
                let h = scale.height(v);
                if h > 0.0 {
                    let fill = if new { colour } else { lighter(colour) };
                    let (a, b) = draw_bar(&mut c, (x0, x1), h, fill)?;
                    if !new {
                        hatch_and_frame(root, a, b, colour)?;
                    }
                }
                if let Some(s) = spread(e, count, new).filter(|s| !s.is_constant()) {
                    let xm = (x0 + x1) / 2.0;
                    let (lo, hi) = (scale.height(s.min as f64), scale.height(s.max as f64));
                    c.draw_series(std::iter::once(PathElement::new(
                        vec![(xm, lo), (xm, hi)],
                        style::TEXT.stroke_width(2),
                    )))
                    .map_err(chart_err)?;
                }
                if new && violated {
                    let a = c.backend_coord(&(x0, h));
                    let b = c.backend_coord(&(x1, 0.0));
                    draw_violation_mark(root, a, b, arrows)?;
                }
                let text_colour: &'static RGBColor = match (new, violated, changed) {
                    (true, true, _) => &style::WARNING,
                    (false, _, _) => &style::MUTED,
                    _ => &style::TEXT,
                };
                let text_font = if new && changed {
                    bold(style::VALUE_SIZE)
                } else {
                    font(style::VALUE_SIZE)
                }
                .color(text_colour);
                let (px, py) = c.backend_coord(&((x0 + x1) / 2.0, h));
                // Clear of the red frame.
                let py = if new && violated { py - 3 } else { py };
                draw_value(root, scale.value_labels, v, (px, py), text_font)?;
            }
        }

        // The experiment under its group: name, then its mode or where it
        // was found.
        let group_px = scale.group_px();
        let (second, colour): (String, &'static RGBColor) =
            match (e.presence(), &e.old_mode, &e.new_mode) {
                (Presence::OnlyOld, _, _) => {
                    (only_label(&l.plot, "old", group_px), &style::WARNING)
                }
                (Presence::OnlyNew, _, _) => {
                    (only_label(&l.plot, "new", group_px), &style::WARNING)
                }
                (_, Some(a), Some(b)) if a != b => (format!("({a} → {b})"), &style::MUTED),
                (_, _, Some(m)) => (format!("({m})"), &style::MUTED),
                _ => (String::new(), &style::MUTED),
            };
        draw_group_label(root, &l.plot, (&c, &scale), i, &e.name, (&second, colour))?;
    }
    Ok(())
}
