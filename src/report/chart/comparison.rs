//! `comparison.png`: what each experiment of a run delivered, as grouped
//! bars of its counts.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{
    anchored, chart_err, draw_empty_note, draw_legend, fit, fmt_num, font, layout, render_png,
    style, Area, Caption, LegendItem, Swatch,
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
