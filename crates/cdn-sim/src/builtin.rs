//! The built-in scenarios: embedded in the binary, runnable by name, and kept as files under
//! `scenarios/` so users can copy and edit them.

use crate::scenario::{Scenario, ScenarioError};

macro_rules! builtins {
    ($($name:literal),* $(,)?) => {
        /// Every built-in scenario: (name, TOML source). Read through `crates/cdn-sim/scenarios`,
        /// a symlink to the workspace's `scenarios/`: `cargo package` copies what it points
        /// to, so the published crate carries its built-ins.
        pub const BUILTINS: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../scenarios/", $name, ".toml")))),*
        ];
    };
}

builtins![
    "accept-queue-full",
    "alibaba-security-503",
    "always-online",
    "blackhole-vs-hung",
    "cloudfront-connect-retries",
    "cloudfront-stale-on-5xx",
    "collapse-100",
    "collapse-off-100",
    "collapse-uncacheable-502",
    "dynamic-and-bypass",
    "firewall-drop",
    "firewall-drop-nginx",
    "firewall-reject",
    "l2-dies-with-l1-copies",
    "limit-conn",
    "limit-req-100rps",
    "limit-req-429",
    "limit-req-keepalive",
    "limit-req-many-ips",
    "limit-req-one-ip",
    "negative-caching",
    "nested-timeouts",
    "nginx-l1-times-out-first",
    "nginx-origin-down",
    "nginx-origin-hung",
    "origin-403-deny",
    "origin-close",
    "origin-dns-failure",
    "origin-down",
    "origin-down-mid-run",
    "origin-garbage",
    "origin-hung",
    "origin-overloaded",
    "origin-reset",
    "origin-unreachable",
    "revalidate-304",
    "ssl-flexible-https-only",
    "ssl-full-expired",
    "ssl-full-plain-443",
    "ssl-origin-pull-strict-http-only",
    "ssl-strict-expired",
    "ssl-strict-nginx-verify",
    "ssl-strict-origin-ca",
    "ssl-strict-self-signed",
    "ssl-strict-wrong-host",
    "stale-if-error-window",
    "stale-while-revalidate",
    "vary-accept-encoding",
    "whitelist-rotating-pool",
    "whitelist-stale-snapshot",
];

/// The TOML source of the built-in scenario `name`.
pub fn source(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Parses the built-in scenario `name`.
///
/// ```
/// let s = cdn_sim::builtin::load("origin-down").unwrap();
/// assert_eq!(s.name, "origin-down");
/// ```
pub fn load(name: &str) -> Result<Scenario, ScenarioError> {
    let src = source(name).ok_or_else(|| {
        ScenarioError::new(
            name,
            format!(
                "no such scenario file, and no built-in scenario of that name; built-ins: {}",
                names().join(", ")
            ),
        )
    })?;
    Scenario::from_toml(src, &format!("scenarios/{name}.toml"))
}

/// Names of all built-in scenarios, sorted.
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}

/// (name, one line from the description) for `cdn-sim list`: whole sentences until the
/// line says something (at least 60 characters), cut at a word before 120.
pub fn summaries() -> Vec<(&'static str, String)> {
    BUILTINS
        .iter()
        .map(|(n, _)| {
            let d = load(n).map(|s| s.description).unwrap_or_default();
            (*n, one_line(&d, 60, 120))
        })
        .collect()
}

fn one_line(text: &str, enough: usize, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut line = String::new();
    for sentence in text.split_inclusive(". ") {
        line.push_str(sentence);
        if line.trim_end().len() >= enough {
            break;
        }
    }
    let line = line.trim_end().trim_end_matches('.').to_string();
    if line.chars().count() <= max {
        return line;
    }
    let mut cut = String::new();
    for word in line.split(' ') {
        if cut.chars().count() + word.chars().count() + 1 > max - 1 {
            break;
        }
        if !cut.is_empty() {
            cut.push(' ');
        }
        cut.push_str(word);
    }
    cut + "…"
}
