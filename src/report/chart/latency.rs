//! `<name>.latency.png`: the send-to-report latency of every reported
//! record, acked and failed apart, fault windows shaded.

use std::ops::Range;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::faults::{draw_faults, experiment_subtitle, fault_band, fault_legend, time_range};
use super::{
    chart_err, draw_empty_note, draw_legend, fmt_num, layout, mesh_style, padded, render_png,
    style, Area, Caption, LegendItem, Swatch,
};
use crate::model::ledger::Told;
use crate::model::result::ExperimentResult;
use crate::report::ReportError;

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
    mesh_style(
        chart
            .configure_mesh()
            .x_desc("seconds since start (send time)")
            .y_desc(y_desc)
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v)),
    )
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
