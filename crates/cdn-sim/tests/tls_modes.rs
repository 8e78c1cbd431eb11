//! FAILURES.md §2: each SSL mode against each origin listener and certificate state that
//! matters, under Cloudflare (its own names) and nginx (strict = proxy_ssl_verify on).

use cdn_core::Tier;
mod common;
use common::*;

fn tls(profile: &str, mode: &str, scheme: &str, origin: &str) -> cdn_sim::report::Report {
    run(&format!(
        "name = \"t\"\nprofile = \"{profile}\"\n[cdn]\nssl_mode = \"{mode}\"\n[origin]\n{origin}\n[[workload]]\narrival = \"burst\"\ncount = 3\nscheme = \"{scheme}\"\n"
    ))
}

#[track_caller]
fn expect(r: &cdn_sim::report::Report, status: u16, tier: Tier) {
    assert_eq!(r.count(status), 3, "{:?}", r.status);
    assert_eq!(r.generated(status, tier), 3, "{:?}", r.generated_by);
}

#[test]
fn off_fetches_http_80() {
    expect(
        &tls("cloudflare", "off", "http", "http = true\nhttps = \"none\""),
        200,
        Tier::Origin,
    );
    expect(
        &tls("cloudflare", "off", "http", "http = false"),
        521,
        Tier::L2,
    );
    expect(&tls("nginx", "off", "http", "http = false"), 502, Tier::L2);
}

#[test]
fn flexible_always_fetches_http_80_even_for_https_visitors() {
    expect(
        &tls(
            "cloudflare",
            "flexible",
            "https",
            "http = true\nhttps = \"none\"",
        ),
        200,
        Tier::Origin,
    );
    // Origin only on 443: refused on 80.
    expect(
        &tls("cloudflare", "flexible", "https", "http = false"),
        521,
        Tier::L2,
    );
    expect(
        &tls("nginx", "flexible", "https", "http = false"),
        502,
        Tier::L2,
    );
}

#[test]
fn full_follows_the_visitor_scheme_and_checks_no_certificate() {
    for cert in ["valid", "expired", "self_signed", "wrong_host", "origin_ca"] {
        let o = format!("cert = \"{cert}\"");
        expect(&tls("cloudflare", "full", "https", &o), 200, Tier::Origin);
        expect(&tls("nginx", "full", "https", &o), 200, Tier::Origin);
    }
    // HTTP visitors are fetched over HTTP :80, so 443 does not matter.
    expect(
        &tls("cloudflare", "full", "http", "https = \"none\""),
        200,
        Tier::Origin,
    );
    expect(
        &tls("cloudflare", "full", "https", "https = \"plain\""),
        525,
        Tier::L2,
    );
    expect(
        &tls("cloudflare", "full", "https", "https = \"none\""),
        521,
        Tier::L2,
    );
    expect(
        &tls("nginx", "full", "https", "https = \"plain\""),
        502,
        Tier::L2,
    );
    expect(
        &tls("nginx", "full", "https", "https = \"none\""),
        502,
        Tier::L2,
    );
}

#[test]
fn strict_requires_a_trusted_certificate_for_the_right_name() {
    expect(
        &tls("cloudflare", "strict", "https", "cert = \"valid\""),
        200,
        Tier::Origin,
    );
    for cert in ["expired", "self_signed", "wrong_host"] {
        let o = format!("cert = \"{cert}\"");
        expect(&tls("cloudflare", "strict", "https", &o), 526, Tier::L2);
        expect(&tls("nginx", "strict", "https", &o), 502, Tier::L2);
    }
    expect(
        &tls("cloudflare", "strict", "https", "https = \"plain\""),
        525,
        Tier::L2,
    );
}

#[test]
fn origin_ca_is_trusted_by_its_own_cdn_only() {
    expect(
        &tls("cloudflare", "strict", "https", "cert = \"origin_ca\""),
        200,
        Tier::Origin,
    );
    expect(
        &tls("nginx", "strict", "https", "cert = \"origin_ca\""),
        502,
        Tier::L2,
    );
}

#[test]
fn origin_pull_strict_always_fetches_https_and_verifies() {
    // HTTP-only origin: nothing on 443 → refused (521); plain HTTP on 443 → 525.
    expect(
        &tls(
            "cloudflare",
            "origin_pull_strict",
            "http",
            "https = \"none\"",
        ),
        521,
        Tier::L2,
    );
    expect(
        &tls(
            "cloudflare",
            "origin_pull_strict",
            "http",
            "https = \"plain\"",
        ),
        525,
        Tier::L2,
    );
    expect(
        &tls(
            "cloudflare",
            "origin_pull_strict",
            "http",
            "cert = \"expired\"",
        ),
        526,
        Tier::L2,
    );
    expect(
        &tls(
            "cloudflare",
            "origin_pull_strict",
            "http",
            "cert = \"valid\"",
        ),
        200,
        Tier::Origin,
    );
    expect(
        &tls(
            "nginx",
            "origin_pull_strict",
            "http",
            "cert = \"self_signed\"",
        ),
        502,
        Tier::L2,
    );
}
