//! `cdn-sim run … --html FILE`: the run as one self-contained web page — inline SVG and
//! CSS, no script, no font, no request to anywhere (a Content-Security-Policy in the page
//! forbids it) — that someone who has never seen the tool can read: every section says what
//! it shows and how to read it.
//!
//! Sections: what was simulated; the answers at a glance; the topology (egress pools and
//! firewall rules coloured by what they did); status codes over time, by code and by the
//! tier that generated them; the latency distribution; cache statuses per tier; and the
//! sequence diagram of the first request of each status (plus any requested with `--trace`
//! or `--trace-status`).

use crate::answers::Answers;
use crate::report::Report;
use crate::scenario::Scenario;
use crate::svg::chart::{self, BarRow, Columns, Layer, Marker, XAxis};
use crate::svg::{self, esc, status_color, tier_color, TIERS};
use cdn_core::cache::CacheStatus;
use cdn_core::Tier;
use cdn_core::Trace;
use std::fmt::Write;

/// Everything the page is drawn from.
pub struct Page<'a> {
    /// The scenario as run.
    pub scenario: &'a Scenario,
    /// Its report.
    pub report: &'a Report,
    /// Every answer (time, status, tier, latency).
    pub answers: &'a Answers,
    /// Traced requests, in request order.
    pub traces: &'a [Trace],
    /// The command that reproduces the run, shown at the bottom.
    pub command: String,
}

const CSS: &str = "\
:root{color-scheme:light}\
body{margin:0;background:#f4f6f8;color:#1f2933;font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif}\
main{max-width:1000px;margin:0 auto;padding:24px 28px 48px}\
h1{font-size:26px;margin:8px 0 4px}h2{font-size:19px;margin:34px 0 6px;border-top:1px solid #d9e2ec;padding-top:18px}\
p.lead{color:#52606d;margin:0 0 16px}p.how{color:#52606d;margin:2px 0 10px;font-size:14px}\
.desc{background:#fff;border-left:4px solid #0288d1;padding:10px 16px;margin:14px 0;white-space:pre-line}\
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}\
.card{flex:1 1 140px;background:#fff;border:1px solid #d9e2ec;border-radius:6px;padding:10px 14px}\
.card b{display:block;font-size:22px}.card span{color:#52606d;font-size:13px}\
table.codes{border-collapse:collapse;background:#fff;width:100%;font-size:14px}\
table.codes th,table.codes td{border:1px solid #d9e2ec;padding:6px 9px;text-align:left;vertical-align:top}\
table.codes th{background:#eef2f6}\
.chip{display:inline-block;min-width:38px;text-align:center;color:#fff;border-radius:3px;padding:0 6px;font-weight:600}\
figure{margin:10px 0 4px;background:#fff;border:1px solid #d9e2ec;border-radius:6px;padding:6px;overflow-x:auto}\
figure svg{display:block;max-width:100%;height:auto}\
code,kbd{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:13px;background:#eef2f6;padding:1px 5px;border-radius:3px}\
footer{margin-top:36px;color:#52606d;font-size:13px}";

/// The page as HTML.
pub fn render(page: &Page) -> String {
    let Page {
        scenario,
        report,
        answers,
        traces,
        command,
    } = page;
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>cdn-sim: {}</title><style>{CSS}</style></head><body><main>",
        esc(&scenario.name)
    );
    let _ = writeln!(
        h,
        "<h1>{}</h1><p class=\"lead\">A simulated run of a two-tier CDN: visitors → <b>L1</b> edge cache → \
         <b>L2</b> parent cache → <b>origin</b> server. Profile <b>{}</b> (whose error codes and timeouts), seed {}. \
         Everything below comes from this one run; the same command always draws the same page.</p>",
        esc(&scenario.name),
        esc(report.profile.as_str()),
        report.seed
    );
    if !scenario.description.is_empty() {
        let text = scenario
            .description
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(h, "<div class=\"desc\">{}</div>", esc(&text));
    }
    at_a_glance(&mut h, report);
    section(
        &mut h,
        "Topology",
        "Each box is a party; requests flow left to right. Every small square in an L2 box is one of its \
         back-to-origin (egress) addresses, coloured by what the origin does to a connection from it — the \
         origin's firewall sees these addresses, never the visitors'. Under each tier: the responses it generated \
         itself (a relayed response keeps the tier that generated it).",
        &svg::topology::render(scenario, report),
    );
    let markers: Vec<Marker> = scenario
        .events
        .iter()
        .map(|e| Marker {
            at: e.at.as_secs_f64(),
            label: e.changes.clone(),
        })
        .collect();
    let bin = answers.timeline.bin.as_secs_f64();
    let codes: Vec<u16> = report.status.keys().map(|c| c.0).collect();
    let by_code = Columns {
        title: "What visitors got, over time".into(),
        subtitle: format!(
            "answers per {} by status code, when they reached the visitor; dashed lines: [[event]] changes",
            svg::human(answers.timeline.bin)
        ),
        x: XAxis::Time {
            start: 0.0,
            step: bin,
        },
        x_label: "seconds since the start of the run".into(),
        y_label: format!("answers per {}", svg::human(answers.timeline.bin)),
        layers: codes
            .iter()
            .map(|c| Layer {
                label: format!("{c} {}", meaning(*c)),
                color: status_color(*c).into(),
                values: answers
                    .timeline
                    .bins
                    .iter()
                    .map(|b| b.get(c).map_or(0.0, |n| n.iter().sum::<u64>() as f64))
                    .collect(),
            })
            .collect(),
        markers: markers.clone(),
    };
    section(
        &mut h,
        "Status codes over time",
        "Each column is a slice of time; its height is how many answers visitors received then, split by status \
         code. Hover a segment for the exact count. A long timeout shows up as answers arriving long after the \
         requests were sent.",
        &chart::columns(&by_code),
    );
    let by_tier = Columns {
        title: "Who generated those answers, over time".into(),
        subtitle: "the same answers, split by the tier that produced them: l1 or l2 (a cache hit, or an error the \
                   tier generated itself) or the origin"
            .into(),
        layers: TIERS
            .iter()
            .enumerate()
            .map(|(t, tier)| Layer {
                label: format!("generated by {tier}"),
                color: tier_color(*tier).into(),
                values: answers
                    .timeline
                    .bins
                    .iter()
                    .map(|b| b.values().map(|n| n[t]).sum::<u64>() as f64)
                    .collect(),
            })
            .collect(),
        ..by_code
    };
    section(
        &mut h,
        "Status codes by generating tier",
        "When the origin fails, the tier whose own connection failed generates the error (usually the L2) and the \
         tiers in front relay it; when a cache holds a copy, it answers instead and the origin's failure is hidden.",
        &chart::columns(&by_tier),
    );
    section(
        &mut h,
        "How long visitors waited",
        "Latency from the visitor sending the request to receiving the answer, in buckets that grow ×2–×2.5 \
         each (a log scale), split by status code. Errors after a timeout sit far to the right: the timeout is \
         the wait.",
        &latency_chart(answers, report),
    );
    let rows: Vec<BarRow> = [(Tier::L1, "L1 edge"), (Tier::L2, "L2 parent")]
        .iter()
        .map(|(key, label)| BarRow {
            label: (*label).to_string(),
            parts: CacheStatus::ALL
                .iter()
                .map(|s| {
                    let n = report.cache_count(*key, *s);
                    (s.as_str().to_string(), n, svg::cache_color(*s).to_string())
                })
                .collect(),
        })
        .collect();
    section(
        &mut h,
        "What the caches did",
        "For every request that reached a tier, its cache decision: HIT (fresh copy), MISS (not stored), EXPIRED \
         (stored but stale, asked upstream), STALE (served stale because upstream failed), UPDATING (served stale \
         while revalidating), REVALIDATED (upstream said 304), BYPASS and DYNAMIC (not cacheable). A hit at L1 \
         never reaches L2.",
        &chart::share_bars("Cache statuses per tier", "share of the requests that reached each tier", &rows),
    );
    let _ = writeln!(
        h,
        "<h2>Requests, step by step</h2><p class=\"how\">Sequence diagrams of traced requests: one vertical line per \
         party, time running down (rows follow events; the time since the visitor sent the request is on the left, \
         and a long wait is drawn as a break). Arrows are messages — a SYN lost on the way ends in a cross — and \
         boxes are decisions. Shown: the first request that ended with each status code{}.</p>",
        if traces.len() > codes.len() {
            ", and the requests asked for with --trace"
        } else {
            ""
        }
    );
    let mut seen_codes = std::collections::BTreeSet::new();
    for t in traces.iter() {
        let heading = if seen_codes.insert(t.status) {
            format!(
                "The first request that got {} ({}): request #{}",
                t.status,
                meaning(t.status),
                t.request
            )
        } else {
            format!("Request #{} ({})", t.request, t.status)
        };
        let _ = writeln!(
            h,
            "<h3 style=\"font-size:16px;margin:18px 0 4px\">{}</h3><figure>{}</figure>",
            esc(&heading),
            svg::sequence::render_with_id(t, &format!("r{}", t.request))
        );
    }
    let _ = writeln!(
        h,
        "<footer>Drawn by cdn-sim from the run <code>{}</code>. Status codes are explained by <code>cdn-sim explain \
         CODE</code> and in the project's <code>docs/errors/</code> pages.</footer></main></body></html>",
        esc(command)
    );
    h
}

fn section(h: &mut String, title: &str, how: &str, svg: &str) {
    let _ = writeln!(
        h,
        "<h2>{}</h2><p class=\"how\">{}</p><figure>{}</figure>",
        esc(title),
        esc(how),
        svg
    );
}

fn at_a_glance(h: &mut String, r: &Report) {
    let top = r
        .status
        .iter()
        .max_by_key(|(c, n)| (**n, std::cmp::Reverse(**c)));
    let _ = write!(h, "<div class=\"cards\">");
    let mut card = |value: String, what: &str| {
        let _ = write!(
            h,
            "<div class=\"card\"><b>{}</b><span>{}</span></div>",
            esc(&value),
            esc(what)
        );
    };
    card(r.requests.to_string(), "requests from visitors");
    if let Some((code, n)) = top {
        card(format!("{code} × {n}"), "the most common answer");
    }
    card(
        r.origin_requests.to_string(),
        "requests that reached the origin",
    );
    card(format!("{} ms", r.latency_ms.p50), "median wait (p50)");
    card(
        format!("{} ms", r.latency_ms.p99),
        "slowest 1 % waited at least (p99)",
    );
    let _ = writeln!(h, "</div>");
    let _ = write!(
        h,
        "<table class=\"codes\"><tr><th>status</th><th>answers</th><th>share</th><th>generated by</th><th>what it means</th></tr>"
    );
    for (code, n) in &r.status {
        let c: u16 = code.0;
        let by: Vec<String> = r.generated_by[code]
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        let _ = write!(
            h,
            "<tr><td><span class=\"chip\" style=\"background:{}\">{code}</span></td><td>{n}</td><td>{:.1}%</td><td>{}</td><td>{}</td></tr>",
            status_color(c),
            100.0 * *n as f64 / r.requests.max(1) as f64,
            esc(&by.join(", ")),
            esc(crate::explain::lookup(c).map_or(meaning(c), |e| e.title))
        );
    }
    let _ = writeln!(h, "</table>");
}

/// Latency buckets on a 1-2-5 grid (from the first bucket anyone fell in to the last),
/// stacked by status.
fn latency_chart(answers: &Answers, report: &Report) -> String {
    let grid = crate::answers::grid();
    let all = answers.all_latencies();
    let used = |i: &usize| all.counts.get(*i).is_some_and(|n| *n > 0);
    let lo = (0..grid.len()).find(used).unwrap_or(0);
    let hi = (0..grid.len()).rev().find(used).unwrap_or(0);
    let label = |us: u64| svg::human(std::time::Duration::from_micros(us)).replace(' ', "");
    let names: Vec<String> = (lo..=hi)
        .map(|i| match grid.get(i + 1) {
            Some(&next) => format!("{}–{}", label(grid[i]), label(next)),
            None => format!("≥ {}", label(grid[i])),
        })
        .collect();
    let layers: Vec<Layer> = answers
        .latency
        .iter()
        .map(|(code, h)| Layer {
            label: format!("{code} {}", meaning(*code)),
            color: status_color(*code).into(),
            values: (lo..=hi)
                .map(|i| h.counts.get(i).copied().unwrap_or(0) as f64)
                .collect(),
        })
        .collect();
    let l = &report.latency_ms;
    chart::columns(&Columns {
        title: "Latency distribution".into(),
        subtitle: format!(
            "answers per latency bucket (from … up to, not including …); p50 {} ms, p99 {} ms, max {} ms",
            l.p50, l.p99, l.max
        ),
        x: XAxis::Categories(names),
        x_label: "time from sending the request to receiving the answer".into(),
        y_label: "answers".into(),
        layers,
        markers: Vec::new(),
    })
}

/// A status code's name without the vendor: the explanation's title up to any
/// parenthesis ("Web server is down"), else the standard reason phrase.
pub fn meaning(code: u16) -> &'static str {
    if let Some(e) = crate::explain::lookup(code) {
        return e.title.split(" (").next().unwrap_or(e.title);
    }
    crate::explain::reason_phrase(code)
}
