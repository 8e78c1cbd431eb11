//! Caching invariants over random topologies and workloads.

mod common;
use cdn_sim::engine::{simulate, SimOptions};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// With long freshness and a healthy origin, a key is fetched from the origin once:
    /// every later request is a fresh hit somewhere and never reaches the origin.
    #[test]
    fn a_fresh_hit_never_reaches_the_origin(
        keys in 1u64..40,
        rate in 5u32..200,
        l1s in 1usize..4,
        l2s in 1usize..3,
        zipf in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let mut toml = format!("name = \"p\"\nseed = {seed}\nduration = \"5s\"\n");
        for i in 0..l1s { toml += &format!("[[cdn.l1]]\nname = \"e{i}\"\n"); }
        for i in 0..l2s { toml += &format!("[[cdn.l2]]\nname = \"s{i}\"\n"); }
        let popularity = if zipf { "zipf:1.0" } else { "uniform" };
        toml += &format!(
            "[origin]\ncache_control = \"max-age=3600\"\nworkers = 64\nqueue = 1000\n\
             [[workload]]\nrate = \"{rate}/s\"\nurls = {keys}\npopularity = \"{popularity}\"\nclients = 17\n"
        );
        let out = simulate(&common::scenario(&toml), SimOptions { trace: 2000, ..Default::default() }).unwrap();
        let distinct: std::collections::BTreeSet<_> = out.traces.iter().map(|t| t.path.clone()).collect();
        prop_assert_eq!(out.report.origin_requests, distinct.len() as u64);
    }

    /// With collapsing on, any number of concurrent misses for one key, spread over any
    /// number of edges, produce exactly one origin request while the response is cacheable.
    #[test]
    fn concurrent_misses_collapse_to_one_origin_request(
        clients in 1u32..300,
        l1s in 1usize..5,
        l2s in 1usize..4,
        service_ms in 1u64..3000,
    ) {
        let mut toml = "name = \"p\"\n[cdn]\ncollapse = true\n".to_string();
        for i in 0..l1s { toml += &format!("[[cdn.l1]]\nname = \"e{i}\"\n"); }
        for i in 0..l2s { toml += &format!("[[cdn.l2]]\nname = \"s{i}\"\n"); }
        toml += &format!(
            "[origin]\nservice_time = \"{service_ms}ms\"\n\
             [[workload]]\narrival = \"burst\"\ncount = {clients}\nurls = \"one\"\nclients = {clients}\n"
        );
        let r = simulate(&common::scenario(&toml), SimOptions::default()).unwrap().report;
        prop_assert_eq!(r.origin_requests, 1);
        prop_assert_eq!(r.count(200), u64::from(clients));
    }
}
