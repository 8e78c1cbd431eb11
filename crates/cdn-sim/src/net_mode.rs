//! `--mode net`: the scenario on real sockets (`cdn-net`), reported like a simulation.
//!
//! The same workload generators produce the same requests; `cdn-net` sends them as real
//! HTTP to real proxies in front of a real origin, with time scaled by `time_scale`. The
//! report has `"mode": "net"`. Unlike sim mode it is not byte-for-byte reproducible: real
//! timers jitter, so latencies (and, at high rates, per-IP rate-limit decisions) vary.

use crate::latency::LatencyCounts;
use crate::report::{Report, RunCounts, StatusCounts};
use crate::scenario::Scenario;
use crate::workload::WorkloadGen;
use cdn_core::{CacheStatus, Instant};
use cdn_net::origin::NetworkAccess;
use cdn_net::{NetArrival, NetCdn, NetEvent, NetSpec};
use std::collections::BTreeMap;
use std::time::Duration;

/// The most requests a net-mode run will send (real sockets, real time).
pub const MAX_NET_REQUESTS: usize = 100_000;

/// Options of a net-mode run.
#[derive(Clone, Copy, Debug)]
pub struct NetOptions {
    /// Real seconds per virtual second.
    pub time_scale: f64,
    /// Override the scenario's seed.
    pub seed: Option<u64>,
}

/// Why a net-mode run could not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetModeError {
    /// Too many requests for real sockets.
    #[error("the scenario sends more than {MAX_NET_REQUESTS} requests; net mode is for small runs (use sim mode, or lower rate/duration/count)")]
    TooManyRequests,
    /// Starting or running the network failed.
    #[error(transparent)]
    Net(#[from] cdn_net::NetError),
    /// The async runtime could not start.
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// The scenario's requests, in time order, as real-network arrivals.
pub fn arrivals(scenario: &Scenario, seed: u64) -> Result<Vec<NetArrival>, NetModeError> {
    let mut gens: Vec<WorkloadGen> = scenario
        .workloads
        .iter()
        .enumerate()
        .map(|(i, w)| WorkloadGen::new(w, i, scenario.duration, seed))
        .collect();
    let mut out = Vec::new();
    loop {
        let next = gens
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.peek().map(|t| (t, i)))
            .min();
        let Some((_, i)) = next else { break };
        let g = &mut gens[i];
        let a = g.next_arrival().expect("peeked");
        if out.len() == MAX_NET_REQUESTS {
            return Err(NetModeError::TooManyRequests);
        }
        out.push(NetArrival {
            at: a.at,
            path: g.path.render(a.key),
            client: a.client,
            encoding: a.encoding,
            method: g.method,
            scheme: g.scheme,
        });
    }
    Ok(out)
}

/// Whether this process may produce namespace-only faults (root in a private namespace).
fn access() -> NetworkAccess {
    if cdn_net::netns::is_root() && cdn_net::netns::in_private_namespace() {
        NetworkAccess::PrivateNamespace
    } else {
        NetworkAccess::Unprivileged
    }
}

/// Runs `scenario` on real sockets and reports it.
pub fn run(scenario: &Scenario, options: NetOptions) -> Result<Report, NetModeError> {
    let seed = options.seed.unwrap_or(scenario.seed);
    let arrivals = arrivals(scenario, seed)?;
    let requests = arrivals.len() as u64;
    let events = scenario
        .events
        .iter()
        .map(|e| NetEvent {
            at: Instant::ZERO + e.at,
            cdn: e.cdn.clone(),
            origin: e.origin.clone(),
        })
        .collect();
    let t = scenario.cdn.timeouts(scenario.profile);
    // Long enough for the slowest legitimate answer: every timeout of both tiers, plus the
    // longest queueing the collapse timeouts can add.
    let cap = t.parent_read + t.connect * t.connect_attempts + t.read + Duration::from_secs(60);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(NetModeError::Runtime)?;
    runtime.block_on(async {
        let mut cdn = NetCdn::start(NetSpec {
            profile: scenario.profile,
            cdn: scenario.cdn.clone(),
            origin: scenario.origin.clone(),
            seed,
            time_scale: options.time_scale,
            access: access(),
        })
        .await?;
        let outcomes = cdn_net::run(&mut cdn, arrivals, events, cap).await;
        let origin_requests = cdn.origin_requests();
        let l2 = cdn.answered(cdn_core::Tier::L2);
        cdn.shutdown(Duration::from_secs(2)).await;
        let outcomes = outcomes?;
        let mut status: BTreeMap<u16, [u64; 3]> = BTreeMap::new();
        let mut l1 = StatusCounts::default();
        let mut latency = LatencyCounts::default();
        for o in &outcomes {
            let tier = match o.generated_by {
                cdn_core::Tier::L1 => 0,
                cdn_core::Tier::L2 => 1,
                cdn_core::Tier::Origin => 2,
            };
            status.entry(o.status).or_insert([0; 3])[tier] += 1;
            l1.count(o.l1_status);
            latency.record(o.latency);
        }
        let mut l2_counts = StatusCounts::default();
        for s in CacheStatus::ALL {
            for _ in 0..l2[s.index()] {
                l2_counts.count(s);
            }
        }
        let mut scenario = scenario.clone();
        scenario.seed = seed;
        let mut report = Report::build(
            &scenario,
            RunCounts {
                requests,
                status,
                origin_requests,
                l1,
                l2: l2_counts,
                latency,
                egress_pools: BTreeMap::new(),
            },
        );
        report.mode = "net".into();
        Ok(report)
    })
}

/// `cdn-sim serve`: starts the topology, prints where to point `curl`, and runs until
/// Ctrl-C; then stops accepting and lets in-flight requests finish.
pub fn serve(scenario: &Scenario, time_scale: f64) -> Result<(), NetModeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(NetModeError::Runtime)?;
    runtime.block_on(async {
        let cdn = NetCdn::start(NetSpec {
            profile: scenario.profile,
            cdn: scenario.cdn.clone(),
            origin: scenario.origin.clone(),
            seed: scenario.seed,
            time_scale,
            access: access(),
        })
        .await?;
        for (i, addr) in cdn.l1_addrs().iter().enumerate() {
            println!("L1 {} listening on http://{addr}/", scenario.cdn.l1[i].name);
        }
        println!("try: curl -si http://{}/assets/1.png", cdn.l1_addrs()[0]);
        println!("Ctrl-C stops (in-flight requests get 2 s to finish)");
        let _ = tokio::signal::ctrl_c().await;
        println!("stopping: no new connections; in-flight requests get 2 s");
        let cut = cdn.shutdown(Duration::from_secs(2)).await;
        println!("stopped ({cut} requests cut off)");
        Ok(())
    })
}
