//! `<name>.timeline.png`: every record of an experiment by send time and
//! sequence number, coloured by verdict, fault windows shaded.

use plotters::prelude::*;

use super::faults::{draw_faults, experiment_subtitle, fault_band, fault_legend, time_range};
use super::{
    chart_err, draw_empty_note, draw_legend, fmt_num, layout, mesh_style, render_png,
    short_meaning, style, Area, Caption, LegendItem, Swatch,
};
use crate::model::result::ExperimentResult;
use crate::model::verdict::Verdict;
use crate::report::{join_records, ReportError};

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
    mesh_style(
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .y_desc("record number")
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v)),
    )
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
