//! Charts: stacked columns (status codes over time, latency histograms), horizontal 100 %
//! bars (cache statuses per tier) and line panels (a sweep's shares against the swept
//! value). Each chart is a standalone SVG with its title, axes and legend, readable without
//! the page around it.

use super::{esc, num, text_width, Svg};
use std::fmt::Write;

/// One layer of a stacked chart, or one line of a line chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// Legend text, e.g. `522 Connection timed out`.
    pub label: String,
    /// Fill or stroke colour.
    pub color: String,
    /// One value per column (or point).
    pub values: Vec<f64>,
}

/// The horizontal axis of a column chart.
#[derive(Clone, Debug, PartialEq)]
pub enum XAxis {
    /// Columns are consecutive time bins of `step` seconds from `start` seconds.
    Time {
        /// Start of the first bin, in seconds.
        start: f64,
        /// Bin width, in seconds.
        step: f64,
    },
    /// One named column each.
    Categories(Vec<String>),
}

/// A vertical marker on a time axis (an `[[event]]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// Where, in seconds.
    pub at: f64,
    /// What happened.
    pub label: String,
}

/// A stacked column chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Columns {
    /// Shown above the chart.
    pub title: String,
    /// One line under the title saying how to read it.
    pub subtitle: String,
    /// The horizontal axis.
    pub x: XAxis,
    /// Name of the horizontal axis.
    pub x_label: String,
    /// Name of the vertical axis.
    pub y_label: String,
    /// Stacked bottom to top, in this order (and listed in the legend in this order).
    pub layers: Vec<Layer>,
    /// Vertical markers (time axes only).
    pub markers: Vec<Marker>,
}

const W: f64 = 860.0;
const PLOT_LEFT: f64 = 62.0;
const PLOT_RIGHT: f64 = 230.0;
const PLOT_TOP: f64 = 58.0;
const PLOT_H: f64 = 210.0;

/// Draws a stacked column chart.
///
/// ```
/// use cdn_sim::svg::chart::{columns, Columns, Layer, XAxis};
/// let svg = columns(&Columns {
///     title: "Status codes over time".into(),
///     subtitle: String::new(),
///     x: XAxis::Time { start: 0.0, step: 1.0 },
///     x_label: "seconds".into(),
///     y_label: "responses".into(),
///     layers: vec![Layer { label: "200".into(), color: "#43a047".into(), values: vec![3.0, 5.0] }],
///     markers: vec![],
/// });
/// assert!(svg.contains("Status codes over time") && svg.contains("<rect"));
/// ```
pub fn columns(c: &Columns) -> String {
    let n = c.layers.iter().map(|l| l.values.len()).max().unwrap_or(0);
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            c.layers
                .iter()
                .map(|l| l.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    let (top, ticks) = nice_ticks(max);
    let plot_w = W - PLOT_LEFT - PLOT_RIGHT;
    let legend_h = 22.0 + 18.0 * c.layers.len() as f64;
    let label_room = match &c.x {
        XAxis::Categories(_) => 34.0,
        XAxis::Time { .. } => 22.0,
    };
    let height = (PLOT_TOP + PLOT_H + label_room + 26.0).max(PLOT_TOP + legend_h + 10.0);
    let mut svg = Svg::new(W, height);
    header(&mut svg, &c.title, &c.subtitle);
    axes(&mut svg, top, &ticks, plot_w, &c.y_label);
    let col_w = if n == 0 { plot_w } else { plot_w / n as f64 };
    let gap = if col_w > 6.0 { col_w * 0.12 } else { 0.0 };
    for i in 0..n {
        let x = PLOT_LEFT + i as f64 * col_w;
        let mut y = PLOT_TOP + PLOT_H;
        for layer in &c.layers {
            let v = layer.values.get(i).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let h = v / top * PLOT_H;
            let what = match &c.x {
                XAxis::Time { start, step } => {
                    let a = start + i as f64 * step;
                    format!(
                        "{}: {} between {} s and {} s",
                        layer.label,
                        num(v),
                        short(a),
                        short(a + step)
                    )
                }
                XAxis::Categories(names) => format!(
                    "{}: {} at {}",
                    layer.label,
                    num(v),
                    names.get(i).map_or("", String::as_str)
                ),
            };
            svg.rect(
                x + gap / 2.0,
                y - h,
                col_w - gap,
                h,
                &layer.color,
                Some(&what),
            );
            y -= h;
        }
    }
    // Horizontal axis labels.
    let base = PLOT_TOP + PLOT_H;
    match &c.x {
        XAxis::Time { start, step } => {
            let span = step * n as f64;
            let (_, xt) = nice_ticks(span);
            for t in xt.into_iter().filter(|t| *t <= span + 1e-9) {
                let x = PLOT_LEFT + t / span.max(f64::MIN_POSITIVE) * plot_w;
                svg.line(x, base, x, base + 4.0, "axis");
                svg.text_anchored(x, base + 16.0, &short(start + t), "small", "middle");
            }
            for m in &c.markers {
                let x = PLOT_LEFT + (m.at - start) / span.max(f64::MIN_POSITIVE) * plot_w;
                if !(PLOT_LEFT..=PLOT_LEFT + plot_w).contains(&x) {
                    continue;
                }
                svg.line(
                    x,
                    PLOT_TOP - 4.0,
                    x,
                    base,
                    "stroke:#37474f;stroke-width:1.2;stroke-dasharray:3 3",
                );
                svg.text(x + 3.0, PLOT_TOP + 8.0, &m.label, "small");
            }
        }
        XAxis::Categories(names) => {
            for (i, name) in names.iter().enumerate() {
                let x = PLOT_LEFT + (i as f64 + 0.5) * col_w;
                svg.text_anchored(x, base + 15.0, name, "small", "middle");
            }
        }
    }
    svg.text_anchored(
        PLOT_LEFT + plot_w / 2.0,
        base + label_room + 6.0,
        &c.x_label,
        "small",
        "middle",
    );
    legend(
        &mut svg,
        W - PLOT_RIGHT + 16.0,
        PLOT_TOP,
        c.layers.iter().map(|l| {
            (
                l.label.as_str(),
                l.color.as_str(),
                l.values.iter().sum::<f64>(),
            )
        }),
    );
    svg.finish()
}

/// One row of a 100 % bar chart.
#[derive(Clone, Debug, PartialEq)]
pub struct BarRow {
    /// Row name, e.g. `L1 (edge)`.
    pub label: String,
    /// (name, count, colour), left to right.
    pub parts: Vec<(String, u64, String)>,
}

/// Horizontal 100 % bars, one per row, each segment labelled with its share when it fits.
pub fn share_bars(title: &str, subtitle: &str, rows: &[BarRow]) -> String {
    let label_w = 120.0;
    let bar_w = W - label_w - 40.0;
    let height = PLOT_TOP + rows.len() as f64 * 46.0 + 10.0;
    let mut svg = Svg::new(W, height);
    header(&mut svg, title, subtitle);
    for (r, row) in rows.iter().enumerate() {
        let y = PLOT_TOP + r as f64 * 46.0;
        let total: u64 = row.parts.iter().map(|p| p.1).sum();
        svg.text(12.0, y + 18.0, &row.label, "bold");
        svg.text(12.0, y + 32.0, &format!("{total} requests"), "small");
        let mut x = label_w;
        if total == 0 {
            svg.rect(x, y + 4.0, bar_w, 28.0, "#eeeeee", None);
            svg.text(x + 8.0, y + 23.0, "no requests reached this tier", "small");
            continue;
        }
        for (name, n, color) in &row.parts {
            if *n == 0 {
                continue;
            }
            let w = *n as f64 / total as f64 * bar_w;
            let share = 100.0 * *n as f64 / total as f64;
            let tip = format!("{name}: {n} ({share:.1}%)");
            svg.rect(x, y + 4.0, w, 28.0, color, Some(&tip));
            let text = format!("{name} {share:.0}%");
            if text_width(&text, 12.0) + 8.0 < w {
                svg.text_fill(x + 5.0, y + 23.0, &text, "#fff", "start");
            } else if text_width(name, 12.0) + 6.0 < w {
                svg.text_fill(x + 3.0, y + 23.0, name, "#fff", "start");
            }
            x += w;
        }
    }
    svg.finish()
}

/// One panel of a line chart: shares against a categorical x axis.
#[derive(Clone, Debug, PartialEq)]
pub struct LinePanel {
    /// Panel title, e.g. `origin.workers = 2`.
    pub title: String,
    /// The swept values, in the order given.
    pub x_labels: Vec<String>,
    /// One line per series (values in percent).
    pub lines: Vec<Layer>,
}

/// Line panels side by side (wrapping every two), sharing a 0–100 % vertical axis.
pub fn line_panels(title: &str, subtitle: &str, x_label: &str, panels: &[LinePanel]) -> String {
    let per_row = if panels.len() > 1 { 2 } else { 1 };
    let panel_w = if per_row == 1 { 620.0 } else { 400.0 };
    let panel_h = 230.0;
    let rows = panels.len().div_ceil(per_row);
    let mut legend_items: Vec<(String, String)> = Vec::new();
    for p in panels {
        for l in &p.lines {
            if !legend_items.iter().any(|(n, _)| *n == l.label) {
                legend_items.push((l.label.clone(), l.color.clone()));
            }
        }
    }
    let width = 30.0 + per_row as f64 * (panel_w + 30.0) + 190.0;
    let height = (PLOT_TOP + rows as f64 * (panel_h + 70.0))
        .max(PLOT_TOP + 30.0 + 18.0 * legend_items.len() as f64);
    let mut svg = Svg::new(width, height);
    header(&mut svg, title, subtitle);
    for (k, p) in panels.iter().enumerate() {
        let ox = 70.0 + (k % per_row) as f64 * (panel_w + 30.0);
        let oy = PLOT_TOP + 22.0 + (k / per_row) as f64 * (panel_h + 70.0);
        let pw = panel_w - 50.0;
        svg.text(ox, oy - 8.0, &p.title, "bold");
        for pct in [0.0, 25.0, 50.0, 75.0, 100.0] {
            let y = oy + panel_h - pct / 100.0 * panel_h;
            svg.line(ox, y, ox + pw, y, "grid");
            svg.text_anchored(ox - 6.0, y + 4.0, &format!("{pct:.0}%"), "small", "end");
        }
        svg.line(ox, oy + panel_h, ox + pw, oy + panel_h, "axis");
        let n = p.x_labels.len().max(1);
        let xs = |i: usize| {
            if n == 1 {
                ox + pw / 2.0
            } else {
                ox + 16.0 + i as f64 * (pw - 32.0) / (n - 1) as f64
            }
        };
        for (i, name) in p.x_labels.iter().enumerate() {
            svg.text_anchored(xs(i), oy + panel_h + 16.0, name, "small", "middle");
        }
        svg.text_anchored(
            ox + pw / 2.0,
            oy + panel_h + 34.0,
            x_label,
            "small",
            "middle",
        );
        for line in &p.lines {
            let mut d = String::new();
            for (i, v) in line.values.iter().enumerate() {
                let y = oy + panel_h - v.clamp(0.0, 100.0) / 100.0 * panel_h;
                let _ = write!(
                    d,
                    "{}{} {}",
                    if i == 0 { "M" } else { " L" },
                    num(xs(i)),
                    num(y)
                );
            }
            svg.raw(&format!(
                "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2.2\"/>",
                line.color
            ));
            for (i, v) in line.values.iter().enumerate() {
                let y = oy + panel_h - v.clamp(0.0, 100.0) / 100.0 * panel_h;
                svg.raw(&format!(
                    "<circle cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{}\"><title>{}: {:.1}% at {}</title></circle>",
                    num(xs(i)),
                    num(y),
                    line.color,
                    esc(&line.label),
                    v,
                    esc(p.x_labels.get(i).map_or("", String::as_str))
                ));
            }
        }
    }
    let lx = width - 180.0;
    svg.text(lx, PLOT_TOP + 10.0, "status code", "bold");
    for (i, (name, color)) in legend_items.iter().enumerate() {
        let y = PLOT_TOP + 24.0 + i as f64 * 18.0;
        svg.rect(lx, y - 9.0, 14.0, 10.0, color, None);
        svg.text(lx + 20.0, y, name, "");
    }
    svg.finish()
}

fn header(svg: &mut Svg, title: &str, subtitle: &str) {
    svg.text(12.0, 22.0, title, "title");
    if !subtitle.is_empty() {
        svg.text(12.0, 40.0, subtitle, "small");
    }
}

fn axes(svg: &mut Svg, top: f64, ticks: &[f64], plot_w: f64, y_label: &str) {
    for &t in ticks {
        let y = PLOT_TOP + PLOT_H - t / top * PLOT_H;
        svg.line(PLOT_LEFT, y, PLOT_LEFT + plot_w, y, "grid");
        svg.text_anchored(PLOT_LEFT - 6.0, y + 4.0, &short(t), "small", "end");
    }
    svg.line(
        PLOT_LEFT,
        PLOT_TOP + PLOT_H,
        PLOT_LEFT + plot_w,
        PLOT_TOP + PLOT_H,
        "axis",
    );
    svg.raw(&format!(
        "<text class=\"small\" transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        num(PLOT_TOP + PLOT_H / 2.0),
        esc(y_label)
    ));
}

fn legend<'a>(svg: &mut Svg, x: f64, y: f64, items: impl Iterator<Item = (&'a str, &'a str, f64)>) {
    for (i, (label, color, total)) in items.enumerate() {
        let yy = y + 4.0 + i as f64 * 18.0;
        svg.rect(x, yy - 9.0, 14.0, 10.0, color, None);
        let text = format!("{label} ({})", num(total));
        let max_chars = 34;
        let shown: String = if text.chars().count() > max_chars {
            text.chars().take(max_chars - 1).collect::<String>() + "…"
        } else {
            text.clone()
        };
        svg.raw(&format!(
            "<text x=\"{}\" y=\"{}\"><title>{}</title>{}</text>",
            num(x + 20.0),
            num(yy),
            esc(&text),
            esc(&shown)
        ));
    }
}

/// A tidy top and tick positions for an axis from 0 to `max`.
fn nice_ticks(max: f64) -> (f64, Vec<f64>) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, vec![0.0, 1.0]);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let top = (max / step).ceil() * step;
    let mut ticks = Vec::new();
    let mut t = 0.0;
    while t <= top + step / 2.0 {
        ticks.push(t);
        t += step;
    }
    (top, ticks)
}

/// A number for an axis label: integers plainly, otherwise up to two decimals.
fn short(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_maximum_with_round_steps() {
        let (top, ticks) = nice_ticks(87.0);
        assert_eq!(top, 100.0);
        assert_eq!(ticks, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let (top, _) = nice_ticks(3.0);
        assert!(top >= 3.0);
    }

    #[test]
    fn columns_stack_each_bin_to_its_total() {
        let svg = columns(&Columns {
            title: "t".into(),
            subtitle: String::new(),
            x: XAxis::Time {
                start: 0.0,
                step: 1.0,
            },
            x_label: "s".into(),
            y_label: "n".into(),
            layers: vec![
                Layer {
                    label: "200".into(),
                    color: "#0f0".into(),
                    values: vec![10.0, 0.0],
                },
                Layer {
                    label: "522".into(),
                    color: "#f00".into(),
                    values: vec![10.0, 20.0],
                },
            ],
            markers: vec![],
        });
        // Tooltips carry exact counts.
        assert!(svg.contains("<title>200: 10 between 0 s and 1 s</title>"));
        assert!(svg.contains("<title>522: 20 between 1 s and 2 s</title>"));
        // A zero value draws nothing.
        assert!(!svg.contains("200: 0 between"));
    }
}
