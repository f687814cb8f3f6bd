//! `spread.png`: how much each verdict varied over an experiment's
//! repetitions (`--repeat`). One block per experiment: its name, mode,
//! fault and number of repetitions, then a row per verdict that occurred in
//! any repetition — a dot per repetition at its share of the records sent,
//! a line from the smallest to the largest, a tick at the median — and on
//! the right the counts: `0–61 (median 7) · in 4 of 5`.
//!
//! A dot plot rather than a box plot: with five repetitions every one of
//! them is shown, and a verdict that occurred in one run of five is one
//! dot, not a box that hides it.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::comparison::BAR_ORDER;
use super::{
    anchored, bold, chart_err, draw_empty_note, draw_legend, ensure_fonts, font, layout,
    render_png_sized, short_meaning, style, text_size, Area, Caption, LegendItem, Swatch,
};
use crate::model::result::ExperimentResult;
use crate::model::spread::{spreads, CountSpread, ExperimentSpread};
use crate::model::verdict::Verdict;
use crate::report::ReportError;

/// Heights in pixels: a block's heading, a verdict's row, the gap after a
/// block.
const HEAD_H: u32 = 26;
const ROW_H: u32 = 22;
const GAP: u32 = 10;
const PAD: u32 = 14;
const MIN_PLOT: u32 = 520;
const AXIS_TOP: u32 = 26;
const AXIS_BOTTOM: u32 = 48;
const MIN_HEIGHT: u32 = 460;
const DOT: i32 = 5;

/// One verdict of one experiment: each repetition's share of the records
/// sent, and the counts' spread.
struct Row {
    verdict: Verdict,
    /// (repetition, share of sent in 0..=1)
    shares: Vec<(u32, f64)>,
    median_share: f64,
    note: String,
}

struct Block {
    name: String,
    detail: String,
    rows: Vec<Row>,
}

impl Block {
    fn height(&self) -> u32 {
        HEAD_H + self.rows.len().max(1) as u32 * ROW_H + GAP
    }
}

fn blocks(results: &[ExperimentResult]) -> Vec<Block> {
    spreads(results)
        .into_iter()
        .map(|s| block(&s, results))
        .collect()
}

fn block(s: &ExperimentSpread, results: &[ExperimentResult]) -> Block {
    let reps: Vec<&ExperimentResult> = results.iter().filter(|r| r.name == s.name).collect();
    let rows = BAR_ORDER
        .iter()
        .filter_map(|v| {
            let c: &CountSpread = s.count(v.as_str())?;
            if c.nonzero_in == 0 {
                return None;
            }
            let mut shares: Vec<(u32, f64)> = reps
                .iter()
                .map(|r| {
                    let counts = &r.verification.counts;
                    let share = if counts.sent == 0 {
                        0.0
                    } else {
                        counts.verdict(*v) as f64 / counts.sent as f64
                    };
                    (r.repetition, share)
                })
                .collect();
            shares.sort_by_key(|(rep, _)| *rep);
            let mut sorted: Vec<f64> = shares.iter().map(|(_, x)| *x).collect();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len();
            let median_share = if n % 2 == 1 {
                sorted[n / 2]
            } else {
                (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
            };
            Some(Row {
                verdict: *v,
                shares,
                median_share,
                note: format!("{} · in {} of {}", c.label(), c.nonzero_in, c.of),
            })
        })
        .collect();
    Block {
        name: s.name.clone(),
        detail: format!(
            "{} · {} · {} of {} repetition{}",
            s.mode,
            s.fault,
            s.finished,
            s.repetitions,
            if s.repetitions == 1 { "" } else { "s" }
        ),
        rows,
    }
}

struct Geometry {
    size: (u32, u32),
    plot_x: u32,
    plot_px: u32,
}

fn geometry(blocks: &[Block]) -> Result<Geometry, ReportError> {
    ensure_fonts()?;
    let ls = font(style::LABEL_SIZE);
    let vs = font(style::VALUE_SIZE);
    let mut label_px = 110;
    let mut note_px = 0;
    for b in blocks {
        for r in &b.rows {
            label_px = label_px.max(text_size(r.verdict.as_str(), &ls)?.0 + 2 * PAD);
            note_px = note_px.max(text_size(&r.note, &vs)?.0);
        }
    }
    let plot_x = PAD + label_px + PAD;
    let fixed = plot_x + PAD + DOT as u32 + note_px + PAD + style::LEGEND_WIDTH;
    let plot_px = style::SIZE.0.saturating_sub(fixed).max(MIN_PLOT);
    let width = (fixed + plot_px).max(style::SIZE.0);
    let rows: u32 = blocks.iter().map(Block::height).sum();
    let height = (style::TITLE_HEIGHT + style::FOOTER_HEIGHT + AXIS_TOP + rows + AXIS_BOTTOM + PAD)
        .max(MIN_HEIGHT);
    Ok(Geometry {
        size: (width, height),
        plot_x,
        plot_px,
    })
}

/// `spread.png` over every experiment of `results` (each repetition a
/// result; experiments run once show their single value).
pub fn spread_png(results: &[ExperimentResult], caption: &Caption) -> Result<Vec<u8>, ReportError> {
    let blocks = blocks(results);
    let geo = geometry(&blocks)?;
    render_png_sized("spread", geo.size, |root| {
        draw(root, &blocks, &geo, caption)
    })
}

fn draw(
    root: &Area<'_>,
    blocks: &[Block],
    geo: &Geometry,
    caption: &Caption,
) -> Result<(), ReportError> {
    let l = layout(
        root,
        "How much each verdict varied over the repetitions",
        "a dot per repetition at its share of the records sent · line: smallest to largest · tick: median",
        caption,
    )?;
    let mut legend: Vec<LegendItem> = BAR_ORDER
        .iter()
        .map(|v| LegendItem {
            swatch: Swatch::Dot(style::verdict(*v).to_rgba()),
            label: v.as_str().to_string(),
            note: short_meaning(*v).to_string(),
        })
        .collect();
    legend.push(LegendItem {
        swatch: Swatch::Custom(Box::new(|area: &Area<'_>, (x, y): (i32, i32)| {
            area.draw(&PathElement::new(
                vec![(x + 8, y - 8), (x + 8, y + 8)],
                style::TEXT.stroke_width(3),
            ))
            .map_err(chart_err)
        })),
        label: "median".into(),
        note: "right: min–max, runs with it".into(),
    });
    draw_legend(&l.legend, "verdict", &legend)?;
    if blocks.is_empty() {
        return draw_empty_note(&l.plot, "no finished experiments yet");
    }
    let bottom = AXIS_TOP + blocks.iter().map(Block::height).sum::<u32>();
    draw_axis(&l.plot, geo, bottom as i32)?;
    let mut y = AXIS_TOP as i32;
    for (i, b) in blocks.iter().enumerate() {
        draw_block(&l.plot, geo, b, y, i % 2 == 0)?;
        y += b.height() as i32;
    }
    Ok(())
}

fn x_of(geo: &Geometry, share: f64) -> i32 {
    (geo.plot_x as f64 + share.clamp(0.0, 1.0) * geo.plot_px as f64).round() as i32
}

fn draw_axis(plot: &Area<'_>, geo: &Geometry, bottom: i32) -> Result<(), ReportError> {
    let top = AXIS_TOP as i32;
    let top_label = anchored(font(style::LABEL_SIZE), HPos::Center, VPos::Bottom);
    let bottom_label = anchored(font(style::LABEL_SIZE), HPos::Center, VPos::Top);
    for q in 0..=4 {
        let x = x_of(geo, f64::from(q) / 4.0);
        plot.draw(&PathElement::new(
            vec![(x, top - 3), (x, bottom + 3)],
            style::GRID.stroke_width(1),
        ))
        .map_err(chart_err)?;
        let text = format!("{}%", q * 25);
        plot.draw(&Text::new(text.clone(), (x, top - 5), top_label.clone()))
            .map_err(chart_err)?;
        plot.draw(&Text::new(text, (x, bottom + 6), bottom_label.clone()))
            .map_err(chart_err)?;
    }
    let desc = anchored(font(style::AXIS_DESC_SIZE), HPos::Center, VPos::Top);
    plot.draw(&Text::new(
        "share of the records sent, per repetition".to_string(),
        (x_of(geo, 0.5), bottom + 24),
        desc,
    ))
    .map_err(chart_err)
}

fn draw_block(
    plot: &Area<'_>,
    geo: &Geometry,
    b: &Block,
    y0: i32,
    zebra: bool,
) -> Result<(), ReportError> {
    let (w, _) = plot.dim_in_pixel();
    if zebra {
        plot.draw(&Rectangle::new(
            [(0, y0), (w as i32, y0 + b.height() as i32 - GAP as i32 / 2)],
            RGBColor(247, 247, 247).filled(),
        ))
        .map_err(chart_err)?;
    }
    let name_style = anchored(bold(style::LABEL_SIZE), HPos::Left, VPos::Center);
    let mid = y0 + (HEAD_H / 2) as i32;
    plot.draw(&Text::new(
        b.name.clone(),
        (PAD as i32, mid),
        name_style.clone(),
    ))
    .map_err(chart_err)?;
    let name_w = text_size(&b.name, &bold(style::LABEL_SIZE))?.0;
    plot.draw(&Text::new(
        b.detail.clone(),
        ((PAD + name_w + 12) as i32, mid),
        anchored(
            font(style::FOOTER_SIZE).color(&style::MUTED),
            HPos::Left,
            VPos::Center,
        ),
    ))
    .map_err(chart_err)?;
    let label = anchored(font(style::LABEL_SIZE), HPos::Left, VPos::Center);
    let value = anchored(font(style::VALUE_SIZE), HPos::Left, VPos::Center);
    if b.rows.is_empty() {
        plot.draw(&Text::new(
            "no records".to_string(),
            (geo.plot_x as i32 + 4, y0 + (HEAD_H + ROW_H / 2) as i32),
            value.clone(),
        ))
        .map_err(chart_err)?;
    }
    for (i, r) in b.rows.iter().enumerate() {
        let y = y0 + (HEAD_H + i as u32 * ROW_H + ROW_H / 2) as i32;
        plot.draw(&Text::new(
            r.verdict.as_str().to_string(),
            ((2 * PAD) as i32, y),
            label.clone(),
        ))
        .map_err(chart_err)?;
        let colour = style::verdict(r.verdict);
        let (lo, hi) = r
            .shares
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, x)| {
                (a.min(*x), b.max(*x))
            });
        if lo.is_finite() && hi > lo {
            plot.draw(&PathElement::new(
                vec![(x_of(geo, lo), y), (x_of(geo, hi), y)],
                colour.stroke_width(2),
            ))
            .map_err(chart_err)?;
        }
        // The median under the dots: its ends show above and below them.
        let mx = x_of(geo, r.median_share);
        plot.draw(&PathElement::new(
            vec![(mx, y - 10), (mx, y + 10)],
            style::TEXT.stroke_width(3),
        ))
        .map_err(chart_err)?;
        for (rep, share) in &r.shares {
            // Repetitions on the same value stay visible: a small vertical
            // offset by repetition.
            let dy = ((*rep as i32 - 1) % 3 - 1) * 4;
            let at = (x_of(geo, *share), y + dy);
            plot.draw(&Circle::new(at, DOT, colour.mix(0.8).filled()))
                .map_err(chart_err)?;
            plot.draw(&Circle::new(at, DOT, style::TEXT.mix(0.5).stroke_width(1)))
                .map_err(chart_err)?;
        }
        plot.draw(&Text::new(
            r.note.clone(),
            ((geo.plot_x + geo.plot_px + PAD) as i32 + DOT, y),
            value.clone(),
        ))
        .map_err(chart_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart::Caption;
    use crate::report::tests::synthetic;

    fn repeated(n: u32) -> Vec<ExperimentResult> {
        (1..=n)
            .flat_map(|rep| {
                ["sync", "fire-and-forget"].into_iter().map(move |mode| {
                    let mut r = synthetic(mode, mode, 300 + u64::from(rep) * 20);
                    r.repetition = rep;
                    r.repetitions = n;
                    r
                })
            })
            .collect()
    }

    #[test]
    fn blocks_hold_the_verdicts_that_occurred() {
        let results = repeated(5);
        let b = blocks(&results);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].name, "sync");
        assert!(
            b[0].detail.ends_with("5 of 5 repetitions"),
            "{}",
            b[0].detail
        );
        let verdicts: Vec<Verdict> = b[1].rows.iter().map(|r| r.verdict).collect();
        assert_eq!(verdicts, [Verdict::UnreportedOk, Verdict::SilentLoss]);
        assert!(b[1].rows.iter().all(|r| r.shares.len() == 5));
        assert!(
            b[1].rows[1].note.ends_with("in 5 of 5"),
            "{}",
            b[1].rows[1].note
        );
    }

    #[test]
    fn the_chart_draws_any_number_of_experiments() {
        let cap = Caption::default();
        for results in [repeated(5), repeated(1), Vec::new()] {
            let png = spread_png(&results, &cap).unwrap();
            assert_eq!(&png[1..4], b"PNG");
        }
        let mut empty = synthetic("none", "async", 0);
        empty.repetitions = 2;
        assert!(spread_png(&[empty], &cap).is_ok());
    }

    #[test]
    #[ignore = "draws target/spread-example.png for a human to look at"]
    fn render_example() {
        let png = spread_png(&repeated(5), &Caption::default()).unwrap();
        std::fs::write("target/spread-example.png", png).unwrap();
    }
}
