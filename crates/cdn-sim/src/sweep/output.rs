//! A sweep as a terminal table, CSV, JSON, or an SVG plot of each status code's share
//! against the swept value. All four are functions of the [`SweepDoc`] alone, so a merged set
//! of slices prints exactly what the whole sweep prints.

use super::SweepDoc;
use crate::svg::chart::{line_panels, Layer, LinePanel};
use crate::svg::status_color;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

const TIERS: [&str; 3] = ["l1", "l2", "origin"];

/// The JSON document (keys sorted at every level; same sweep, same bytes).
pub fn to_json(doc: &SweepDoc) -> String {
    let value = serde_json::to_value(doc).expect("plain data");
    serde_json::to_string_pretty(&value).expect("plain data") + "\n"
}

/// Reads a document printed by [`to_json`].
pub fn from_json(text: &str, file: &str) -> Result<SweepDoc, String> {
    serde_json::from_str(text).map_err(|e| {
        format!(
            "{file}:{}: not the JSON of a sweep (cdn-sim sweep … --json or --shard): {e}",
            e.line()
        )
    })
}

fn status_codes(doc: &SweepDoc) -> Vec<String> {
    let mut codes = BTreeSet::new();
    for r in &doc.rows {
        if let Some(Value::Object(m)) = r.report.get("status") {
            codes.extend(m.keys().cloned());
        }
    }
    codes.into_iter().collect()
}

fn count(report: &Value, code: &str) -> u64 {
    report["status"][code].as_u64().unwrap_or(0)
}

fn share(report: &Value, code: &str) -> f64 {
    let total = report["requests"].as_u64().unwrap_or(0);
    if total == 0 {
        0.0
    } else {
        100.0 * count(report, code) as f64 / total as f64
    }
}

fn latency(report: &Value, p: &str) -> String {
    report["latency_ms"][p]
        .as_f64()
        .map_or("-".into(), |v| format!("{v}"))
}

/// The terminal table: one row per run.
pub fn to_table(doc: &SweepDoc) -> String {
    let codes = status_codes(doc);
    let mut header: Vec<String> = doc.settings.iter().map(|s| s.key.clone()).collect();
    header.push("requests".into());
    header.extend(codes.iter().map(|c| format!("{c} (by)")));
    header.extend(["origin req".into(), "p50 ms".into(), "p99 ms".into()]);
    let mut rows: Vec<Vec<String>> = Vec::new();
    for r in &doc.rows {
        let mut row: Vec<String> = doc.settings.iter().map(|s| r.set[&s.key].clone()).collect();
        row.push(r.report["requests"].to_string());
        for c in &codes {
            let n = count(&r.report, c);
            if n == 0 {
                row.push("-".into());
                continue;
            }
            let by: Vec<&str> = TIERS
                .iter()
                .filter(|t| r.report["generated_by"][c][**t].as_u64().unwrap_or(0) > 0)
                .copied()
                .collect();
            row.push(format!("{:.1}% {}", share(&r.report, c), by.join("+")));
        }
        row.push(r.report["origin_requests"].to_string());
        row.push(latency(&r.report, "p50"));
        row.push(latency(&r.report, "p99"));
        rows.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = format!(
        "sweep of {} · {} runs · share of requests per status code (and the tiers that generated it)\n\n",
        doc.scenario, doc.runs
    );
    for line in std::iter::once(&header).chain(rows.iter()) {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(s, "  {}", cells.join("  ").trim_end());
    }
    s
}

/// CSV with a header: the settings, then per status code its count and share, per
/// (code, tier) the count generated there, origin requests and latency percentiles.
pub fn to_csv(doc: &SweepDoc) -> String {
    let codes = status_codes(doc);
    let mut by_tier: BTreeMap<(String, &str), ()> = BTreeMap::new();
    for r in &doc.rows {
        for c in &codes {
            for t in TIERS {
                if r.report["generated_by"][c][t].as_u64().unwrap_or(0) > 0 {
                    by_tier.insert((c.clone(), t), ());
                }
            }
        }
    }
    let mut header: Vec<String> = doc.settings.iter().map(|s| csv_cell(&s.key)).collect();
    header.push("requests".into());
    for c in &codes {
        header.push(format!("status_{c}"));
        header.push(format!("share_{c}"));
    }
    for (c, t) in by_tier.keys() {
        header.push(format!("generated_{c}_{t}"));
    }
    header.extend(
        ["origin_requests", "p50_ms", "p90_ms", "p99_ms", "max_ms"]
            .iter()
            .map(|s| s.to_string()),
    );
    let mut s = header.join(",") + "\n";
    for r in &doc.rows {
        let mut row: Vec<String> = doc
            .settings
            .iter()
            .map(|st| csv_cell(&r.set[&st.key]))
            .collect();
        row.push(r.report["requests"].to_string());
        for c in &codes {
            row.push(count(&r.report, c).to_string());
            row.push(format!("{:.4}", share(&r.report, c) / 100.0));
        }
        for (c, t) in by_tier.keys() {
            row.push(
                r.report["generated_by"][c][*t]
                    .as_u64()
                    .unwrap_or(0)
                    .to_string(),
            );
        }
        row.push(r.report["origin_requests"].to_string());
        for p in ["p50", "p90", "p99", "max"] {
            row.push(latency(&r.report, p));
        }
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

fn csv_cell(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// The share of each status code against the first setting's values; one panel per
/// combination of the other settings.
pub fn to_svg(doc: &SweepDoc) -> String {
    let codes = status_codes(doc);
    let x = &doc.settings[0];
    let others = &doc.settings[1..];
    // Rows are numbered with the first setting varying slowest: the rows of one panel are
    // those with equal values of the others.
    let mut panels: BTreeMap<usize, LinePanel> = BTreeMap::new();
    let stride: usize = others.iter().map(|s| s.values.len()).product();
    for r in &doc.rows {
        let panel = r.index % stride.max(1);
        let p = panels.entry(panel).or_insert_with(|| LinePanel {
            title: if others.is_empty() {
                String::new()
            } else {
                others
                    .iter()
                    .map(|s| format!("{} = {}", s.key, r.set[&s.key]))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            x_labels: x.values.clone(),
            lines: codes
                .iter()
                .map(|c| Layer {
                    label: format!("{c} {}", crate::html::meaning(c.parse().unwrap_or(0))),
                    color: status_color(c.parse().unwrap_or(0)).into(),
                    values: vec![0.0; x.values.len()],
                })
                .collect(),
        });
        let xi = r.index / stride.max(1);
        for (line, c) in p.lines.iter_mut().zip(&codes) {
            line.values[xi] = share(&r.report, c);
        }
    }
    let panels: Vec<LinePanel> = panels.into_values().collect();
    line_panels(
        &format!(
            "{}: share of each status code against {}",
            doc.scenario, x.key
        ),
        &format!(
            "{} runs; each point is one simulated run (deterministic: same values, same result)",
            doc.runs
        ),
        &x.key,
        &panels,
    )
}
