//! Engine invariants over randomly generated scenarios.

use cdn_core::Tier;
mod common;
use cdn_sim::engine::{simulate, SimOptions};
use proptest::prelude::*;

fn arb_scenario() -> impl Strategy<Value = String> {
    let state = prop::sample::select(vec![
        "up",
        "up",
        "up",
        "down",
        "hung",
        "accept_queue_full",
        "reset",
        "close",
        "garbage",
        "unreachable",
        "dns_failure",
    ]);
    let profile = prop::sample::select(vec![
        "cloudflare",
        "nginx",
        "alibaba",
        "cloudfront",
        "fastly",
        "varnish",
    ]);
    let ssl = prop::sample::select(vec![
        "off",
        "flexible",
        "full",
        "strict",
        "origin_pull_strict",
    ]);
    let cert = prop::sample::select(vec![
        "valid",
        "expired",
        "self_signed",
        "wrong_host",
        "origin_ca",
    ]);
    let policy = prop::sample::select(vec!["relay", "next_parent", "go_direct"]);
    let urls = prop::sample::select(vec!["\"distinct\"", "\"one\"", "5", "50"]);
    let arrival = prop::sample::select(vec!["constant", "poisson", "burst"]);
    (
        (state, profile, ssl, cert, policy),
        (urls, arrival, 1u32..40, any::<bool>(), any::<bool>(), 1u32..4, 1u32..4),
        (0u8..3, 1u32..6, 0u32..6, 1u64..400, 0..i64::MAX as u64, 0u32..3),
    )
        .prop_map(
            |(
                (state, profile, ssl, cert, policy),
                (urls, arrival, count, keepalive, collapse, l1s, l2s),
                (limit, workers, queue, service_ms, seed, down_l2),
            )| {
                let mut t = format!(
                    "name = \"prop\"\nseed = {seed}\nprofile = \"{profile}\"\nduration = \"2s\"\n\
                     [cdn]\nssl_mode = \"{ssl}\"\non_parent_error = \"{policy}\"\nkeepalive = {keepalive}\n\
                     collapse = {collapse}\nconnect_timeout = \"2s\"\nread_timeout = \"3s\"\n"
                );
                for i in 0..l1s {
                    t += &format!("[[cdn.l1]]\nname = \"e{i}\"\ncache = \"20KiB\"\n");
                }
                for i in 0..l2s {
                    let st = if i < down_l2 && i + 1 < l2s { "down" } else { "up" };
                    t += &format!(
                        "[[cdn.l2]]\nname = \"s{i}\"\ncache = \"50KiB\"\nstate = \"{st}\"\negress = [\"127.0.{}.1-127.0.{}.3\"]\n",
                        i + 1,
                        i + 1
                    );
                }
                t += &format!(
                    "[origin]\nstate = \"{state}\"\ncert = \"{cert}\"\nworkers = {workers}\nqueue = {queue}\n\
                     service_time = \"{service_ms}ms\"\nobject_size = \"4KiB\"\n"
                );
                match limit {
                    1 => t += "[origin.limit_req]\nrate = \"10r/s\"\nburst = 3\nnodelay = true\n",
                    2 => t += "[origin.limit_conn]\nmax = 2\n",
                    _ => {}
                }
                let next = if state == "up" { "down" } else { "up" };
                t += &format!(
                    "[[workload]]\narrival = \"{arrival}\"\nrate = \"50/s\"\ncount = {count}\nurls = {urls}\nclients = 7\n\
                     [[event]]\nat = \"1s\"\norigin = {{ state = \"{next}\" }}\n"
                );
                t
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Every request gets exactly one response; origin requests never exceed the fetches
    /// that could have reached it; the same seed gives the same report.
    #[test]
    fn every_request_gets_exactly_one_response(toml in arb_scenario()) {
        let s = common::scenario(&toml);
        let a = simulate(&s, SimOptions { trace: 2, ..Default::default() }).unwrap();
        let r = &a.report;
        prop_assert_eq!(r.status.values().sum::<u64>(), r.requests);
        let by_tier: u64 = r.generated_by.values().flat_map(|m| m.values()).sum();
        prop_assert_eq!(by_tier, r.requests);
        prop_assert_eq!(r.cache[&Tier::L1].hit + r.cache[&Tier::L1].miss, r.requests);
        // Each request reaches the origin at most once per attempt (the profile's attempts,
        // CloudFront's also for response timeouts) on each of at most two routes (its parent,
        // and one reroute: the next parent or the L1 going direct).
        let attempts = u64::from(s.cdn.timeouts(s.profile).connect_attempts);
        let bound = r.requests * 2 * attempts;
        prop_assert!(r.origin_requests <= bound, "{} origin requests > {}", r.origin_requests, bound);
        prop_assert_eq!(a.traces.len() as u64, r.requests.min(2));
        let b = simulate(&s, SimOptions::default()).unwrap().report;
        prop_assert_eq!(r.to_json(), b.to_json());
    }
}
