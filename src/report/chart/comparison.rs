//! `comparison.png`: what each experiment of a run delivered, as grouped
//! bars of its counts.

use plotters::prelude::*;

use super::bars::{draw_bar, draw_group_label, draw_group_label_line, draw_value, BarScale};
use super::{
    draw_empty_note, draw_legend, font, layout, render_png, style, Area, Caption, LegendItem,
    Swatch,
};
use crate::model::result::ExperimentResult;
use crate::model::verdict::VerdictCounts;
use crate::report::ReportError;

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

    let max = results
        .iter()
        .flat_map(|r| {
            COMPARISON_SERIES
                .iter()
                .map(|s| (s.value)(&r.verification.counts))
        })
        .max()
        .unwrap_or(0) as f64;
    let slots = (COMPARISON_SERIES.len() + 2) as f64; // bars plus a gap
    let scale = BarScale::new(&l.plot, results.len(), slots, max);
    let mut chart = scale.chart(&l.plot)?;

    if results.is_empty() {
        return draw_empty_note(&l.plot, "no finished experiments yet");
    }

    let bar_w = 1.0 / slots;
    for (i, r) in results.iter().enumerate() {
        let c = &r.verification.counts;
        for (j, s) in COMPARISON_SERIES.iter().enumerate() {
            let x0 = i as f64 + bar_w * (1.0 + j as f64);
            let x1 = x0 + bar_w * 0.9;
            let v = (s.value)(c) as f64;
            let h = scale.height(v);
            draw_bar(&mut chart, (x0, x1), h, s.colour)?;
            let top = chart.backend_coord(&((x0 + x1) / 2.0, h));
            draw_value(root, scale.value_labels, v, top, font(style::VALUE_SIZE))?;
        }
        // Experiment label under its group: "name (mode)", on two lines if
        // it does not fit on one.
        let one = if r.name == r.mode {
            r.name.clone()
        } else {
            format!("{} ({})", r.name, r.mode)
        };
        if !draw_group_label_line(root, &l.plot, (&chart, &scale), i, &one)? {
            let mode = if r.name == r.mode {
                String::new()
            } else {
                format!("({})", r.mode)
            };
            draw_group_label(
                root,
                &l.plot,
                (&chart, &scale),
                i,
                &r.name,
                (&mode, &style::TEXT),
            )?;
        }
    }
    Ok(())
}
