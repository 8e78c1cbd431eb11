//! Pictures as SVG text: sequence diagrams of traces, charts of a run, the topology, sweep
//! plots. Pure functions from data to a `String`, with no dependency beyond `std`: the same
//! input always gives the same bytes, so pictures can be committed and compared in tests.
//!
//! | module | one job |
//! |---|---|
//! | [`sequence`] | one [`cdn_core::Trace`] → a sequence diagram (who sent what to whom, when) |
//! | [`chart`] | stacked time series, histograms, stacked bars, line plots |
//! | [`topology`] | clients → L1s → L2s (egress pools) → origin (firewall rules), coloured by what they did |
//!
//! This module holds what they share: an SVG writer that escapes text, number formatting
//! that never prints `-0` or exponent notation, and the colour of each status code, tier and
//! cache status (one palette, so a 522 is the same orange in every picture).

pub mod chart;
pub mod sequence;
pub mod topology;

use cdn_core::cache::CacheStatus;
use cdn_core::Tier;
use std::fmt::Write;

/// An SVG document being written: elements are appended as text.
///
/// ```
/// use cdn_sim::svg::Svg;
/// let mut svg = Svg::new(100.0, 40.0);
/// svg.text(4.0, 20.0, "a < b", "label");
/// let out = svg.finish();
/// assert!(out.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
/// assert!(out.contains("a &lt; b"));
/// ```
#[derive(Clone, Debug)]
pub struct Svg {
    width: f64,
    height: f64,
    body: String,
    style: String,
}

/// The CSS every picture carries, so each SVG file also renders on its own (in a browser or
/// on GitHub) with the same look as inside the HTML report.
const BASE_STYLE: &str = "text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;font-size:12px;fill:#222}\
.small{font-size:10.5px;fill:#555}.title{font-size:14px;font-weight:600}.bold{font-weight:600}\
.mono{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:11px}\
.axis{stroke:#888;stroke-width:1}.grid{stroke:#e4e4e4;stroke-width:1}";

impl Svg {
    /// A blank picture of `width` × `height` pixels.
    pub fn new(width: f64, height: f64) -> Svg {
        Svg {
            width,
            height,
            body: String::new(),
            style: BASE_STYLE.to_string(),
        }
    }

    /// Adds CSS rules to the picture's `<style>`.
    pub fn style(&mut self, css: &str) {
        self.style.push_str(css);
    }

    /// Changes the height (pictures whose length is known only once drawn).
    pub fn set_height(&mut self, height: f64) {
        self.height = height;
    }

    /// Changes the width.
    pub fn set_width(&mut self, width: f64) {
        self.width = width;
    }

    /// Appends raw SVG markup (already escaped).
    pub fn raw(&mut self, markup: &str) {
        self.body.push_str(markup);
    }

    /// A text element; `class` may be empty.
    pub fn text(&mut self, x: f64, y: f64, text: &str, class: &str) {
        self.text_anchored(x, y, text, class, "start");
    }

    /// A text element with a `text-anchor` (`start`, `middle`, `end`).
    pub fn text_anchored(&mut self, x: f64, y: f64, text: &str, class: &str, anchor: &str) {
        let _ = write!(self.body, "<text x=\"{}\" y=\"{}\"", num(x), num(y));
        if !class.is_empty() {
            let _ = write!(self.body, " class=\"{class}\"");
        }
        if anchor != "start" {
            let _ = write!(self.body, " text-anchor=\"{anchor}\"");
        }
        let _ = write!(self.body, ">{}</text>", esc(text));
    }

    /// A text element in a colour.
    pub fn text_fill(&mut self, x: f64, y: f64, text: &str, fill: &str, anchor: &str) {
        let _ = write!(
            self.body,
            "<text x=\"{}\" y=\"{}\" style=\"fill:{fill}\" text-anchor=\"{anchor}\">{}</text>",
            num(x),
            num(y),
            esc(text)
        );
    }

    /// A filled rectangle, optionally with a tooltip (`<title>`).
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, tooltip: Option<&str>) {
        let _ = write!(
            self.body,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"",
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0))
        );
        match tooltip {
            Some(t) => {
                let _ = write!(self.body, "><title>{}</title></rect>", esc(t));
            }
            None => self.body.push_str("/>"),
        }
    }

    /// A rectangle with rounded corners and a border.
    pub fn boxed(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: &str) {
        let _ = write!(
            self.body,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"4\" fill=\"{fill}\" stroke=\"{stroke}\"/>",
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0))
        );
    }

    /// A straight line with a CSS class or inline style.
    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, style: &str) {
        let attr = if style.contains(':') {
            format!("style=\"{style}\"")
        } else {
            format!("class=\"{style}\"")
        };
        let _ = write!(
            self.body,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" {attr}/>",
            num(x1),
            num(y1),
            num(x2),
            num(y2)
        );
    }

    /// The finished document.
    pub fn finish(self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">\
             <style>{}</style><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>{}</svg>\n",
            self.style,
            self.body,
            w = num(self.width),
            h = num(self.height),
        )
    }
}

/// Escapes text for XML content and attribute values.
///
/// ```
/// assert_eq!(cdn_sim::svg::esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
/// ```
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most one decimal and no `-0`: short, stable output.
///
/// ```
/// assert_eq!(cdn_sim::svg::num(12.0), "12");
/// assert_eq!(cdn_sim::svg::num(3.14159), "3.1");
/// assert_eq!(cdn_sim::svg::num(-0.01), "0");
/// ```
pub fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == 0.0 || !r.is_finite() {
        return "0".into();
    }
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// An estimate of a label's width in pixels at `font_px` (no font metrics in pure SVG
/// writing; this errs wide so labels do not collide).
pub fn text_width(s: &str, font_px: f64) -> f64 {
    s.chars().count() as f64 * font_px * 0.58
}

/// The colour of a status code, the same in every picture: greens for success, blue for
/// 304, oranges for client errors, a distinct dark hue per 5xx so stacked charts tell 521
/// from 522.
///
/// ```
/// assert_eq!(cdn_sim::svg::status_color(200), "#43a047");
/// assert_ne!(cdn_sim::svg::status_color(521), cdn_sim::svg::status_color(522));
/// ```
pub fn status_color(code: u16) -> &'static str {
    match code {
        200 => "#43a047",
        201..=299 => "#81c784",
        304 => "#1e88e5",
        300..=399 => "#64b5f6",
        403 => "#f4511e",
        404 => "#ffb300",
        429 => "#ff7043",
        400..=499 => "#ffa726",
        500 => "#8e24aa",
        502 => "#d81b60",
        503 => "#e53935",
        504 => "#6d4c41",
        520 => "#ad1457",
        521 => "#b71c1c",
        522 => "#ef6c00",
        523 => "#9e9d24",
        524 => "#4e342e",
        525 => "#3949ab",
        526 => "#1a237e",
        530 => "#546e7a",
        _ => "#757575",
    }
}

/// The colour of a tier.
pub fn tier_color(tier: Tier) -> &'static str {
    match tier {
        Tier::L1 => "#0288d1",
        Tier::L2 => "#00897b",
        Tier::Origin => "#8d6e63",
    }
}

/// The colour of a cache status.
pub fn cache_color(status: CacheStatus) -> &'static str {
    match status {
        CacheStatus::Hit => "#43a047",
        CacheStatus::Miss => "#9e9e9e",
        CacheStatus::Expired => "#ffb300",
        CacheStatus::Stale => "#8e24aa",
        CacheStatus::Updating => "#ba68c8",
        CacheStatus::Revalidated => "#1e88e5",
        CacheStatus::Bypass => "#616161",
        CacheStatus::Dynamic => "#78909c",
    }
}

/// A configuration value as scenario files spell it: `AcceptQueueFull` → `accept_queue_full`,
/// `RoundRobin` → `round_robin` (from its `Debug` name).
///
/// ```
/// assert_eq!(cdn_sim::svg::scenario_word(&cdn_core::SslMode::OriginPullStrict), "origin_pull_strict");
/// ```
pub fn scenario_word(v: &impl std::fmt::Debug) -> String {
    let mut out = String::new();
    for (i, c) in format!("{v:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The three tiers, in path order.
pub const TIERS: [Tier; 3] = [Tier::L1, Tier::L2, Tier::Origin];

/// A duration in the units a person reads: `80 ms`, `1.08 s`, `19.02 s`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(cdn_sim::svg::human(Duration::from_millis(80)), "80 ms");
/// assert_eq!(cdn_sim::svg::human(Duration::from_micros(2500)), "2.5 ms");
/// assert_eq!(cdn_sim::svg::human(Duration::from_millis(19020)), "19.02 s");
/// ```
pub fn human(d: std::time::Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        trim(format!("{ms:.1}")) + " ms"
    } else {
        trim(format!("{:.2}", ms / 1000.0)) + " s"
    }
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
