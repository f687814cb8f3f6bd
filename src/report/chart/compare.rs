//! `compare-<old run id>.png`: per experiment, the old and the new run's
//! bars of [`CHART_COUNTS`]; old bars lighter and hatched, crossed
//! thresholds marked in red.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::FontTransform;

use super::{
    anchored, bold, chart_err, draw_empty_note, draw_legend, fit, fmt_num, font, layout,
    render_png, short_meaning, style, Area, Caption, LegendItem, Swatch,
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

/// The colour of an old bar: the count's colour, lighter.
fn lighter(c: RGBColor) -> RGBColor {
    let mix = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * 0.55).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
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

/// Hatches a rectangle (pixel corners) with `/` lines.
fn hatch(
    root: &Area<'_>,
    (x0, y0): (i32, i32),
    (x1, y1): (i32, i32),
    colour: RGBColor,
) -> Result<(), ReportError> {
    let (x0, x1) = (x0.min(x1), x0.max(x1));
    let (y0, y1) = (y0.min(y1), y0.max(y1));
    const STEP: i32 = 7;
    let mut c = x0 + y0 + STEP;
    while c < x1 + y1 {
        // The line x + y = c, inside the rectangle.
        let xa = x0.max(c - y1);
        let xb = x1.min(c - y0);
        if xa < xb {
            root.draw(&PathElement::new(
                vec![(xa, c - xa), (xb, c - xb)],
                colour.stroke_width(1),
            ))
            .map_err(chart_err)?;
        }
        c += STEP;
    }
    Ok(())
}

/// The old/new key above the legend of counts.
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
    let x0 = 12;
    let mut y = 24;
    area.draw(&Text::new(
        "bars".to_string(),
        (x0, y),
        anchored(bold(style::LEGEND_SIZE), HPos::Left, VPos::Center),
    ))
    .map_err(chart_err)?;
    y += 28;
    let label = anchored(font(style::LEGEND_SIZE), HPos::Left, VPos::Center);
    let note = anchored(
        font(style::FOOTER_SIZE).color(&style::MUTED),
        HPos::Left,
        VPos::Center,
    );
    let max_w = style::LEGEND_WIDTH as i32 - x0 - 30;
    let grey = style::SENT;
    let items = [
        ("old run", o.old.run_id.as_str(), 0),
        ("new run", o.new.run_id.as_str(), 1),
        ("threshold crossed", "", 2),
    ];
    for (text, sub, kind) in items {
        if kind == 2 && violations.is_none() {
            continue;
        }
        let (a, b) = ((x0, y - 8), (x0 + 16, y + 8));
        match kind {
            0 => {
                area.draw(&Rectangle::new([a, b], lighter(grey).filled()))
                    .map_err(chart_err)?;
                hatch(area, a, b, grey)?;
                area.draw(&Rectangle::new([a, b], grey.stroke_width(1)))
                    .map_err(chart_err)?;
            }
            1 => area
                .draw(&Rectangle::new([a, b], grey.filled()))
                .map_err(chart_err)?,
            _ => {
                let arrow = violations == Some(true);
                // Leave room for the arrow above the swatch.
                let a = if arrow { (a.0, a.1 + 4) } else { a };
                area.draw(&Rectangle::new([a, b], grey.filled()))
                    .map_err(chart_err)?;
                draw_violation_mark(area, a, b, arrow)?;
            }
        }
        area.draw(&Text::new(
            fit(area, text, &label, max_w),
            (x0 + 24, y),
            label.clone(),
        ))
        .map_err(chart_err)?;
        if sub.is_empty() {
            y += 26;
        } else {
            area.draw(&Text::new(
                fit(area, sub, &note, max_w),
                (x0 + 24, y + 17),
                note.clone(),
            ))
            .map_err(chart_err)?;
            y += 42;
        }
    }
    Ok(())
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

/// How the value above a bar is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueLabels {
    Horizontal,
    Vertical,
    None,
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

    let n = o.experiments.len().max(1);
    let value = |e: &ExperimentDiff, c: &str, new: bool| {
        e.row(c).and_then(|r| if new { r.new } else { r.old })
    };
    let max = o
        .experiments
        .iter()
        .flat_map(|e| {
            CHART_COUNTS
                .iter()
                .flat_map(move |c| [value(e, c, false), value(e, c, true)])
        })
        .flatten()
        .max()
        .unwrap_or(0) as f64;

    // Each group: a margin, then per count an old and a new bar and a gap.
    const GAP: f64 = 0.7;
    let slots = CHART_COUNTS.len() as f64 * (2.0 + GAP) + GAP;
    let (pw, ph) = l.plot.dim_in_pixel();
    const X_LABEL_AREA: u32 = 56;
    const MARGIN: u32 = 12;
    let plot_h = ph.saturating_sub(X_LABEL_AREA + 2 * MARGIN).max(1) as f64;
    let plot_w = pw.saturating_sub(80 + 2 * MARGIN).max(1) as f64;
    let bar_px = plot_w / n as f64 / slots;
    let label_style = anchored(font(style::VALUE_SIZE), HPos::Center, VPos::Bottom);
    let widest_label = l
        .plot
        .estimate_text_size(&fmt_num(max), &label_style)
        .map(|(w, _)| w as f64)
        .unwrap_or(f64::MAX);
    let value_labels = if widest_label + 2.0 <= bar_px {
        ValueLabels::Horizontal
    } else if bar_px >= 11.0 {
        ValueLabels::Vertical
    } else {
        ValueLabels::None
    };
    let label_px = match value_labels {
        ValueLabels::Horizontal => style::VALUE_SIZE + 6.0,
        ValueLabels::Vertical => widest_label + 8.0,
        ValueLabels::None => 0.0,
    };
    draw_key(
        &key,
        o,
        (violations > 0).then_some(value_labels == ValueLabels::None),
    )?;
    let headroom = (label_px / plot_h).min(0.5);
    let y_top = max.max(5.0) * 1.04 / (1.0 - headroom);

    let mut c = ChartBuilder::on(&l.plot)
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..n as f64, 0.0..y_top)
        .map_err(chart_err)?;
    c.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(8)
        .y_desc("records")
        .y_label_formatter(&|v| fmt_num(*v))
        .label_style(font(style::LABEL_SIZE))
        .axis_desc_style(font(style::AXIS_DESC_SIZE))
        .light_line_style(style::GRID)
        .bold_line_style(style::GRID)
        .max_light_lines(0)
        .draw()
        .map_err(chart_err)?;

    if o.experiments.is_empty() {
        return draw_empty_note(&l.plot, "no experiments in either run");
    }

    let unit = 1.0 / slots;
    let min_bar = y_top * 3.0 / plot_h;
    for (i, e) in o.experiments.iter().enumerate() {
        if i > 0 {
            // A faint line between groups.
            c.draw_series(std::iter::once(PathElement::new(
                vec![(i as f64, 0.0), (i as f64, y_top)],
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
                let v = v as f64;
                let x0 = start + if new { unit } else { 0.0 };
                let x1 = x0 + unit * 0.92;
                // A count of 1 among thousands still shows as a sliver.
                let h = if v > 0.0 { v.max(min_bar) } else { 0.0 };
                if h > 0.0 {
                    let fill = if new { colour } else { lighter(colour) };
                    c.draw_series(std::iter::once(Rectangle::new(
                        [(x0, 0.0), (x1, h)],
                        fill.filled(),
                    )))
                    .map_err(chart_err)?;
                    let a = c.backend_coord(&(x0, h));
                    let b = c.backend_coord(&(x1, 0.0));
                    if !new {
                        hatch(root, a, b, colour)?;
                        root.draw(&Rectangle::new([a, b], colour.stroke_width(1)))
                            .map_err(chart_err)?;
                    }
                }
                if new && violated {
                    let a = c.backend_coord(&(x0, h));
                    let b = c.backend_coord(&(x1, 0.0));
                    draw_violation_mark(root, a, b, value_labels == ValueLabels::None)?;
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
                match value_labels {
                    ValueLabels::Horizontal => root
                        .draw(&Text::new(
                            fmt_num(v),
                            (px, py - 3),
                            anchored(text_font, HPos::Center, VPos::Bottom),
                        ))
                        .map_err(chart_err)?,
                    ValueLabels::Vertical => root
                        .draw(&Text::new(
                            fmt_num(v),
                            (px, py - 4),
                            anchored(text_font, HPos::Left, VPos::Center)
                                .transform(FontTransform::Rotate270),
                        ))
                        .map_err(chart_err)?,
                    ValueLabels::None => {}
                }
            }
        }

        // The experiment under its group: name, then its mode or where it
        // was found.
        let (cx, by) = c.backend_coord(&(i as f64 + 0.5, 0.0));
        let group_px = (plot_w / n as f64) as i32 - 6;
        let ls = anchored(font(style::LABEL_SIZE), HPos::Center, VPos::Top);
        root.draw(&Text::new(
            fit(&l.plot, &e.name, &ls, group_px),
            (cx, by + 8),
            ls.clone(),
        ))
        .map_err(chart_err)?;
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
        let ls2 = anchored(
            font(style::LABEL_SIZE).color(colour),
            HPos::Center,
            VPos::Top,
        );
        root.draw(&Text::new(
            fit(&l.plot, &second, &ls2, group_px),
            (cx, by + 27),
            ls2.clone(),
        ))
        .map_err(chart_err)?;
    }
    Ok(())
}
