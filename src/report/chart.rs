//! PNG charts, drawn with plotters.
//!
//! Each chart is a pure function returning PNG bytes. Sizes, fonts and
//! colours are defined once, in [`style`]. Charts never panic on odd data
//! (no experiments, no records, all times zero): degenerate ranges are
//! padded and empty charts say why they are empty.
//!
//! Text uses the DejaVu Sans font embedded in the binary (registered once
//! with plotters' `ab_glyph` backend), so no system font is needed.
//! plotters' bitmap backend encodes PNG only to a path, so a chart is drawn
//! to a file in a private temporary folder and read back.

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use super::{join_records, ReportError};
use crate::model::ledger::Told;
use crate::model::result::{ExperimentResult, FaultWindow, RunMeta};
use crate::model::verdict::{Verdict, VerdictCounts};

/// Sizes, fonts and colours shared by every chart.
pub mod style {
    use plotters::style::{RGBAColor, RGBColor};

    use crate::model::verdict::Verdict;

    /// Width and height of every chart, in pixels.
    pub const SIZE: (u32, u32) = (1200, 700);
    /// Width of the legend column on the right.
    pub const LEGEND_WIDTH: u32 = 220;
    pub const TITLE_HEIGHT: u32 = 62;
    pub const FOOTER_HEIGHT: u32 = 26;

    pub const FONT: &str = "sans-serif";
    pub const TITLE_SIZE: f64 = 26.0;
    pub const SUBTITLE_SIZE: f64 = 15.0;
    pub const AXIS_DESC_SIZE: f64 = 17.0;
    pub const LABEL_SIZE: f64 = 14.0;
    pub const LEGEND_SIZE: f64 = 15.0;
    pub const VALUE_SIZE: f64 = 12.0;
    pub const FOOTER_SIZE: f64 = 12.0;

    pub const TEXT: RGBColor = RGBColor(34, 34, 34);
    pub const MUTED: RGBColor = RGBColor(110, 110, 110);
    pub const WARNING: RGBColor = RGBColor(190, 30, 30);
    pub const GRID: RGBColor = RGBColor(230, 230, 230);

    // Series of the comparison chart (and the same facts elsewhere).
    pub const SENT: RGBColor = RGBColor(121, 112, 110);
    pub const ACKED: RGBColor = RGBColor(78, 121, 167);
    pub const FAILED: RGBColor = RGBColor(242, 142, 43);
    pub const UNREPORTED: RGBColor = RGBColor(186, 176, 172);
    pub const PERSISTED: RGBColor = RGBColor(89, 161, 79);

    // Verdicts.
    pub const OK: RGBColor = RGBColor(89, 161, 79);
    pub const LOST: RGBColor = RGBColor(214, 39, 40);
    pub const RECOVERED: RGBColor = RGBColor(118, 183, 178);
    pub const REPORTED_LOSS: RGBColor = RGBColor(237, 201, 72);
    pub const UNREPORTED_OK: RGBColor = RGBColor(161, 206, 150);
    pub const SILENT_LOSS: RGBColor = RGBColor(106, 61, 154);

    /// Shading of a fault window.
    pub const FAULT_SHADE: RGBAColor = RGBAColor(120, 120, 120, 0.16);
    pub const FAULT_EDGE: RGBColor = RGBColor(90, 90, 90);

    pub fn verdict(v: Verdict) -> RGBColor {
        match v {
            Verdict::Ok => OK,
            Verdict::Lost => LOST,
            Verdict::Recovered => RECOVERED,
            Verdict::ReportedLoss => REPORTED_LOSS,
            Verdict::UnreportedOk => UNREPORTED_OK,
            Verdict::SilentLoss => SILENT_LOSS,
        }
    }
}

/// The footer line of a chart: the run's facts, or a warning when the
/// results come from librdkafka's mock cluster rather than a real broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caption {
    pub text: String,
    /// Drawn in red (the mock backend).
    pub warn: bool,
}

impl Caption {
    pub fn for_run(meta: &RunMeta) -> Caption {
        let mock = meta.backend == "mock";
        let broker = if mock {
            "librdkafka MOCK cluster: a test of the harness, not a real Kafka broker".to_string()
        } else {
            format!(
                "Kafka {} ({}: {})",
                meta.kafka_version, meta.backend, meta.broker_source
            )
        };
        Caption {
            text: format!(
                "run {} · {} · librdkafka {} · kafka-chaos {}",
                meta.run_id, broker, meta.librdkafka_version, meta.harness_version
            ),
            warn: mock,
        }
    }
}

/// A series of the comparison chart.
struct Series {
    name: &'static str,
    colour: RGBColor,
    value: fn(&VerdictCounts) -> u64,
}

const COMPARISON_SERIES: [Series; 9] = [
    Series {
        name: "sent",
        colour: style::SENT,
        value: |c| c.sent,
    },
    Series {
        name: "acked",
        colour: style::ACKED,
        value: |c| c.acked,
    },
    Series {
        name: "failed",
        colour: style::FAILED,
        value: |c| c.failed,
    },
    Series {
        name: "unreported",
        colour: style::UNREPORTED,
        value: |c| c.unreported,
    },
    Series {
        name: "persisted",
        colour: style::PERSISTED,
        value: |c| c.persisted,
    },
    Series {
        name: "lost",
        colour: style::LOST,
        value: |c| c.lost,
    },
    Series {
        name: "silent_loss",
        colour: style::SILENT_LOSS,
        value: |c| c.silent_loss,
    },
    Series {
        name: "recovered",
        colour: style::RECOVERED,
        value: |c| c.recovered,
    },
    Series {
        name: "reported_loss",
        colour: style::REPORTED_LOSS,
        value: |c| c.reported_loss,
    },
];

/// Legend explanations of the comparison series.
fn series_note(name: &str) -> &'static str {
    match name {
        "sent" => "records the app sent",
        "acked" => "app told: success",
        "failed" => "app told: error",
        "unreported" => "app told nothing",
        "persisted" => "found in the topic",
        "lost" => "acked, then missing",
        "silent_loss" => "untold, and missing",
        "recovered" => "failed, yet written",
        "reported_loss" => "failed, and missing",
        _ => "",
    }
}

/// Verdicts from the least to the most alarming: breaks ties in the drawing
/// order of the timeline (drawn last = on top).
const VERDICT_DRAW_ORDER: [Verdict; 6] = [
    Verdict::Ok,
    Verdict::UnreportedOk,
    Verdict::Recovered,
    Verdict::ReportedLoss,
    Verdict::SilentLoss,
    Verdict::Lost,
];

pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

pub(crate) fn font(size: f64) -> TextStyle<'static> {
    (style::FONT, size).into_font().color(&style::TEXT)
}

pub(crate) fn bold(size: f64) -> TextStyle<'static> {
    (style::FONT, size, FontStyle::Bold)
        .into_font()
        .color(&style::TEXT)
}

pub(crate) fn anchored(s: TextStyle<'static>, h: HPos, v: VPos) -> TextStyle<'static> {
    s.pos(Pos::new(h, v))
}

pub(crate) fn chart_err<E: std::fmt::Display>(e: E) -> ReportError {
    ReportError::Chart(e.to_string())
}

/// Registers the embedded fonts with plotters, once per process.
fn ensure_fonts() -> Result<(), ReportError> {
    static FONTS: OnceLock<Result<(), String>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            plotters::style::register_font(style::FONT, FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "cannot load the embedded DejaVu Sans font".to_string())?;
            plotters::style::register_font(style::FONT, FontStyle::Bold, dejavu::sans::bold())
                .map_err(|_| "cannot load the embedded DejaVu Sans Bold font".to_string())
        })
        .clone()
        .map_err(ReportError::Chart)
}

/// Draws a chart with `draw` on a white canvas of [`style::SIZE`] and
/// returns it as PNG bytes. A panic inside plotters becomes an error.
pub(crate) fn render_png<F>(what: &str, draw: F) -> Result<Vec<u8>, ReportError>
where
    F: FnOnce(&Area<'_>) -> Result<(), ReportError>,
{
    ensure_fonts()?;
    let dir = tempfile::Builder::new()
        .prefix("kafka-chaos-chart")
        .tempdir()
        .map_err(ReportError::io(std::env::temp_dir()))?;
    let path = dir.path().join("chart.png");
    let drawn = catch_unwind(AssertUnwindSafe(|| -> Result<(), ReportError> {
        let root = BitMapBackend::new(&path, style::SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        draw(&root)?;
        root.present().map_err(chart_err)
    }));
    match drawn {
        Ok(Ok(())) => {}
        Ok(Err(ReportError::Chart(m))) => return Err(ReportError::Chart(format!("{what}: {m}"))),
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(ReportError::Chart(format!(
                "{what}: the plotting library panicked"
            )))
        }
    }
    std::fs::read(&path).map_err(ReportError::io(&path))
}

/// The regions of a chart: title, plot, legend column, footer.
pub(crate) struct Layout<'a> {
    pub(crate) plot: Area<'a>,
    pub(crate) legend: Area<'a>,
}

pub(crate) fn layout<'a>(
    root: &Area<'a>,
    title: &str,
    subtitle: &str,
    caption: &Caption,
) -> Result<Layout<'a>, ReportError> {
    let (w, h) = root.dim_in_pixel();
    let (top, rest) = root.split_vertically(style::TITLE_HEIGHT);
    let (body, footer) =
        rest.split_vertically(h.saturating_sub(style::TITLE_HEIGHT + style::FOOTER_HEIGHT));
    let (plot, legend) = body.split_horizontally(w.saturating_sub(style::LEGEND_WIDTH));

    let title_style = anchored(bold(style::TITLE_SIZE), HPos::Center, VPos::Top);
    top.draw(&Text::new(
        fit(&top, title, &title_style, w as i32 - 20),
        ((w / 2) as i32, 8),
        title_style.clone(),
    ))
    .map_err(chart_err)?;
    if !subtitle.is_empty() {
        let sub = anchored(
            font(style::SUBTITLE_SIZE).color(&style::MUTED),
            HPos::Center,
            VPos::Top,
        );
        top.draw(&Text::new(
            fit(&top, subtitle, &sub, w as i32 - 20),
            ((w / 2) as i32, 40),
            sub.clone(),
        ))
        .map_err(chart_err)?;
    }
    if !caption.text.is_empty() {
        let colour: &'static RGBColor = if caption.warn {
            &style::WARNING
        } else {
            &style::MUTED
        };
        let cap = anchored(
            font(style::FOOTER_SIZE).color(colour),
            HPos::Left,
            VPos::Center,
        );
        footer
            .draw(&Text::new(
                fit(&footer, &caption.text, &cap, w as i32 - 20),
                (10, (style::FOOTER_HEIGHT / 2) as i32),
                cap.clone(),
            ))
            .map_err(chart_err)?;
    }
    Ok(Layout { plot, legend })
}

/// `text`, shortened with an ellipsis until it is at most `max_px` wide.
pub(crate) fn fit(area: &Area<'_>, text: &str, style: &TextStyle<'_>, max_px: i32) -> String {
    let width = |s: &str| {
        area.estimate_text_size(s, style)
            .map(|(w, _)| w as i32)
            .unwrap_or(i32::MAX)
    };
    if width(text) <= max_px {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut n = chars.len();
    while n > 0 {
        n -= 1;
        let s: String = chars[..n].iter().collect::<String>() + "…";
        if width(&s) <= max_px {
            return s;
        }
    }
    String::new()
}

/// One line of a legend.
pub(crate) enum Swatch {
    Bar(RGBAColor),
    Dot(RGBAColor),
    Shade,
    /// Text only (a note under the legend).
    None,
}

pub(crate) struct LegendItem {
    pub(crate) swatch: Swatch,
    pub(crate) label: String,
    pub(crate) note: String,
}

pub(crate) fn draw_legend(
    area: &Area<'_>,
    heading: &str,
    items: &[LegendItem],
) -> Result<(), ReportError> {
    let x0 = 12;
    let mut y = 24;
    let head = anchored(bold(style::LEGEND_SIZE), HPos::Left, VPos::Center);
    area.draw(&Text::new(heading.to_string(), (x0, y), head))
        .map_err(chart_err)?;
    y += 28;
    let label = anchored(font(style::LEGEND_SIZE), HPos::Left, VPos::Center);
    let note = anchored(
        font(style::FOOTER_SIZE).color(&style::MUTED),
        HPos::Left,
        VPos::Center,
    );
    let max_w = style::LEGEND_WIDTH as i32 - x0 - 30;
    for item in items {
        let tx = match &item.swatch {
            Swatch::Bar(c) => {
                area.draw(&Rectangle::new([(x0, y - 7), (x0 + 16, y + 7)], c.filled()))
                    .map_err(chart_err)?;
                x0 + 24
            }
            Swatch::Dot(c) => {
                area.draw(&Circle::new((x0 + 8, y), 6, c.filled()))
                    .map_err(chart_err)?;
                x0 + 24
            }
            Swatch::Shade => {
                area.draw(&Rectangle::new(
                    [(x0, y - 8), (x0 + 16, y + 8)],
                    style::FAULT_SHADE.filled(),
                ))
                .map_err(chart_err)?;
                area.draw(&PathElement::new(
                    vec![(x0, y - 8), (x0, y + 8)],
                    style::FAULT_EDGE.stroke_width(2),
                ))
                .map_err(chart_err)?;
                x0 + 24
            }
            Swatch::None => x0,
        };
        area.draw(&Text::new(
            fit(area, &item.label, &label, max_w),
            (tx, y),
            label.clone(),
        ))
        .map_err(chart_err)?;
        if item.note.is_empty() {
            y += 26;
        } else {
            area.draw(&Text::new(
                fit(area, &item.note, &note, max_w),
                (tx, y + 17),
                note.clone(),
            ))
            .map_err(chart_err)?;
            y += 42;
        }
    }
    Ok(())
}

/// A message in the middle of an empty plot.
pub(crate) fn draw_empty_note(area: &Area<'_>, text: &str) -> Result<(), ReportError> {
    let (w, h) = area.dim_in_pixel();
    let s = anchored(font(20.0).color(&style::MUTED), HPos::Center, VPos::Center);
    area.draw(&Text::new(
        text.to_string(),
        ((w / 2) as i32, (h / 2) as i32),
        s,
    ))
    .map_err(chart_err)
}

/// Numbers on axes: integers with thousands separators, else a few decimals.
pub(crate) fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let a = v.abs();
    if (v - v.round()).abs() < 1e-9 && a < 1e15 {
        return group_thousands(v.round() as i64);
    }
    let s = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A finite, non-empty range: NaNs dropped, a degenerate range widened.
fn padded(lo: f64, hi: f64, min_span: f64) -> Range<f64> {
    let (lo, hi) = match (lo.is_finite(), hi.is_finite()) {
        (true, true) => (lo.min(hi), lo.max(hi)),
        (true, false) => (lo, lo),
        (false, true) => (hi, hi),
        (false, false) => (0.0, 0.0),
    };
    if hi - lo < min_span {
        lo..lo + min_span
    } else {
        lo..hi
    }
}

// ---------------------------------------------------------------------------
// 1. Comparison of modes
// ---------------------------------------------------------------------------

/// `comparison.png`: for each experiment, grouped bars of sent, acked,
/// failed, unreported, persisted, lost, silent loss, recovered and reported
/// loss.
pub fn comparison_png(
    results: &[ExperimentResult],
    caption: &Caption,
) -> Result<Vec<u8>, ReportError> {
    render_png("comparison", |root| draw_comparison(root, results, caption))
}

fn draw_comparison(
    root: &Area<'_>,
    results: &[ExperimentResult],
    caption: &Caption,
) -> Result<(), ReportError> {
    let faults: Vec<&str> = {
        let mut f: Vec<&str> = results.iter().map(|r| r.fault.as_str()).collect();
        f.sort_unstable();
        f.dedup();
        f
    };
    let subtitle = match faults.as_slice() {
        [] => String::new(),
        [one] => format!("records per experiment · fault: {one}"),
        _ => "records per experiment".to_string(),
    };
    let l = layout(root, "What each mode delivered", &subtitle, caption)?;
    let legend: Vec<LegendItem> = COMPARISON_SERIES
        .iter()
        .map(|s| LegendItem {
            swatch: Swatch::Bar(s.colour.to_rgba()),
            label: s.name.to_string(),
            note: series_note(s.name).to_string(),
        })
        .collect();
    draw_legend(&l.legend, "records", &legend)?;

    let n = results.len().max(1);
    let max = results
        .iter()
        .flat_map(|r| {
            COMPARISON_SERIES
                .iter()
                .map(|s| (s.value)(&r.verification.counts))
        })
        .max()
        .unwrap_or(0) as f64;

    // Value labels sit above the bars: leave room for them.
    let (pw, ph) = l.plot.dim_in_pixel();
    const X_LABEL_AREA: u32 = 56;
    const MARGIN: u32 = 12;
    let plot_h = ph.saturating_sub(X_LABEL_AREA + 2 * MARGIN).max(1) as f64;
    let plot_w = pw.saturating_sub(80 + 2 * MARGIN).max(1) as f64;
    let slots = (COMPARISON_SERIES.len() + 2) as f64; // bars plus a gap
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
    let headroom = (label_px / plot_h).min(0.5);
    let y_top = max.max(5.0) * 1.04 / (1.0 - headroom);

    let mut chart = ChartBuilder::on(&l.plot)
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..n as f64, 0.0..y_top)
        .map_err(chart_err)?;
    chart
        .configure_mesh()
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

    if results.is_empty() {
        return draw_empty_note(&l.plot, "no finished experiments yet");
    }

    let bar_w = 1.0 / slots;
    let min_bar = y_top * 3.0 / plot_h;
    for (i, r) in results.iter().enumerate() {
        let c = &r.verification.counts;
        for (j, s) in COMPARISON_SERIES.iter().enumerate() {
            let x0 = i as f64 + bar_w * (1.0 + j as f64);
            let x1 = x0 + bar_w * 0.9;
            let v = (s.value)(c) as f64;
            // A count of 1 among thousands still shows as a sliver.
            let h = if v > 0.0 { v.max(min_bar) } else { 0.0 };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x1, h)],
                    s.colour.filled(),
                )))
                .map_err(chart_err)?;
            let (px, py) = chart.backend_coord(&((x0 + x1) / 2.0, h));
            match value_labels {
                ValueLabels::Horizontal => root
                    .draw(&Text::new(fmt_num(v), (px, py - 3), label_style.clone()))
                    .map_err(chart_err)?,
                ValueLabels::Vertical => {
                    let vs = anchored(font(style::VALUE_SIZE), HPos::Left, VPos::Center)
                        .transform(FontTransform::Rotate270);
                    root.draw(&Text::new(fmt_num(v), (px, py - 4), vs))
                        .map_err(chart_err)?
                }
                ValueLabels::None => {}
            }
        }
        // Experiment label under its group: "name (mode)", on two lines if
        // it does not fit on one.
        let (cx, by) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        let group_px = (plot_w / n as f64) as i32 - 6;
        let one = if r.name == r.mode {
            r.name.clone()
        } else {
            format!("{} ({})", r.name, r.mode)
        };
        let ls = anchored(font(style::LABEL_SIZE), HPos::Center, VPos::Top);
        let fits = l
            .plot
            .estimate_text_size(&one, &ls)
            .map(|(w, _)| (w as i32) <= group_px)
            .unwrap_or(false);
        if fits {
            root.draw(&Text::new(one, (cx, by + 10), ls.clone()))
                .map_err(chart_err)?;
        } else {
            root.draw(&Text::new(
                fit(&l.plot, &r.name, &ls, group_px),
                (cx, by + 8),
                ls.clone(),
            ))
            .map_err(chart_err)?;
            let mode = if r.name == r.mode {
                String::new()
            } else {
                format!("({})", r.mode)
            };
            root.draw(&Text::new(
                fit(&l.plot, &mode, &ls, group_px),
                (cx, by + 27),
                ls.clone(),
            ))
            .map_err(chart_err)?;
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum ValueLabels {
    Horizontal,
    Vertical,
    None,
}

// ---------------------------------------------------------------------------
// Fault windows (timeline and latency charts)
// ---------------------------------------------------------------------------

fn fault_label(f: &FaultWindow) -> String {
    match f.end {
        Some(end) => format!(
            "{}: {}–{} s, after record {}",
            f.kind,
            fmt_num(f.start),
            fmt_num(end),
            f.after_records
        ),
        None => format!(
            "{}: from {} s (after record {}), never healed",
            f.kind,
            fmt_num(f.start),
            f.after_records
        ),
    }
}

/// Fault labels are written in a band above the plot, never over the data:
/// one row per window, up to three rows.
const FAULT_ROW: u32 = 20;

fn fault_band(faults: &[FaultWindow]) -> u32 {
    match faults.len() {
        0 => 0,
        n => FAULT_ROW * n.min(3) as u32 + 4,
    }
}

/// Shades every fault window over the whole height of the plot (to the
/// right edge if it never ended), with its label in the band above.
fn draw_faults<'a, Y>(
    root: &Area<'a>,
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, Y>>,
    faults: &[FaultWindow],
    x: &Range<f64>,
    y: &Range<f64>,
) -> Result<(), ReportError>
where
    Y: Ranged<ValueType = f64>,
{
    let (plot_left, plot_top) = chart.backend_coord(&(x.start, y.end));
    let (plot_right, _) = chart.backend_coord(&(x.end, y.end));
    let band_top = plot_top - fault_band(faults) as i32;
    for (i, f) in faults.iter().enumerate() {
        if !f.start.is_finite() {
            continue;
        }
        let start = f.start.clamp(x.start, x.end);
        let end = f
            .end
            .filter(|e| e.is_finite())
            .unwrap_or(x.end)
            .clamp(start, x.end);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(start, y.start), (end, y.end)],
                style::FAULT_SHADE.filled(),
            )))
            .map_err(chart_err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(start, y.start), (start, y.end)],
                style::FAULT_EDGE.stroke_width(2),
            )))
            .map_err(chart_err)?;
        // The label starts at the window's start, with a tick down to the
        // plot, and is shifted left if it would run off the right edge.
        let (px, _) = chart.backend_coord(&(start, y.end));
        let row_y = band_top + (FAULT_ROW * (i % 3) as u32) as i32 + 2;
        let ls = anchored(
            font(style::LABEL_SIZE).color(&style::FAULT_EDGE),
            HPos::Left,
            VPos::Top,
        );
        let label = fault_label(f);
        let w = root
            .estimate_text_size(&label, &ls)
            .map(|(w, _)| w as i32)
            .unwrap_or(0);
        let lx = (px + 5).min(plot_right - w).max(plot_left);
        root.draw(&PathElement::new(
            vec![(px, row_y + 2), (px, plot_top)],
            style::FAULT_EDGE.stroke_width(2),
        ))
        .map_err(chart_err)?;
        root.draw(&Text::new(label, (lx, row_y), ls))
            .map_err(chart_err)?;
    }
    Ok(())
}

fn fault_legend(faults: &[FaultWindow]) -> Option<LegendItem> {
    let mut kinds: Vec<&str> = faults.iter().map(|f| f.kind.as_str()).collect();
    kinds.dedup();
    (!kinds.is_empty()).then(|| LegendItem {
        swatch: Swatch::Shade,
        label: "fault window".into(),
        note: kinds.join(", "),
    })
}

/// Time span of a chart: the sends and the fault windows, from 0.
fn time_range(times: impl Iterator<Item = f64>, faults: &[FaultWindow]) -> Range<f64> {
    let mut lo: f64 = 0.0;
    let mut hi: f64 = 0.0;
    let fault_times = faults
        .iter()
        .flat_map(|f| std::iter::once(f.start).chain(f.end));
    for t in times.chain(fault_times).filter(|t| t.is_finite()) {
        lo = lo.min(t);
        hi = hi.max(t);
    }
    let r = padded(lo, hi, 1.0);
    let span = r.end - r.start;
    r.start - span * 0.01..r.end + span * 0.03
}

fn experiment_subtitle(r: &ExperimentResult) -> String {
    let c = &r.verification.counts;
    let mut s = format!(
        "mode: {} · fault: {} · {} sent, {} acked, {} failed, {} unreported · {} persisted",
        r.mode,
        r.fault,
        fmt_num(c.sent as f64),
        fmt_num(c.acked as f64),
        fmt_num(c.failed as f64),
        fmt_num(c.unreported as f64),
        fmt_num(c.persisted as f64),
    );
    if !r.description.is_empty() {
        s = format!("{s} · {}", r.description);
    }
    s
}

// ---------------------------------------------------------------------------
// 2. Timeline
// ---------------------------------------------------------------------------

/// `<name>.timeline.png`: one point per record at (send time, sequence
/// number), coloured by verdict, with fault windows shaded.
pub fn timeline_png(result: &ExperimentResult, caption: &Caption) -> Result<Vec<u8>, ReportError> {
    render_png("timeline", |root| draw_timeline(root, result, caption))
}

fn draw_timeline(
    root: &Area<'_>,
    r: &ExperimentResult,
    caption: &Caption,
) -> Result<(), ReportError> {
    let title = format!("{}: every record, by verdict", r.name);
    let l = layout(root, &title, &experiment_subtitle(r), caption)?;

    let points: Vec<(f64, f64, Option<Verdict>)> = join_records(r)
        .into_iter()
        .filter(|(e, _)| e.sent_at.is_finite())
        .map(|(e, v)| (e.sent_at, e.seq as f64, v.map(|v| v.verdict)))
        .collect();

    let counts = &r.verification.counts;
    let mut legend: Vec<LegendItem> = Verdict::ALL
        .iter()
        .filter(|v| points.iter().any(|p| p.2 == Some(**v)))
        .map(|v| LegendItem {
            swatch: Swatch::Dot(style::verdict(*v).to_rgba()),
            label: format!("{} ({})", v.as_str(), fmt_num(counts.verdict(*v) as f64)),
            note: short_meaning(*v).to_string(),
        })
        .collect();
    if points.iter().any(|p| p.2.is_none()) {
        legend.push(LegendItem {
            swatch: Swatch::Dot(style::MUTED.to_rgba()),
            label: "no verdict".into(),
            note: String::new(),
        });
    }
    legend.extend(fault_legend(&r.faults));
    for (name, v) in [
        ("duplicates", counts.duplicates),
        ("reordered", counts.reordered),
        ("unexpected", counts.unexpected),
    ] {
        legend.push(LegendItem {
            swatch: Swatch::None,
            label: format!("{name}: {}", fmt_num(v as f64)),
            note: String::new(),
        });
    }
    draw_legend(&l.legend, "verdict", &legend)?;

    let x = time_range(points.iter().map(|p| p.0), &r.faults);
    let max_seq = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let top = (max_seq * 1.02).max(max_seq + 1.0).max(10.0);
    let y = -top * 0.015..top;

    let mut chart = ChartBuilder::on(&l.plot)
        .margin(12)
        .margin_top(12 + fault_band(&r.faults))
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x.clone(), y.clone())
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc("record number")
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
        .label_style(font(style::LABEL_SIZE))
        .axis_desc_style(font(style::AXIS_DESC_SIZE))
        .light_line_style(style::GRID)
        .bold_line_style(style::GRID)
        .max_light_lines(0)
        .draw()
        .map_err(chart_err)?;

    draw_faults(root, &mut chart, &r.faults, &x, &y)?;

    if points.is_empty() {
        return draw_empty_note(&l.plot, "no records were sent");
    }
    let radius = match points.len() {
        0..=300 => 4,
        301..=3000 => 3,
        _ => 2,
    };
    // Points without a verdict first, then verdicts from the most common to
    // the rarest (ties: the most alarming last), so rare verdicts stay
    // visible on top; rare ones (under 2 %) also get bigger, haloed markers.
    let count = |v: Option<Verdict>| points.iter().filter(|p| p.2 == v).count();
    let mut groups: Vec<(Option<Verdict>, usize)> = VERDICT_DRAW_ORDER
        .iter()
        .enumerate()
        .map(|(rank, v)| (Some(*v), rank))
        .filter(|(v, _)| count(*v) > 0)
        .collect();
    groups.sort_by_key(|(v, rank)| (std::cmp::Reverse(count(*v)), *rank));
    groups.insert(0, (None, 0));
    for (verdict, _) in groups {
        let colour = verdict.map_or(style::MUTED, style::verdict);
        let n = count(verdict);
        let rare = n * 50 < points.len();
        let r = if rare { radius + 2 } else { radius };
        if rare {
            // A white halo sets rare points apart from the crowd beneath.
            chart
                .draw_series(
                    points
                        .iter()
                        .filter(|p| p.2 == verdict)
                        .map(|p| Circle::new((p.0, p.1), r + 2, WHITE.filled())),
                )
                .map_err(chart_err)?;
        }
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.2 == verdict)
                    .map(|p| Circle::new((p.0, p.1), r, colour.filled())),
            )
            .map_err(chart_err)?;
    }
    Ok(())
}

pub(crate) fn short_meaning(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "acked and found",
        Verdict::Lost => "acked, then missing",
        Verdict::Recovered => "reported failed, yet written",
        Verdict::ReportedLoss => "reported failed, not written",
        Verdict::UnreportedOk => "app never told; written",
        Verdict::SilentLoss => "app never told; gone",
    }
}

// ---------------------------------------------------------------------------
// 3. Latency
// ---------------------------------------------------------------------------

/// Whether any record had its outcome reported (so a latency chart says
/// something).
pub fn has_latencies(result: &ExperimentResult) -> bool {
    result
        .ledger
        .entries
        .iter()
        .any(|e| e.latency().is_some_and(f64::is_finite))
}

/// `<name>.latency.png`: send-to-report latency of every reported record
/// against its send time, acked and failed apart, fault windows shaded.
/// The latency axis is logarithmic when the values span more than two
/// orders of magnitude.
pub fn latency_png(result: &ExperimentResult, caption: &Caption) -> Result<Vec<u8>, ReportError> {
    render_png("latency", |root| draw_latency(root, result, caption))
}

fn draw_latency(
    root: &Area<'_>,
    r: &ExperimentResult,
    caption: &Caption,
) -> Result<(), ReportError> {
    let title = format!("{}: time until the application was told", r.name);
    let l = layout(root, &title, &experiment_subtitle(r), caption)?;

    let points: Vec<(f64, f64, Told)> = r
        .ledger
        .entries
        .iter()
        .filter_map(|e| {
            let lat = e.latency()? * 1000.0;
            (lat.is_finite() && e.sent_at.is_finite()).then_some((e.sent_at, lat, e.outcome.told()))
        })
        .collect();

    let acked = points.iter().filter(|p| p.2 == Told::Acked).count();
    let failed = points.iter().filter(|p| p.2 == Told::Failed).count();
    let mut legend = Vec::new();
    if acked > 0 {
        legend.push(LegendItem {
            swatch: Swatch::Dot(style::ACKED.to_rgba()),
            label: format!("acked ({})", fmt_num(acked as f64)),
            note: "send → success report".into(),
        });
    }
    if failed > 0 {
        legend.push(LegendItem {
            swatch: Swatch::Dot(style::FAILED.to_rgba()),
            label: format!("failed ({})", fmt_num(failed as f64)),
            note: "send → error report".into(),
        });
    }
    legend.extend(fault_legend(&r.faults));
    if r.latency.count > 0 {
        for (name, v) in [
            ("p50", r.latency.p50_ms),
            ("p95", r.latency.p95_ms),
            ("p99", r.latency.p99_ms),
            ("max", r.latency.max_ms),
        ] {
            legend.push(LegendItem {
                swatch: Swatch::None,
                label: format!("{name}: {} ms", fmt_num(v)),
                note: String::new(),
            });
        }
    }
    draw_legend(&l.legend, "outcome", &legend)?;

    let x = time_range(points.iter().map(|p| p.0), &r.faults);
    let positive = points.iter().map(|p| p.1).filter(|v| *v > 0.0);
    let min_pos = positive.clone().fold(f64::INFINITY, f64::min);
    let max = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let log = min_pos.is_finite() && max / min_pos > 100.0;

    if log {
        let floor = min_pos / 2.0;
        let y = floor..max * 2.0;
        let mut chart = ChartBuilder::on(&l.plot)
            .margin(12)
            .margin_top(12 + fault_band(&r.faults))
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(x.clone(), y.clone().log_scale())
            .map_err(chart_err)?;
        latency_body(
            root,
            &mut chart,
            r,
            &points,
            floor,
            "latency (ms, log scale)",
            &x,
            &y,
        )
    } else {
        let y = padded(0.0, max * 1.08, 1.0);
        let y = y.start - y.end * 0.015..y.end;
        let mut chart = ChartBuilder::on(&l.plot)
            .margin(12)
            .margin_top(12 + fault_band(&r.faults))
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(x.clone(), y.clone())
            .map_err(chart_err)?;
        latency_body(root, &mut chart, r, &points, 0.0, "latency (ms)", &x, &y)?;
        if points.is_empty() {
            draw_empty_note(&l.plot, "no outcome was reported")?;
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn latency_body<'a, Y>(
    root: &Area<'a>,
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, Y>>,
    r: &ExperimentResult,
    points: &[(f64, f64, Told)],
    floor: f64,
    y_desc: &str,
    x: &Range<f64>,
    y: &Range<f64>,
) -> Result<(), ReportError>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc("seconds since start (send time)")
        .y_desc(y_desc)
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
        .label_style(font(style::LABEL_SIZE))
        .axis_desc_style(font(style::AXIS_DESC_SIZE))
        .light_line_style(style::GRID)
        .bold_line_style(style::GRID)
        .max_light_lines(0)
        .draw()
        .map_err(chart_err)?;
    draw_faults(root, chart, &r.faults, x, y)?;
    let radius = if points.len() > 3000 { 2 } else { 3 };
    for (told, colour) in [(Told::Acked, style::ACKED), (Told::Failed, style::FAILED)] {
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.2 == told)
                    .map(|p| Circle::new((p.0, p.1.max(floor)), radius, colour.filled())),
            )
            .map_err(chart_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{sample_meta, sample_result};

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    fn assert_png(bytes: &[u8]) {
        assert!(bytes.len() > 1000, "{} bytes", bytes.len());
        assert_eq!(bytes[..8], PNG_SIGNATURE);
    }

    fn cap() -> Caption {
        Caption::for_run(&sample_meta())
    }

    #[test]
    fn comparison_is_a_png() {
        assert_png(&comparison_png(&[sample_result()], &cap()).unwrap());
    }

    #[test]
    fn timeline_is_a_png() {
        assert_png(&timeline_png(&sample_result(), &cap()).unwrap());
    }

    #[test]
    fn latency_is_a_png() {
        let r = sample_result();
        assert!(has_latencies(&r));
        assert_png(&latency_png(&r, &cap()).unwrap());
    }

    #[test]
    fn edge_cases_do_not_panic() {
        let c = Caption::default();
        assert_png(&comparison_png(&[], &c).unwrap());

        let mut empty = sample_result();
        empty.ledger = Default::default();
        empty.verification = Default::default();
        empty.faults.clear();
        assert_png(&comparison_png(std::slice::from_ref(&empty), &c).unwrap());
        assert_png(&timeline_png(&empty, &c).unwrap());
        assert!(!has_latencies(&empty));
        assert_png(&latency_png(&empty, &c).unwrap());

        // All times zero, a fault that never healed, NaN times.
        let mut zero = sample_result();
        for e in &mut zero.ledger.entries {
            e.sent_at = 0.0;
            if let crate::model::ledger::Outcome::Acked { at, .. }
            | crate::model::ledger::Outcome::Failed { at, .. } = &mut e.outcome
            {
                *at = 0.0;
            }
        }
        zero.faults = vec![FaultWindow {
            kind: "pause".into(),
            start: 0.0,
            end: None,
            after_records: 0,
        }];
        assert_png(&timeline_png(&zero, &c).unwrap());
        assert_png(&latency_png(&zero, &c).unwrap());
        zero.ledger.entries[1].sent_at = f64::NAN;
        zero.faults[0].start = f64::NAN;
        assert_png(&timeline_png(&zero, &c).unwrap());
        assert_png(&latency_png(&zero, &c).unwrap());
    }

    /// Renders example charts to `$KC_CHART_DIR` (default /tmp/kc-charts)
    /// for a human to look at: `cargo test --lib render_examples -- --ignored`.
    #[test]
    #[ignore]
    fn render_examples() {
        use crate::report::tests::synthetic;
        let dir = std::path::PathBuf::from(
            std::env::var("KC_CHART_DIR").unwrap_or_else(|_| "/tmp/kc-charts".into()),
        );
        std::fs::create_dir_all(&dir).unwrap();
        let results = vec![
            synthetic("fire-and-forget", "fire-and-forget", 600),
            synthetic("sync", "sync", 600),
            synthetic("async", "async", 600),
            synthetic("async-acks1", "async-acks1", 600),
        ];
        let c = cap();
        std::fs::write(
            dir.join("comparison.png"),
            comparison_png(&results, &c).unwrap(),
        )
        .unwrap();
        for r in &results {
            std::fs::write(
                dir.join(format!("{}.timeline.png", r.name)),
                timeline_png(r, &c).unwrap(),
            )
            .unwrap();
            if has_latencies(r) {
                std::fs::write(
                    dir.join(format!("{}.latency.png", r.name)),
                    latency_png(r, &c).unwrap(),
                )
                .unwrap();
            }
        }
        let s = sample_result();
        std::fs::write(
            dir.join("sample.timeline.png"),
            timeline_png(&s, &c).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.join("sample.latency.png"), latency_png(&s, &c).unwrap()).unwrap();
        std::fs::write(
            dir.join("sample.comparison.png"),
            comparison_png(&[s], &c).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.join("empty.comparison.png"),
            comparison_png(&[], &c).unwrap(),
        )
        .unwrap();
        // A whole run folder, as the runner writes it.
        let folder = crate::report::RunFolder::create(dir.join("runs"), &sample_meta()).unwrap();
        for r in &results {
            folder.write_experiment(r).unwrap();
        }
        folder.write_summary(&sample_meta(), &results).unwrap();
        let many: Vec<ExperimentResult> = (0..10)
            .map(|i| {
                let mut r = results[i % 4].clone();
                r.name = format!("{}-with-a-long-experiment-name-{i}", r.name);
                r.verification.counts.sent *= 200;
                r.verification.counts.persisted *= 190;
                r
            })
            .collect();
        std::fs::write(
            dir.join("many.comparison.png"),
            comparison_png(&many, &c).unwrap(),
        )
        .unwrap();
        let mut zero = sample_result();
        zero.name = "zero".into();
        for e in &mut zero.ledger.entries {
            e.sent_at = 0.0;
        }
        zero.faults[0].end = None;
        zero.faults.push(FaultWindow {
            kind: "pause".into(),
            start: 0.0,
            end: Some(0.0),
            after_records: 0,
        });
        std::fs::write(
            dir.join("zero.timeline.png"),
            timeline_png(&zero, &c).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.join("zero.latency.png"),
            latency_png(&zero, &c).unwrap(),
        )
        .unwrap();
        zero.ledger = Default::default();
        zero.verification = Default::default();
        std::fs::write(
            dir.join("empty.timeline.png"),
            timeline_png(&zero, &c).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(12_345.0), "12,345");
        assert_eq!(fmt_num(-1_000.0), "-1,000");
        assert_eq!(fmt_num(2.5), "2.5");
        assert_eq!(fmt_num(0.125), "0.125");
        assert_eq!(fmt_num(f64::NAN), "");
        assert_eq!(padded(f64::NAN, f64::NAN, 1.0), 0.0..1.0);
        assert_eq!(padded(3.0, 3.0, 1.0), 3.0..4.0);
    }
}
