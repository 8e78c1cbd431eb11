//! The generated parts of the pages under `docs/errors/`: for each status code, the table of
//! which code each vendor profile answers for each kind of failure (from
//! [`Profile::error_for`] and [`Profile::defaults`], so it cannot drift from the model), the
//! commands that show the code, and a sequence diagram drawn from a real trace of the first
//! built-in scenario that produces it.
//!
//! Pages are written by hand around marked blocks:
//!
//! ```text
//! <!-- BEGIN generated:profiles -->   …table…   <!-- END generated:profiles -->
//! <!-- BEGIN generated:see-it -->     …commands and diagram…   <!-- END generated:see-it -->
//! ```
//!
//! `cdn-sim docs` rewrites the blocks and the diagrams (`docs/errors/img/NNN.svg`);
//! `cdn-sim docs --check` (and the test `error_pages`) fails when a committed page or diagram
//! differs from what the model gives today.

use crate::builtin;
use crate::explain;
use crate::progress::Progress;
use crate::run::{run, RunPlan};
use crate::svg::sequence;
use cdn_core::profile::ALL_PROFILES;
use cdn_core::{CertProblem, FailureKind, Profile};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The codes that have a page.
pub const CODES: [u16; 14] = [
    403, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 525, 526, 530,
];

/// The failures a tier can meet on its way to the next tier, with what a person would say
/// happened.
const FAILURES: [(FailureKind, &str); 13] = [
    (
        FailureKind::Refused,
        "connection refused: nothing listens, or a firewall REJECTs (RST / ICMP port unreachable)",
    ),
    (
        FailureKind::ConnectTimeout,
        "SYN unanswered: a firewall DROPs it, or the accept queue is full",
    ),
    (
        FailureKind::Unreachable,
        "no route to host (ICMP host unreachable)",
    ),
    (
        FailureKind::ReadTimeout,
        "connected and request sent, no response header in time",
    ),
    (
        FailureKind::AckTimeout,
        "connected, but the request is never acknowledged (a black hole after the handshake)",
    ),
    (
        FailureKind::WriteTimeout,
        "connected, but the origin stops reading the request",
    ),
    (
        FailureKind::Reset,
        "connection reset (RST) before the response",
    ),
    (
        FailureKind::ClosedEarly,
        "connection closed (FIN) without a response",
    ),
    (FailureKind::InvalidResponse, "a reply that is not HTTP"),
    (
        FailureKind::HeaderTooLarge,
        "response headers larger than the proxy accepts",
    ),
    (
        FailureKind::TlsHandshake,
        "TLS handshake failed (e.g. plain HTTP on port 443)",
    ),
    (
        FailureKind::Certificate(CertProblem::Expired),
        "certificate rejected while verifying (expired, self-signed, wrong name)",
    ),
    (FailureKind::Dns, "the origin's hostname does not resolve"),
];

fn secs(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// The wait before a failure is concluded, under `profile`, if it is a timeout.
fn wait(profile: Profile, kind: FailureKind) -> Option<String> {
    let d = profile.defaults();
    let attempts = d.connect_attempts.value;
    match kind {
        FailureKind::ConnectTimeout if attempts > 1 => {
            Some(format!("{attempts} × {}", secs(d.connect_timeout.value)))
        }
        FailureKind::ConnectTimeout => Some(secs(d.connect_timeout.value)),
        FailureKind::ReadTimeout => Some(secs(d.read_timeout.value)),
        // Without an ACK timeout of its own, an unacknowledged request waits for the read
        // timeout.
        FailureKind::AckTimeout => Some(secs(d.ack_timeout.value.unwrap_or(d.read_timeout.value))),
        FailureKind::WriteTimeout => d.write_timeout.value.map(secs),
        _ => None,
    }
}

/// The markdown table for `code`: rows are the failures some profile turns into `code`
/// (or, for a code no profile generates, the origin answering it), columns the profiles.
pub fn profile_table(code: u16) -> String {
    let mut s = String::new();
    let _ = write!(s, "| what the L2 met on its way to the origin |");
    for p in ALL_PROFILES {
        let _ = write!(s, " {} |", p.as_str());
    }
    s.push_str("\n|---|");
    for _ in ALL_PROFILES {
        s.push_str("---|");
    }
    s.push('\n');
    let mut rows: Vec<(FailureKind, &str)> = FAILURES
        .iter()
        .copied()
        .filter(|(k, _)| ALL_PROFILES.iter().any(|p| p.error_for(*k).status == code))
        .collect();
    let passed_through = rows.is_empty() || code == 502 || code == 503 || code == 504;
    if passed_through {
        rows.push((FailureKind::UpstreamStatus(code), ""));
    }
    let mut relays_09 = false;
    for (kind, what) in rows {
        let label = match kind {
            FailureKind::UpstreamStatus(c) => format!("the origin itself answered {c}"),
            _ => what.to_string(),
        };
        let _ = write!(s, "| {label} |");
        for p in ALL_PROFILES {
            let g = p.error_for(kind);
            relays_09 |= g.status == cdn_core::profile::HTTP_09_RELAY;
            let cell = if matches!(kind, FailureKind::UpstreamStatus(_)) {
                format!("**{}** passed through", g.status)
            } else if g.status == code {
                format!("**{}**", g.status)
            } else {
                g.status.to_string()
            };
            let cell = match wait(p, kind) {
                Some(w) => format!("{cell} after {w}"),
                None => cell,
            };
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
    }
    s.push_str(
        "\nBold: this code. The tier that generates it is the one whose own connection failed — \
         the L2 for a failure at the origin (the L1 when its hop to the L2 fails, or when its \
         `parent_read_timeout` runs out first); a code the origin answers is generated by the \
         origin and relayed unchanged. Certificates are checked only in `ssl_mode = \"strict\"` / \
         `\"origin_pull_strict\"` (nginx: `proxy_ssl_verify on`), and `cdn.cert_error_status` \
         overrides the certificate row. Waits are the profile's defaults \
         ([docs/profiles.md](../profiles.md) cites each; `cdn.connect_timeout`, \
         `cdn.connect_attempts`, `cdn.read_timeout` override them).\n",
    );
    if relays_09 {
        s.push_str(
            "\nStatus 9 is nginx relaying a reply that is not HTTP as HTTP/0.9: no status line, \
             `009` in its access log (measured against nginx 1.22).\n",
        );
    }
    s
}

/// The built-in scenario whose trace illustrates `code`: the first one `explain` suggests
/// (pages' codes name plain built-ins, without `--set`).
pub fn scenario_for(code: u16) -> &'static str {
    explain::lookup(code)
        .and_then(|e| e.scenarios.first().copied())
        .unwrap_or_else(|| panic!("no built-in scenario listed for {code} in explain"))
}

/// The sequence diagram of the first request of [`scenario_for`] that ended with `code`.
pub fn diagram(code: u16) -> Result<String, String> {
    let name = scenario_for(code);
    let scenario = builtin::load(name).map_err(|e| e.to_string())?;
    let plan = RunPlan {
        trace: 1,
        trace_status: Some(code),
        collect: false,
    };
    let out = run(&scenario, &plan, &Progress::hidden()).map_err(|e| format!("{name}: {e}"))?;
    let trace = out
        .traces
        .first()
        .ok_or_else(|| format!("{name}: no request ended with {code}"))?;
    Ok(sequence::render_with_id(trace, &format!("e{code}")))
}

/// The "see it happen" block for `code`.
pub fn see_it(code: u16) -> String {
    let e = explain::lookup(code).expect("every page's code is explained");
    let mut s = String::from("```sh\n");
    for c in explain::commands(e) {
        let _ = writeln!(s, "{c}");
    }
    s.push_str("```\n\n");
    let _ = writeln!(
        s,
        "The first request of `{}` that got {code}, drawn by `cdn-sim docs` from its trace:\n\n\
         ![sequence diagram: the first request of {} that got {code}](img/{code}.svg)",
        scenario_for(code),
        scenario_for(code),
    );
    s
}

fn replace_block(page: &str, name: &str, body: &str, file: &Path) -> Result<String, String> {
    let begin = format!("<!-- BEGIN generated:{name} -->");
    let end = format!("<!-- END generated:{name} -->");
    let b = page
        .find(&begin)
        .ok_or_else(|| format!("{}: no `{begin}` marker", file.display()))?;
    let e = page[b..]
        .find(&end)
        .map(|i| b + i)
        .ok_or_else(|| format!("{}: no `{end}` marker after `{begin}`", file.display()))?;
    Ok(format!("{}{begin}\n{body}{}", &page[..b], &page[e..]))
}

/// One file as it should be: its path and bytes.
pub struct Expected {
    /// Where.
    pub path: PathBuf,
    /// What.
    pub bytes: String,
}

/// Every page and diagram under `dir` (usually `docs/errors`) as the model gives them today.
/// Pages are read from `dir` (their hand-written parts are kept).
pub fn expected(dir: &Path) -> Result<Vec<Expected>, String> {
    let mut out = Vec::new();
    for code in CODES {
        let path = dir.join(format!("{code}.md"));
        let page = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let page = replace_block(&page, "profiles", &profile_table(code), &path)?;
        let page = replace_block(&page, "see-it", &see_it(code), &path)?;
        out.push(Expected { path, bytes: page });
        out.push(Expected {
            path: dir.join("img").join(format!("{code}.svg")),
            bytes: diagram(code)?,
        });
    }
    Ok(out)
}

/// The files under `dir` that differ from [`expected`] (or are missing).
pub fn stale(dir: &Path) -> Result<Vec<PathBuf>, String> {
    Ok(expected(dir)?
        .into_iter()
        .filter(|e| std::fs::read_to_string(&e.path).ok().as_deref() != Some(e.bytes.as_str()))
        .map(|e| e.path)
        .collect())
}

/// Rewrites the generated parts under `dir`; returns the files that changed.
pub fn write(dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir.join("img"))
        .map_err(|e| format!("{}: {e}", dir.join("img").display()))?;
    let mut changed = Vec::new();
    for e in expected(dir)? {
        if std::fs::read_to_string(&e.path).ok().as_deref() != Some(e.bytes.as_str()) {
            std::fs::write(&e.path, &e.bytes)
                .map_err(|err| format!("{}: cannot write: {err}", e.path.display()))?;
            changed.push(e.path);
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_522_table_comes_from_the_profiles() {
        let t = profile_table(522);
        assert!(t.contains("SYN unanswered"));
        let cf = Profile::Cloudflare.defaults().connect_timeout.value;
        assert!(t.contains(&format!("**522** after {}", secs(cf))), "{t}");
        assert!(!t.contains("connection refused"), "only rows that give 522");
    }

    #[test]
    fn a_code_no_profile_generates_is_passed_through() {
        let t = profile_table(500);
        assert!(t.contains("the origin itself answered 500"));
        assert_eq!(
            t.matches("**500** passed through").count(),
            ALL_PROFILES.len()
        );
    }

    #[test]
    fn every_page_has_a_diagram_of_its_code() {
        for code in CODES {
            let svg = diagram(code).unwrap();
            assert!(svg.contains(&format!("→ {code} generated by")), "{code}");
        }
    }
}
