//! `docs/profiles.md`, generated from [`Profile::defaults`] and [`Profile::error_for`], so the
//! reference cannot drift from the model (`crates/cdn-core/tests/profiles_doc.rs` compares
//! the committed file with [`render_markdown`]).

use super::codes::ALL_FAILURES;
use super::defaults::AgeHeader;
use super::source::{Describe, Source};
use super::{Profile, ALL_PROFILES};
use crate::cache::{Eligibility, StaleOnError, UncacheablePolicy};
use crate::config::ParentErrorPolicy;
use crate::failure::{CertProblem, FailureKind};
use crate::tls::SslMode;
use std::fmt::Write;

/// The whole of `docs/profiles.md`.
///
/// ```
/// let md = cdn_core::profile::render_markdown();
/// assert!(md.contains("| read_timeout | 120 s |"));
/// assert!(md.contains("not documented by the vendor"));
/// ```
pub fn render_markdown() -> String {
    let mut out = String::new();
    out.push_str(INTRO);
    codes_table(&mut out);
    defaults_table(&mut out);
    for p in ALL_PROFILES {
        sources(&mut out, p);
    }
    out
}

const INTRO: &str = "\
# Vendor profiles: every default, with its source

<!-- Generated from crates/cdn-core/src/profile/ by `render_markdown()`. Do not edit by hand:
     change the code, then run
     CDN_UPDATE_DOCS=1 cargo test -p cdn-core --test profiles_doc -->

A profile is one vendor's behaviour: the codes it generates, its timeouts, and its caching
defaults. Every value below comes from the vendor's documentation (or, for nginx and Varnish,
their source), quoted in the per-profile sections; where the vendor says nothing, the value
is a parameter of the model, marked † and explained as \"not documented by the vendor\".
Every `[cdn]` key named in a row overrides the profile's value in a scenario (see
[scenarios.md](scenarios.md)); explicit values always win.

";

fn codes_table(out: &mut String) {
    out.push_str("## Status codes by failure\n\n");
    out.push_str("What the tier whose own connection failed answers.\n\n");
    header(out, "failure");
    for kind in ALL_FAILURES {
        if matches!(
            kind,
            FailureKind::Certificate(
                CertProblem::SelfSigned | CertProblem::WrongHost | CertProblem::UntrustedIssuer
            )
        ) {
            continue; // one row for certificates: every problem gets the same code
        }
        let name = match kind {
            FailureKind::Certificate(_) => "certificate rejected (when verifying)".to_string(),
            k => k.to_string(),
        };
        let _ = write!(out, "| {name} |");
        for p in ALL_PROFILES {
            let _ = write!(out, " {} |", p.error_for(kind).status);
        }
        out.push('\n');
    }
    out.push_str(
        "\n9 is nginx relaying a reply that is not HTTP as an HTTP/0.9 response: no status \
         line at all, `009` in its access log (measured against nginx from apt by \
         `crates/cdn-net/tests/nginx_upstream.rs`; `ngx_http_proxy_process_status_line` in \
         `src/http/modules/ngx_http_proxy_module.c`). An origin's own 5xx is passed through \
         by every profile.\n\n",
    );
}

fn defaults_table(out: &mut String) {
    out.push_str("## Defaults\n\n");
    header(out, "default");
    let rows: Vec<Vec<_>> = ALL_PROFILES.iter().map(|p| p.defaults().rows()).collect();
    for (i, row) in rows[0].iter().enumerate() {
        let _ = write!(out, "| {} |", row.key);
        for profile_rows in &rows {
            let r = &profile_rows[i];
            let mark = if r.source.is_documented() { "" } else { " †" };
            let _ = write!(out, " {}{mark} |", r.value);
        }
        out.push('\n');
    }
    out.push_str("\n† not documented by the vendor: a parameter of the model.\n\n");
    out.push_str("What each default governs:\n\n");
    for row in &rows[0] {
        let _ = writeln!(out, "- `{}`: {}", row.key, row.meaning);
    }
    out.push('\n');
}

fn sources(out: &mut String, p: Profile) {
    let _ = writeln!(out, "## {p}: sources\n");
    for row in p.defaults().rows() {
        let _ = match row.source {
            Source::Documented { url, quote } => {
                writeln!(out, "- `{}` = {} — <{url}>: “{quote}”", row.key, row.value)
            }
            Source::Measured { url, how } => writeln!(
                out,
                "- `{}` = {} — measured: {how} (<{url}>)",
                row.key, row.value
            ),
            Source::Undocumented { why } => writeln!(
                out,
                "- `{}` = {} — not documented by the vendor: {why}",
                row.key, row.value
            ),
        };
    }
    out.push('\n');
}

fn header(out: &mut String, first: &str) {
    let _ = write!(out, "| {first} |");
    for p in ALL_PROFILES {
        let _ = write!(out, " {p} |");
    }
    out.push_str("\n|---|");
    for _ in ALL_PROFILES {
        out.push_str("---|");
    }
    out.push('\n');
}

// ----- how values read in the table ----------------------------------------------------------

impl Describe for SslMode {
    fn describe(&self) -> String {
        match self {
            SslMode::Off => "off",
            SslMode::Flexible => "flexible",
            SslMode::Full => "full (no verification)",
            SslMode::Strict => "strict (verifies)",
            SslMode::OriginPullStrict => "origin_pull_strict",
        }
        .into()
    }
}

impl Describe for ParentErrorPolicy {
    fn describe(&self) -> String {
        match self {
            ParentErrorPolicy::Relay => "relay",
            ParentErrorPolicy::NextParent => "next_parent",
            ParentErrorPolicy::GoDirect => "go_direct",
        }
        .into()
    }
}

impl Describe for Eligibility {
    fn describe(&self) -> String {
        match self {
            Eligibility::Everything => "every GET/HEAD",
            Eligibility::StaticExtensions => "static extensions only",
        }
        .into()
    }
}

impl Describe for UncacheablePolicy {
    fn describe(&self) -> String {
        match self {
            UncacheablePolicy::OneAtATime => "one at a time",
            UncacheablePolicy::All => "all at once",
        }
        .into()
    }
}

impl Describe for StaleOnError {
    fn describe(&self) -> String {
        match self {
            StaleOnError::Directive => "directive only",
            StaleOnError::Unreachable => "any stale copy when the origin is unreachable",
            StaleOnError::ServerError => "any stale copy on 5xx or no response",
        }
        .into()
    }
}

impl Describe for AgeHeader {
    fn describe(&self) -> String {
        match self {
            AgeHeader::Never => "never",
            AgeHeader::Always => "always",
            AgeHeader::FromCache => "from cache only",
        }
        .into()
    }
}

impl Describe for &'static [u16] {
    fn describe(&self) -> String {
        self.iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Describe for Option<&'static [u16]> {
    fn describe(&self) -> String {
        match self {
            Some(list) => list.describe(),
            None => "any".into(),
        }
    }
}
