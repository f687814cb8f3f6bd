//! What the per-experiment charts (timeline and latency) share: the fault
//! windows, shaded with their labels in a band above the plot, the time
//! axis, and the subtitle.

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{anchored, chart_err, fmt_num, font, padded, style, Area, LegendItem, Swatch};
use crate::model::result::{ExperimentResult, FaultWindow};
use crate::report::ReportError;

/// The label of a fault window: the fault with its parameters, when it
/// was in force, and after which record.
fn fault_label(f: &FaultWindow) -> String {
    let label = window_label(f);
    match f.leader_change() {
        Some(change) => format!("{label}; {change}"),
        None => label,
    }
}

fn window_label(f: &FaultWindow) -> String {
    match f.end {
        Some(end) => format!(
            "{}: {}–{} s, after record {}",
            f.describe(),
            fmt_num(f.start),
            fmt_num(end),
            f.after_records
        ),
        None => format!(
            "{}: from {} s (after record {}), never healed",
            f.describe(),
            fmt_num(f.start),
            f.after_records
        ),
    }
}

/// Fault labels are written in a band above the plot, never over the data:
/// one row per window, up to three rows.
const FAULT_ROW: u32 = 20;

pub(crate) fn fault_band(faults: &[FaultWindow]) -> u32 {
    match faults.len() {
        0 => 0,
        n => FAULT_ROW * n.min(3) as u32 + 4,
    }
}

/// Shades every fault window over the whole height of the plot (to the
/// right edge if it never ended), with its label in the band above.
pub(crate) fn draw_faults<'a, Y>(
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

pub(crate) fn fault_legend(faults: &[FaultWindow]) -> Option<LegendItem> {
    let mut kinds: Vec<String> = faults.iter().map(FaultWindow::describe).collect();
    kinds.dedup();
    (!kinds.is_empty()).then(|| LegendItem {
        swatch: Swatch::Shade,
        label: "fault window".into(),
        note: kinds.join(", "),
    })
}

/// Time span of a chart: the sends and the fault windows, from 0.
pub(crate) fn time_range(times: impl Iterator<Item = f64>, faults: &[FaultWindow]) -> Range<f64> {
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

pub(crate) fn experiment_subtitle(r: &ExperimentResult) -> String {
    let c = &r.verification.counts;
    let mut s = format!(
        "mode: {} · fault: {} · {} sent, {} acked, {} failed, {} unreported · {} persisted",
        r.mode,
        r.fault_label(),
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
