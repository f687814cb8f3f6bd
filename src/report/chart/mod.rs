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
//!
//! One file per chart: [`comparison`], [`timeline`], [`latency`], the
//! spread over repetitions [`spread`] and the run-vs-run [`compare`]; the two bar charts share [`bars`], the two
//! per-experiment charts the fault windows of [`faults`].

pub mod bars;
pub mod compare;
pub mod comparison;
pub mod faults;
pub mod latency;
pub mod spread;
pub mod timeline;

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use super::ReportError;
use crate::model::result::RunMeta;
use crate::model::verdict::Verdict;

pub use comparison::comparison_png;
pub use latency::{has_latencies, latency_png};
pub use spread::spread_png;
pub use timeline::timeline_png;

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

/// The house style of every chart's axes: label and description fonts,
/// light grid lines, no minor lines.
pub(crate) fn mesh_style<'m, 'a, 'b, X, Y, DB>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB>
where
    X: Ranged,
    Y: Ranged,
    DB: DrawingBackend,
{
    mesh.label_style(font(style::LABEL_SIZE))
        .axis_desc_style(font(style::AXIS_DESC_SIZE))
        .light_line_style(style::GRID)
        .bold_line_style(style::GRID)
        .max_light_lines(0)
}

/// Registers the embedded fonts with plotters, once per process.
pub(crate) fn ensure_fonts() -> Result<(), ReportError> {
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
    render_png_sized(what, style::SIZE, draw)
}

/// [`render_png`] on a canvas of `size` pixels (a chart that grows with
/// its data).
pub(crate) fn render_png_sized<F>(
    what: &str,
    size: (u32, u32),
    draw: F,
) -> Result<Vec<u8>, ReportError>
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
        let root = BitMapBackend::new(&path, size).into_drawing_area();
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

/// The width and height of `text` in `style`, in pixels, measured with the
/// embedded font (what the chart will draw). Call [`ensure_fonts`] before
/// making `style`: a font is looked up when the style is made.
pub(crate) fn text_size(text: &str, style: &TextStyle<'_>) -> Result<(u32, u32), ReportError> {
    style.font.box_size(text).map_err(chart_err)
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
    /// Drawn by the chart itself, given the point where the swatch's left
    /// edge meets the middle of its label's line.
    Custom(SwatchFn),
    /// Text only (a note under the legend).
    None,
}

/// Draws a [`Swatch::Custom`].
pub(crate) type SwatchFn = Box<dyn Fn(&Area<'_>, (i32, i32)) -> Result<(), ReportError>>;

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
            Swatch::Custom(draw) => {
                draw(area, (x0, y))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::result::{ExperimentResult, FaultWindow};
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
            ..Default::default()
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
        std::fs::write(
            dir.join("thirty.comparison.png"),
            comparison_png(&comparison::tests::thirty(), &c).unwrap(),
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
            ..Default::default()
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
