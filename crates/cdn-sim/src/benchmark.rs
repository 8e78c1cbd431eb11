//! The standard benchmark workload, shared by `benches/simulator.rs` and
//! `examples/throughput.rs`: 4 L1 × 2 L2, a healthy origin, 4 KiB objects, zipf 1.0 over
//! 1M keys, L1 caches 1 % and L2 caches 10 % of the key space, traces off.

use crate::scenario::{Arrival, Popularity, Scenario, Urls, Workload, WorkloadMethod};
use crate::workload::WorkloadGen;
use cdn_core::units::Rate;
use cdn_core::{CdnConfig, NetworkConfig, NodeConfig, OriginConfig, Profile, Scheme};
use std::time::Duration;

/// Keys in the standard workload.
pub const KEYS: u64 = 1_000_000;
/// Object size in the standard workload.
pub const OBJECT_SIZE: u64 = 4096;
/// Arrival rate in virtual time (it only sets how many requests are in flight at once).
pub const RATE_PER_S: f64 = 100_000.0;

/// The standard scenario, sending `requests` requests.
pub fn standard_scenario(requests: u64) -> Scenario {
    let node = |name: String, objects: u64| NodeConfig {
        cache: Some(objects * OBJECT_SIZE),
        ..NodeConfig::named(name)
    };
    Scenario {
        name: "benchmark".into(),
        description: "standard benchmark workload".into(),
        seed: 1,
        profile: Profile::Cloudflare,
        duration: Duration::from_secs_f64(requests as f64 / RATE_PER_S + 1.0),
        cdn: CdnConfig {
            l1: (1..=4)
                .map(|i| node(format!("edge-{i}"), KEYS / 100))
                .collect(),
            l2: (1..=2)
                .map(|i| node(format!("shield-{i}"), KEYS / 10))
                .collect(),
            ..CdnConfig::default()
        },
        network: NetworkConfig::default(),
        origin: OriginConfig {
            workers: 10_000,
            queue: 10_000,
            service_time: Duration::from_millis(1),
            cache_control: "max-age=86400".into(),
            object_size: OBJECT_SIZE,
            ..OriginConfig::default()
        },
        workloads: vec![Workload {
            start: Duration::ZERO,
            rate: Rate::per_second_f64(RATE_PER_S),
            arrival: Arrival::Constant,
            count: Some(requests),
            urls: Urls::Keys(KEYS),
            popularity: Popularity::Zipf(1.0),
            clients: 10_000,
            scheme: Scheme::Https,
            path: "/assets/{key}.png".into(),
            method: WorkloadMethod::Get,
            accept_encoding: vec![cdn_core::message::Encoding::Gzip],
            trace: None,
        }],
        events: Vec::new(),
    }
}

/// The key numbers `scenario`'s workload requests, in order, as plain numbers (for the bare
/// LRU baseline): drawn by the simulator's own generator with the simulator's seed, so the
/// baseline replays exactly the keys the simulated clients ask for.
///
/// # Panics
/// If the scenario does not have exactly one workload (the engine interleaves several by
/// arrival time; the standard scenario has one).
pub fn key_sequence(scenario: &Scenario) -> Vec<u64> {
    let [workload] = &scenario.workloads[..] else {
        panic!("key_sequence replays a scenario with exactly one workload");
    };
    let mut generator = WorkloadGen::new(workload, 0, scenario.duration, scenario.seed);
    std::iter::from_fn(|| generator.next_arrival())
        .map(|a| a.key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{simulate, SimOptions};

    /// The baseline's keys are the ones the simulated clients request: the paths of the
    /// traced requests carry the same key numbers, in the same order.
    #[test]
    fn key_sequence_is_the_simulated_workload() {
        let scenario = standard_scenario(300);
        let keys = key_sequence(&scenario);
        assert_eq!(keys.len(), 300);
        let out = simulate(
            &scenario,
            SimOptions {
                trace: 300,
                ..SimOptions::default()
            },
        )
        .expect("the standard workload runs");
        let traced: Vec<u64> = out
            .traces
            .iter()
            .map(|t| {
                let name = t.path.trim_start_matches("/assets/");
                name.trim_end_matches(".png").parse().expect("a key number")
            })
            .collect();
        assert_eq!(traced, keys);
    }
}
