//! `comparison.png`: what each experiment of a run delivered. One row per
//! experiment: on the left its full name, and its mode and fault with the
//! fault's parameters; on the right a bar of the records it sent, split by
//! verdict — found in the topic first, then missing — with the counts
//! written in the segments (or beside the bar when a segment is too narrow).
//!
//! Rows rather than columns, so that the chart stays readable with the
//! whole matrix: a row's label has the whole width it needs (the canvas
//! grows with the longest label, and with the number of experiments), and a
//! bar is as thick with 30 experiments as with 3. Bars show shares of the
//! records sent, so experiments of 100 and of 10,000 records compare at a
//! glance; the counts are written on them.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{
    anchored, bold, chart_err, draw_empty_note, draw_legend, ensure_fonts, fmt_num, font, layout,
    render_png_sized, short_meaning, style, text_size, Area, Caption, LegendItem, Swatch,
};
use crate::model::result::ExperimentResult;
use crate::model::verdict::Verdict;
use crate::report::ReportError;

/// The verdicts in the order of a bar: found in the topic first
/// (`ok`, `unreported_ok`, `recovered`), then missing.
pub const BAR_ORDER: [Verdict; 6] = [
    Verdict::Ok,
    Verdict::UnreportedOk,
    Verdict::Recovered,
    Verdict::ReportedLoss,
    Verdict::SilentLoss,
    Verdict::Lost,
];

/// Height of a row, and of its bar, in pixels.
const ROW_H: u32 = 46;
const BAR_H: u32 = 26;
/// Space between the columns (labels, bars, notes) and at the edges.
const PAD: u32 = 14;
/// A bar of 100 % is never narrower than this.
const MIN_BAR: u32 = 480;
/// Bands above and below the rows for the percentage axis.
const AXIS_TOP: u32 = 26;
const AXIS_BOTTOM: u32 = 48;
/// Tall enough for the legend, even with one experiment.
const MIN_HEIGHT: u32 = 460;
/// A segment of a non-zero count is at least this wide.
const MIN_SEGMENT: u32 = 3;
/// The swatch in front of a count written beside a bar.
const SWATCH: u32 = 10;
/// Space between two notes beside a bar.
const NOTE_GAP: u32 = 12;

fn name_style() -> TextStyle<'static> {
    bold(style::LABEL_SIZE)
}

fn detail_style() -> TextStyle<'static> {
    font(style::FOOTER_SIZE).color(&style::MUTED)
}

fn value_style() -> TextStyle<'static> {
    font(style::VALUE_SIZE)
}

/// The two lines on the left of a row: the experiment's name (with its
/// repetition, `sync r2`, when repeated), then its mode and its fault with
/// the fault's parameters.
pub fn row_labels(r: &ExperimentResult) -> (String, String) {
    (r.label(), format!("{} · {}", r.mode, r.fault_label()))
}

/// One verdict's part of a bar, in pixels from the bar's left end.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    verdict: Verdict,
    count: u64,
    x0: u32,
    x1: u32,
    /// The count is written inside the segment (else beside the bar).
    inside: bool,
}

/// Something written right of a bar.
#[derive(Debug, Clone, PartialEq)]
enum Note {
    Text(String),
    /// A count too wide for its segment, behind a swatch of its colour.
    Count(Verdict, String),
}

/// The geometry of the chart, measured with the font it is drawn in. The
/// label column is as wide as the widest label: labels are never shortened.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonLayout {
    /// The canvas, in pixels.
    pub size: (u32, u32),
    /// The label column's width.
    pub label_px: u32,
    /// The widest label (a name or a mode-and-fault line), measured.
    pub widest_label_px: u32,
    /// Where bars start, from the canvas' left edge, and how wide 100 % is.
    pub bar_x: u32,
    pub bar_px: u32,
    /// The column right of the bars, for what does not fit in them.
    pub note_px: u32,
    segments: Vec<Vec<Segment>>,
    notes: Vec<Vec<Note>>,
}

fn width_of(text: &str, s: &TextStyle<'_>) -> Result<u32, ReportError> {
    text_size(text, s).map(|(w, _)| w)
}

/// Splits the bar of `r` (100 % = `bar_px`) into its verdicts' segments.
fn segments(r: &ExperimentResult, bar_px: u32) -> Result<Vec<Segment>, ReportError> {
    ensure_fonts()?;
    let c = &r.verification.counts;
    let counts: Vec<(Verdict, u64)> = BAR_ORDER
        .iter()
        .map(|v| (*v, c.verdict(*v)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let total = counts.iter().map(|(_, n)| n).sum::<u64>().max(c.sent);
    if total == 0 {
        return Ok(Vec::new());
    }
    let mut widths: Vec<u32> = counts
        .iter()
        .map(|(_, n)| ((*n as f64 / total as f64) * f64::from(bar_px)).round() as u32)
        .map(|w| w.max(MIN_SEGMENT))
        .collect();
    // Minimum widths may push the bar past 100 %: take it from the widest.
    let mut excess = widths.iter().sum::<u32>().saturating_sub(bar_px);
    while excess > 0 {
        let Some(widest) = (0..widths.len()).max_by_key(|&i| widths[i]) else {
            break;
        };
        let take = excess.min(widths[widest].saturating_sub(MIN_SEGMENT));
        if take == 0 {
            break;
        }
        widths[widest] -= take;
        excess -= take;
    }
    let vs = value_style();
    let mut x = 0;
    let mut out = Vec::with_capacity(counts.len());
    for ((verdict, count), w) in counts.into_iter().zip(widths) {
        let text_w = width_of(&fmt_num(count as f64), &vs)?;
        out.push(Segment {
            verdict,
            count,
            x0: x,
            x1: x + w,
            inside: text_w + 6 <= w,
        });
        x += w;
    }
    Ok(out)
}

/// What is written right of the bar of `r`: the records sent, the counts
/// that did not fit in their segments, duplicates and unexpected records.
fn notes(r: &ExperimentResult, segments: &[Segment]) -> Vec<Note> {
    let c = &r.verification.counts;
    let mut notes = vec![Note::Text(format!("{} sent", fmt_num(c.sent as f64)))];
    for s in segments.iter().filter(|s| !s.inside) {
        notes.push(Note::Count(
            s.verdict,
            format!("{} {}", fmt_num(s.count as f64), s.verdict.as_str()),
        ));
    }
    let plural = |n: u64, one: &str, many: &str| {
        format!("+{} {}", fmt_num(n as f64), if n == 1 { one } else { many })
    };
    if c.duplicates > 0 {
        notes.push(Note::Text(plural(c.duplicates, "duplicate", "duplicates")));
    }
    if c.unexpected > 0 {
        notes.push(Note::Text(plural(c.unexpected, "unexpected", "unexpected")));
    }
    notes
}

fn notes_width(notes: &[Note]) -> Result<u32, ReportError> {
    ensure_fonts()?;
    let ls = value_style();
    let mut w = 0;
    for (i, n) in notes.iter().enumerate() {
        if i > 0 {
            w += NOTE_GAP;
        }
        w += match n {
            Note::Text(t) => width_of(t, &ls)?,
            Note::Count(_, t) => SWATCH + 4 + width_of(t, &ls)?,
        };
    }
    Ok(w)
}

/// Measures every label and note of `results` and lays the chart out: the
/// label column fits the widest label, bars are at least `MIN_BAR` wide,
/// the canvas grows to hold both, and grows in height with the rows.
pub fn comparison_layout(results: &[ExperimentResult]) -> Result<ComparisonLayout, ReportError> {
    ensure_fonts()?;
    let (ns, ds) = (name_style(), detail_style());
    let mut widest_label_px = 0;
    for r in results {
        let (name, detail) = row_labels(r);
        widest_label_px = widest_label_px
            .max(width_of(&name, &ns)?)
            .max(width_of(&detail, &ds)?);
    }
    let label_px = widest_label_px.max(120);
    let bar_x = PAD + label_px + PAD;
    let base_width = style::SIZE.0;
    // The notes' column depends on the bars' width (narrow segments send
    // their counts there), and the bars' on the notes': settle it.
    let mut note_px = 0;
    let mut laid = Vec::new();
    let mut bar_px = MIN_BAR;
    for _ in 0..8 {
        let fixed = bar_x + PAD + note_px + PAD + style::LEGEND_WIDTH;
        bar_px = base_width.saturating_sub(fixed).max(MIN_BAR);
        laid = results
            .iter()
            .map(|r| {
                let s = segments(r, bar_px)?;
                let n = notes(r, &s);
                Ok((s, n))
            })
            .collect::<Result<Vec<_>, ReportError>>()?;
        let needed = laid
            .iter()
            .map(|(_, n)| notes_width(n))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .max()
            .unwrap_or(0);
        if needed <= note_px {
            break;
        }
        note_px = needed;
    }
    let width = (bar_x + bar_px + PAD + note_px + PAD + style::LEGEND_WIDTH).max(base_width);
    let rows = results.len() as u32;
    let height =
        (style::TITLE_HEIGHT + style::FOOTER_HEIGHT + AXIS_TOP + rows * ROW_H + AXIS_BOTTOM + PAD)
            .max(MIN_HEIGHT);
    let (segments, notes) = laid.into_iter().unzip();
    Ok(ComparisonLayout {
        size: (width, height),
        label_px,
        widest_label_px,
        bar_x,
        bar_px,
        note_px,
        segments,
        notes,
    })
}

/// `comparison.png`: for each experiment, a row with its name, mode and
/// fault, and a bar of its records split by verdict.
pub fn comparison_png(
    results: &[ExperimentResult],
    caption: &Caption,
) -> Result<Vec<u8>, ReportError> {
    let l = comparison_layout(results)?;
    render_png_sized("comparison", l.size, |root| {
        draw_comparison(root, results, &l, caption)
    })
}

fn draw_comparison(
    root: &Area<'_>,
    results: &[ExperimentResult],
    geo: &ComparisonLayout,
    caption: &Caption,
) -> Result<(), ReportError> {
    let mut faults: Vec<String> = results.iter().map(ExperimentResult::fault_label).collect();
    faults.sort_unstable();
    faults.dedup();
    let subtitle = match (results.len(), faults.as_slice()) {
        (0, _) => String::new(),
        (n, [one]) if n > 1 => {
            format!("share of the records sent, by verdict · {n} experiments · fault: {one}")
        }
        (n, _) => format!(
            "share of the records sent, by verdict · {n} experiment{}",
            if n == 1 { "" } else { "s" }
        ),
    };
    let l = layout(root, "What each mode delivered", &subtitle, caption)?;
    let mut legend: Vec<LegendItem> = BAR_ORDER
        .iter()
        .map(|v| LegendItem {
            swatch: Swatch::Bar(style::verdict(*v).to_rgba()),
            label: v.as_str().to_string(),
            note: short_meaning(*v).to_string(),
        })
        .collect();
    legend.push(LegendItem {
        swatch: Swatch::None,
        label: "found first, then missing".into(),
        note: "counts beside a bar: too narrow".into(),
    });
    draw_legend(&l.legend, "verdict", &legend)?;
    if results.is_empty() {
        return draw_empty_note(&l.plot, "no finished experiments yet");
    }
    draw_axis(&l.plot, geo, results.len())?;
    for (i, r) in results.iter().enumerate() {
        draw_row(&l.plot, geo, i, r)?;
    }
    Ok(())
}

/// The top of row `i`, in the plot's pixels.
fn row_top(i: usize) -> i32 {
    (AXIS_TOP + i as u32 * ROW_H) as i32
}

/// Zebra rows, the percentage grid, and its labels above and below.
fn draw_axis(plot: &Area<'_>, geo: &ComparisonLayout, rows: usize) -> Result<(), ReportError> {
    let (w, _) = plot.dim_in_pixel();
    let bottom = row_top(rows);
    for i in (0..rows).step_by(2) {
        plot.draw(&Rectangle::new(
            [(0, row_top(i)), (w as i32, row_top(i + 1))],
            RGBColor(247, 247, 247).filled(),
        ))
        .map_err(chart_err)?;
    }
    let top_label = anchored(font(style::LABEL_SIZE), HPos::Center, VPos::Bottom);
    let bottom_label = anchored(font(style::LABEL_SIZE), HPos::Center, VPos::Top);
    for q in 0..=4 {
        let x = (geo.bar_x + geo.bar_px * q / 4) as i32;
        plot.draw(&PathElement::new(
            vec![(x, row_top(0) - 3), (x, bottom + 3)],
            style::GRID.stroke_width(1),
        ))
        .map_err(chart_err)?;
        let text = format!("{}%", q * 25);
        plot.draw(&Text::new(
            text.clone(),
            (x, row_top(0) - 5),
            top_label.clone(),
        ))
        .map_err(chart_err)?;
        plot.draw(&Text::new(text, (x, bottom + 6), bottom_label.clone()))
            .map_err(chart_err)?;
    }
    let desc = anchored(font(style::AXIS_DESC_SIZE), HPos::Center, VPos::Top);
    plot.draw(&Text::new(
        "share of the records sent".to_string(),
        ((geo.bar_x + geo.bar_px / 2) as i32, bottom + 24),
        desc,
    ))
    .map_err(chart_err)
}

/// Black on light colours, white on dark ones.
fn text_on(c: RGBColor) -> &'static RGBColor {
    let luma = 0.299 * f64::from(c.0) + 0.587 * f64::from(c.1) + 0.114 * f64::from(c.2);
    if luma > 150.0 {
        &style::TEXT
    } else {
        &WHITE
    }
}

fn draw_row(
    plot: &Area<'_>,
    geo: &ComparisonLayout,
    i: usize,
    r: &ExperimentResult,
) -> Result<(), ReportError> {
    let y0 = row_top(i);
    let (name, detail) = row_labels(r);
    // Full length: the column was measured to hold it.
    plot.draw(&Text::new(
        name,
        (PAD as i32, y0 + 6),
        anchored(name_style(), HPos::Left, VPos::Top),
    ))
    .map_err(chart_err)?;
    plot.draw(&Text::new(
        detail,
        (PAD as i32, y0 + 26),
        anchored(detail_style(), HPos::Left, VPos::Top),
    ))
    .map_err(chart_err)?;

    let bar_top = y0 + ((ROW_H - BAR_H) / 2) as i32;
    let bar_mid = bar_top + (BAR_H / 2) as i32;
    let x = geo.bar_x as i32;
    let segments = geo.segments.get(i).map_or(&[][..], Vec::as_slice);
    if segments.is_empty() {
        plot.draw(&Text::new(
            "no records".to_string(),
            (x + 4, bar_mid),
            anchored(detail_style(), HPos::Left, VPos::Center),
        ))
        .map_err(chart_err)?;
    }
    for s in segments {
        let colour = style::verdict(s.verdict);
        let (a, b) = (x + s.x0 as i32, x + s.x1 as i32);
        plot.draw(&Rectangle::new(
            [(a, bar_top), (b, bar_top + BAR_H as i32)],
            colour.filled(),
        ))
        .map_err(chart_err)?;
        if s.inside {
            let vs = value_style().color(text_on(colour));
            plot.draw(&Text::new(
                fmt_num(s.count as f64),
                ((a + b) / 2, bar_mid),
                anchored(vs, HPos::Center, VPos::Center),
            ))
            .map_err(chart_err)?;
        }
    }

    // Beside the bar: what did not fit in it.
    let mut nx = (geo.bar_x + geo.bar_px + PAD) as i32;
    let ls = anchored(value_style(), HPos::Left, VPos::Center);
    for n in geo.notes.get(i).map_or(&[][..], Vec::as_slice) {
        let text = match n {
            Note::Text(t) => t,
            Note::Count(v, t) => {
                let half = (SWATCH / 2) as i32;
                plot.draw(&Rectangle::new(
                    [(nx, bar_mid - half), (nx + SWATCH as i32, bar_mid + half)],
                    style::verdict(*v).filled(),
                ))
                .map_err(chart_err)?;
                nx += (SWATCH + 4) as i32;
                t
            }
        };
        plot.draw(&Text::new(text.clone(), (nx, bar_mid), ls.clone()))
            .map_err(chart_err)?;
        nx += width_of(text, &ls)? as i32 + NOTE_GAP as i32;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::tests::{sample_meta, synthetic};

    /// Width and height from a PNG's header.
    fn png_size(png: &[u8]) -> (u32, u32) {
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        (be(&png[16..20]), be(&png[20..24]))
    }

    /// Thirty experiments with the matrix's longest kinds of names.
    pub(crate) fn thirty() -> Vec<ExperimentResult> {
        let names = [
            "fire-and-forget",
            "sync",
            "async",
            "async-with-error",
            "compare-fire-and-forget",
            "compare-sync",
            "compare-async",
            "compare-idempotent",
            "compare-async-acks0",
            "compare-async-acks1",
            "transactional",
            "transactional-abort",
            "async-network-cut",
            "fire-and-forget-network-cut",
            "sync-latency",
            "async-pause",
            "async-clean-bounce",
            "async-hard-bounce",
            "python-fire-and-forget",
            "python-sync",
            "python-async",
            "python-async-with-error",
            "cluster-async-leader-hard-shutdown-min-isr-2",
            "cluster-acks1-leader-killed-before-followers-copy",
            "cluster-unclean-leader-election-stale-replica",
            "cluster-power-loss-lazyfs-all-replicas-at-once",
            "faults-pause-until-producer-ends",
            "faults-latency-300ms-each-way",
            "idempotent-transactional-mixed-partitions-12",
            "a-user-experiment-with-a-rather-long-descriptive-name-v2",
        ];
        let modes = ["fire-and-forget", "sync", "async", "async-acks1"];
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut r = synthetic(n, modes[i % 4], 100 + 37 * i as u64);
                if n.starts_with("python-") {
                    r.mode = format!("kafka-python/{}", modes[i % 4]);
                }
                r.faults[0].kind = "hard_shutdown".into();
                r.faults[0].downtime_s = Some(10.0);
                r
            })
            .collect()
    }

    #[test]
    fn thirty_experiments_keep_their_labels_whole() {
        let results = thirty();
        let l = comparison_layout(&results).unwrap();
        // Every label, measured on its own with the chart's font, fits the
        // label column, and the bars start after it.
        let (ns, ds) = (name_style(), detail_style());
        for r in &results {
            let (name, detail) = row_labels(r);
            assert!(detail.contains("hard_shutdown, 10s down"), "{detail}");
            for (text, s) in [(&name, &ns), (&detail, &ds)] {
                let (w, _) = text_size(text, s).unwrap();
                assert!(w > 0, "{text}");
                assert!(w <= l.label_px, "{text}: {w} px > column {}", l.label_px);
            }
        }
        assert!(l.widest_label_px <= l.label_px);
        assert!(l.bar_x >= PAD + l.label_px, "{l:?}");
        assert!(l.bar_px >= MIN_BAR, "{l:?}");
        // The canvas holds labels, bars, notes and the legend, and a row
        // per experiment at full height.
        assert!(
            l.size.0 >= l.bar_x + l.bar_px + l.note_px + style::LEGEND_WIDTH,
            "{l:?}"
        );
        assert!(
            l.size.1 >= style::TITLE_HEIGHT + style::FOOTER_HEIGHT + 30 * ROW_H,
            "{l:?}"
        );
        // Every note beside a bar fits its column.
        for n in &l.notes {
            assert!(notes_width(n).unwrap() <= l.note_px, "{n:?}");
        }
        // The PNG is drawn at that size.
        let png = comparison_png(&results, &Caption::for_run(&sample_meta())).unwrap();
        assert_eq!(png_size(&png), l.size);
    }

    #[test]
    fn a_name_of_any_length_widens_the_canvas() {
        let mut r = synthetic("x", "async", 100);
        r.name = "an-experiment-name-far-longer-than-any-sensible-one-".repeat(3);
        let l = comparison_layout(std::slice::from_ref(&r)).unwrap();
        let (w, _) = text_size(&r.name, &name_style()).unwrap();
        assert!(w <= l.label_px);
        assert!(l.size.0 > style::SIZE.0, "{l:?}");
        assert!(l.bar_px >= MIN_BAR);
    }

    #[test]
    fn segments_add_up_and_small_counts_stay_visible() {
        let mut r = synthetic("s", "sync", 1000);
        let c = &mut r.verification.counts;
        (c.sent, c.ok, c.recovered, c.reported_loss, c.lost) = (1000, 997, 1, 1, 1);
        (c.unreported_ok, c.silent_loss) = (0, 0);
        let s = segments(&r, 500).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s.last().unwrap().x1, 500, "{s:?}");
        assert!(s.iter().all(|s| s.x1 - s.x0 >= MIN_SEGMENT), "{s:?}");
        assert!(s[0].inside && !s[1].inside, "{s:?}");
        // The narrow ones are written beside the bar.
        let n = notes(&r, &s);
        assert_eq!(n[0], Note::Text("1,000 sent".into()));
        assert!(
            n.contains(&Note::Count(Verdict::Lost, "1 lost".into())),
            "{n:?}"
        );
        // No records: no segments.
        r.verification.counts = Default::default();
        assert!(segments(&r, 500).unwrap().is_empty());
    }
}
