//! Grouped bar charts: one group of bars per experiment, the value written
//! above each bar, the experiment's label under its group. The helper
//! behind the run-vs-run `compare-<old>.png` ([`super::compare`]); the
//! run's own `comparison.png` has rows instead ([`super::comparison`]).
//!
//! `BarScale` decides how the values are written and how high the y axis
//! goes so that they fit, then draws the axes; the charts draw their bars
//! in its coordinates (group `i` spans `i..i + 1`) with the helpers below.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::FontTransform;

use super::{anchored, chart_err, fit, fmt_num, font, mesh_style, style, Area};
use crate::report::ReportError;

/// The chart bars are drawn on: x in groups, y in records.
pub(crate) type BarChart<'a> =
    ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// How the value above a bar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueLabels {
    /// Level, above the bar: the bars are wide enough.
    Horizontal,
    /// Turned upright, above the bar.
    Vertical,
    /// Not at all: the bars are too narrow even for upright numbers.
    None,
}

/// A rectangle's corners in pixels: top left, bottom right.
pub(crate) type Corners = ((i32, i32), (i32, i32));

/// Room under the plot for the groups' labels.
const X_LABEL_AREA: u32 = 56;
/// Room left of the plot for the y axis' labels.
const Y_LABEL_AREA: u32 = 80;
const MARGIN: u32 = 12;

/// The geometry of a grouped bar chart: how the values are written, and a
/// y axis tall enough for the highest bar and its value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BarScale {
    /// Groups on the x axis (at least one).
    groups: usize,
    /// Pixels of the plot, inside the axes.
    plot_w: f64,
    plot_h: f64,
    pub(crate) value_labels: ValueLabels,
    /// The top of the y axis.
    pub(crate) y_top: f64,
}

impl BarScale {
    /// `groups` groups on `plot`, each `slots` bar widths wide, the highest
    /// bar `max`. Value labels sit above the bars: the y axis leaves room
    /// for them.
    pub(crate) fn new(plot: &Area<'_>, groups: usize, slots: f64, max: f64) -> BarScale {
        let groups = groups.max(1);
        let (pw, ph) = plot.dim_in_pixel();
        let plot_h = ph.saturating_sub(X_LABEL_AREA + 2 * MARGIN).max(1) as f64;
        let plot_w = pw.saturating_sub(Y_LABEL_AREA + 2 * MARGIN).max(1) as f64;
        let bar_px = plot_w / groups as f64 / slots;
        let label_style = anchored(font(style::VALUE_SIZE), HPos::Center, VPos::Bottom);
        let widest_label = plot
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
        BarScale {
            groups,
            plot_w,
            plot_h,
            value_labels,
            y_top: max.max(5.0) * 1.04 / (1.0 - headroom),
        }
    }

    /// Draws the axes ("records" up the side, no labels along the bottom:
    /// each group is labelled with [`draw_group_label`]) and returns the
    /// chart to draw the bars on.
    pub(crate) fn chart<'a>(&self, plot: &Area<'a>) -> Result<BarChart<'a>, ReportError> {
        let mut chart = ChartBuilder::on(plot)
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(0.0..self.groups as f64, 0.0..self.y_top)
            .map_err(chart_err)?;
        mesh_style(
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(0)
                .y_labels(8)
                .y_desc("records")
                .y_label_formatter(&|v| fmt_num(*v)),
        )
        .draw()
        .map_err(chart_err)?;
        Ok(chart)
    }

    /// The height to draw a bar of value `v` at: a count of 1 among
    /// thousands still shows as a sliver (3 pixels).
    pub(crate) fn height(&self, v: f64) -> f64 {
        let min_bar = self.y_top * 3.0 / self.plot_h;
        if v > 0.0 {
            v.max(min_bar)
        } else {
            0.0
        }
    }

    /// The width a group's label may take, in pixels.
    pub(crate) fn group_px(&self) -> i32 {
        (self.plot_w / self.groups as f64) as i32 - 6
    }
}

/// Fills the bar from 0 to `h` between `x0` and `x1`; returns its pixel
/// corners (top left, bottom right).
pub(crate) fn draw_bar(
    chart: &mut BarChart<'_>,
    (x0, x1): (f64, f64),
    h: f64,
    fill: RGBColor,
) -> Result<Corners, ReportError> {
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(x0, 0.0), (x1, h)],
            fill.filled(),
        )))
        .map_err(chart_err)?;
    Ok((
        chart.backend_coord(&(x0, h)),
        chart.backend_coord(&(x1, 0.0)),
    ))
}

/// Writes `v` above the bar whose top middle is at pixel `(px, py)`, the
/// way `labels` says, in `text` (size, weight, colour).
pub(crate) fn draw_value(
    root: &Area<'_>,
    labels: ValueLabels,
    v: f64,
    (px, py): (i32, i32),
    text: TextStyle<'static>,
) -> Result<(), ReportError> {
    match labels {
        ValueLabels::Horizontal => root
            .draw(&Text::new(
                fmt_num(v),
                (px, py - 3),
                anchored(text, HPos::Center, VPos::Bottom),
            ))
            .map_err(chart_err),
        ValueLabels::Vertical => root
            .draw(&Text::new(
                fmt_num(v),
                (px, py - 4),
                anchored(text, HPos::Left, VPos::Center).transform(FontTransform::Rotate270),
            ))
            .map_err(chart_err),
        ValueLabels::None => Ok(()),
    }
}

/// The label under group `i`, on two lines, each shortened to the group's
/// width: `first` (the experiment), then `second` in `colour` (its mode, or
/// where it was found).
pub(crate) fn draw_group_label(
    root: &Area<'_>,
    plot: &Area<'_>,
    (chart, scale): (&BarChart<'_>, &BarScale),
    i: usize,
    first: &str,
    (second, colour): (&str, &'static RGBColor),
) -> Result<(), ReportError> {
    let (cx, by) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
    let width = scale.group_px();
    let ls = anchored(font(style::LABEL_SIZE), HPos::Center, VPos::Top);
    root.draw(&Text::new(
        fit(plot, first, &ls, width),
        (cx, by + 8),
        ls.clone(),
    ))
    .map_err(chart_err)?;
    let ls2 = anchored(
        font(style::LABEL_SIZE).color(colour),
        HPos::Center,
        VPos::Top,
    );
    root.draw(&Text::new(
        fit(plot, second, &ls2, width),
        (cx, by + 27),
        ls2.clone(),
    ))
    .map_err(chart_err)
}

/// The colour of an old bar: the count's colour, lighter.
pub(crate) fn lighter(c: RGBColor) -> RGBColor {
    let mix = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * 0.55).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// Marks a bar (pixel corners `a` top left, `b` bottom right) as an old
/// one, over its lighter fill: hatched with `/` lines and framed, in
/// `colour`.
pub(crate) fn hatch_and_frame(
    area: &Area<'_>,
    a: (i32, i32),
    b: (i32, i32),
    colour: RGBColor,
) -> Result<(), ReportError> {
    hatch(area, a, b, colour)?;
    area.draw(&Rectangle::new([a, b], colour.stroke_width(1)))
        .map_err(chart_err)
}

/// Hatches a rectangle (pixel corners) with `/` lines.
fn hatch(
    area: &Area<'_>,
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
            area.draw(&PathElement::new(
                vec![(xa, c - xa), (xb, c - xb)],
                colour.stroke_width(1),
            ))
            .map_err(chart_err)?;
        }
        c += STEP;
    }
    Ok(())
}
