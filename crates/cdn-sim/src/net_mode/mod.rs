//! `--mode net`: the scenario on real sockets (`cdn-net`), reported like a simulation.
//!
//! The same workload generators produce the same requests; `cdn-net` sends them as real
//! HTTP to real proxies in front of a real origin, with the links' round-trip times emulated
//! and time scaled. The report has `"mode": "net"` and a `timing` section.
//!
//! **Faithful by default.** Without `--time-scale`, the scale is chosen per scenario
//! ([`pace`]): as fast as possible while this machine's measured timer lateness stays well
//! within the lateness the scenario's counts tolerate (found by perturbing the simulation).
//! During the run every timer's lateness is measured; if any exceeded what the scenario
//! tolerates, the run is reported as not faithful, with the command that would run it
//! faithfully. Net mode is not byte-for-byte reproducible: latencies always vary a little.

pub mod pace;

use crate::latency::LatencyCounts;
use crate::report::{NetTiming, Report, RunCounts, StatusCounts};
use crate::scenario::Scenario;
use crate::workload::WorkloadGen;
use cdn_core::config::build_nodes;
use cdn_core::{CacheStatus, Instant, Tier, Trace};
use cdn_net::origin::NetworkAccess;
use cdn_net::{LagSummary, NetArrival, NetCdn, NetEvent, NetSpec};
use pace::Pace;
use std::collections::BTreeMap;
use std::time::Duration;

/// The most runs of one scenario an automatically paced net-mode run makes: a run later
/// than the scenario tolerates is made again, slower (see [`run`]).
pub const MAX_ATTEMPTS: usize = 3;

/// The most requests a net-mode run will send (real sockets, real time).
pub const MAX_NET_REQUESTS: usize = 100_000;

/// Options of a net-mode run.
#[derive(Clone, Copy, Debug, Default)]
pub struct NetOptions {
    /// Real seconds per virtual second; `None` chooses it ([`pace`]).
    pub time_scale: Option<f64>,
    /// Override the scenario's seed.
    pub seed: Option<u64>,
    /// Record the hop-by-hop stories of the first N requests.
    pub trace: usize,
    /// This machine as measured (by [`measure_machine`]) for choosing the scale; `None`
    /// measures it before the run (about 0.2 s). Ignored when `time_scale` is given.
    pub machine: Option<pace::Machine>,
}

/// Why a net-mode run could not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetModeError {
    /// Too many requests for real sockets.
    #[error("the scenario sends more than {MAX_NET_REQUESTS} requests; net mode is for small runs (use sim mode, or lower rate/duration/count)")]
    TooManyRequests,
    /// `--time-scale` out of range.
    #[error("--time-scale {0} is out of range; allowed: {min} to {max} (real seconds per virtual second)", min = pace::MIN_TIME_SCALE, max = pace::MAX_TIME_SCALE)]
    TimeScale(f64),
    /// `--time-scale` other than 1 with a real server behind the CDN.
    #[error("--time-scale {0}: a real server (`[origin] upstream`) works in real time, so this run can only go at scale 1")]
    RealTimeOnly(f64),
    /// The scenario needs a private network namespace and this process is not in one.
    #[error("{fault} can only be made real inside a private network namespace; run `cdn-sim` as root (it makes one itself), or under `unshare --user --map-root-user --net` with `ip link set lo up`")]
    NeedsNamespace {
        /// The fault.
        fault: &'static str,
    },
    /// Starting or running the network failed.
    #[error(transparent)]
    Net(#[from] cdn_net::NetError),
    /// The async runtime could not start.
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The simulations that find what the scenario tolerates stopped.
    #[error(transparent)]
    Sim(#[from] crate::engine::SimError),
}

impl NetModeError {
    /// A flag that cannot go with this scenario, or a configuration only net mode checks
    /// (the command line's or the file's fault, exit status 2),
    /// rather than a failure while running.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            NetModeError::TimeScale(_)
                | NetModeError::RealTimeOnly(_)
                | NetModeError::Net(cdn_net::NetError::Config(_))
        )
    }
}

/// What a net-mode run produced.
#[derive(Debug)]
pub struct NetOutput {
    /// The report (with its `timing` section).
    pub report: Report,
    /// The traced requests, in request order.
    pub traces: Vec<Trace>,
    /// When the timers were later than the scenario tolerates: what to run instead.
    pub unfaithful: Option<String>,
}

/// The fault, in any of the scenario's origin configurations (initial or after an event),
/// that needs a private network namespace.
pub fn needs_namespace(scenario: &Scenario) -> Option<&'static str> {
    std::iter::once(&scenario.origin)
        .chain(scenario.events.iter().map(|e| &e.origin))
        .find_map(cdn_net::origin::needs_private_namespace)
}

/// An `https://` upstream is reached directly (TLS end to end), so no event may give the
/// origin a fault or defence: those act in the fault layer, which reads HTTP. The initial
/// `[origin]` is checked where the CDN starts.
fn check_https_events(scenario: &Scenario) -> Result<(), NetModeError> {
    let https = scenario
        .origin
        .upstream
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    for (i, e) in scenario.events.iter().enumerate().filter(|_| https) {
        if let Some(key) = e.origin.fault_key() {
            return Err(NetModeError::Net(cdn_net::NetError::Config(
                cdn_core::ConfigError::new(
                    format!("event[{i}].{key}"),
                    "the fault layer relays HTTP only: with an https:// upstream (reached \
                     directly, encrypted end to end) faults and defences need http://",
                ),
            )));
        }
    }
    Ok(())
}

/// Moves this process into a private network namespace when the scenario needs one and it
/// is not in one already. Call it first thing (before any thread starts): see
/// [`cdn_net::netns::enter_private`].
pub fn prepare_namespace(scenario: &Scenario) -> Result<(), NetModeError> {
    match needs_namespace(scenario) {
        Some(_) if cdn_net::netns::in_private_namespace() => Ok(()),
        Some(_) => Ok(cdn_net::netns::enter_private()?),
        None => Ok(()),
    }
}

/// The scenario's requests, in time order, as real-network arrivals; the first `trace` are
/// traced.
pub fn arrivals(
    scenario: &Scenario,
    seed: u64,
    trace: usize,
) -> Result<Vec<NetArrival>, NetModeError> {
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
            traced: out.len() < trace,
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

fn runtime() -> Result<tokio::runtime::Runtime, NetModeError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(NetModeError::Runtime)
}

/// The pace of a run: the given scale (checked), or one chosen for the scenario on this
/// machine now.
/// Measures this machine now: how late its timers fire and what a request costs, through a
/// short real run (about 0.2 s).
pub fn measure_machine() -> Result<pace::Machine, NetModeError> {
    measure_on(&runtime()?)
}

fn measure_on(rt: &tokio::runtime::Runtime) -> Result<pace::Machine, NetModeError> {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    let c = rt.block_on(cdn_net::calibrate())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(pace::Machine {
        lateness: c.lateness,
        cpu_per_request: c.cpu_per_request,
        cores: pace::cores_for_us(cores, load),
    })
}

fn pace(
    scenario: &Scenario,
    seed: u64,
    (given, known): (Option<f64>, Option<pace::Machine>),
    arrivals: &[NetArrival],
    rt: &tokio::runtime::Runtime,
) -> Result<Pace, NetModeError> {
    let tolerated = pace::tolerated_lateness(scenario, seed)?;
    if scenario.origin.upstream.is_some() {
        // A real server cannot be slowed down or sped up: its timeouts, its Date and its
        // own rate limits run on the wall clock.
        if let Some(s) = given.filter(|s| *s != 1.0) {
            return Err(NetModeError::RealTimeOnly(s));
        }
        return Ok(Pace {
            time_scale: 1.0,
            tolerated,
            machine: None,
        });
    }
    if let Some(s) = given {
        if !(pace::MIN_TIME_SCALE..=pace::MAX_TIME_SCALE).contains(&s) {
            return Err(NetModeError::TimeScale(s));
        }
        return Ok(Pace {
            time_scale: s,
            tolerated,
            machine: None,
        });
    }
    let machine = match known {
        Some(m) => m,
        None => measure_on(rt)?,
    };
    let times: Vec<Instant> = arrivals.iter().map(|a| a.at).collect();
    let load = pace::Load::of(&times, tolerated);
    Ok(Pace {
        time_scale: pace::choose_scale(&machine, tolerated, &load),
        tolerated,
        machine: Some(machine),
    })
}

/// Runs `scenario` on real sockets and reports it.
pub fn run(scenario: &Scenario, options: NetOptions) -> Result<NetOutput, NetModeError> {
    let seed = options.seed.unwrap_or(scenario.seed);
    check_https_events(scenario)?;
    if let (Some(fault), NetworkAccess::Unprivileged) = (needs_namespace(scenario), access()) {
        return Err(NetModeError::NeedsNamespace { fault });
    }
    let arrivals = arrivals(scenario, seed, options.trace)?;
    let requests = arrivals.len() as u64;
    let events: Vec<NetEvent> = scenario
        .events
        .iter()
        .map(|e| NetEvent {
            at: Instant::ZERO + e.at,
            cdn: e.cdn.clone(),
            origin: e.origin.clone(),
            network: e.network,
        })
        .collect();
    let runtime = runtime()?;
    let scale = (options.time_scale, options.machine);
    let mut pace = pace(scenario, seed, scale, &arrivals, &runtime)?;
    let t = scenario.cdn.timeouts(scenario.profile);
    // Long enough for the slowest legitimate answer: every timeout of both tiers, plus the
    // longest queueing the collapse timeouts can add.
    let cap = t.parent_read * 2 + t.connect * t.connect_attempts + t.read + Duration::from_secs(60);
    let mut earlier = Vec::new();
    let (
        Attempt {
            run,
            origin_requests,
            l2,
            lag,
        },
        faithful,
    ) = loop {
        let attempt = runtime.block_on(run_at(
            scenario,
            seed,
            pace.time_scale,
            arrivals.clone(),
            events.clone(),
            cap,
        ))?;
        let lag = attempt.lag;
        let faithful = verdict(scenario, seed, &pace, &lag)?;
        // A chosen scale came from a sample of this machine a fraction of a second long; the
        // run itself measured it for this scenario, over every timer. A run later than the
        // scenario tolerates is known to be unfaithful: it is not reported, but run again at
        // the scale its own lateness calls for (at least twice as slow, so it ends), at most
        // `MAX_ATTEMPTS` times in all. A given scale is the user's choice and is not changed.
        let retry = faithful == Faithful::No
            && options.time_scale.is_none()
            && pace.time_scale < 1.0
            && earlier.len() + 1 < MAX_ATTEMPTS;
        if !retry {
            break (attempt, faithful);
        }
        let slower = faithful_scale(&pace, &lag)
            .max(pace.time_scale * 2.0)
            .min(1.0);
        earlier.push(crate::report::NetAttempt {
            time_scale: pace.time_scale,
            lag_max_ms: ms(lag.max),
        });
        pace.time_scale = slower;
    };
    let mut status: BTreeMap<u16, [u64; 3]> = BTreeMap::new();
    let mut l1 = StatusCounts::default();
    let mut latency = LatencyCounts::default();
    for o in &run.outcomes {
        let tier = match o.generated_by {
            Tier::L1 => 0,
            Tier::L2 => 1,
            Tier::Origin => 2,
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
    let mut sc = scenario.clone();
    sc.seed = seed;
    let mut report = Report::build(
        &sc,
        RunCounts {
            requests,
            status,
            origin_requests,
            l1,
            l2: l2_counts,
            latency,
            egress_pools: egress_pools(scenario, seed),
        },
    );
    report.mode = "net".into();
    let mut timing = timing(&pace, &lag, faithful, options.time_scale.is_some());
    timing.earlier = earlier;
    report.timing = Some(timing);
    let unfaithful = (faithful == Faithful::No).then(|| advice(scenario, &pace, &lag));
    Ok(NetOutput {
        report,
        traces: run.traces,
        unfaithful,
    })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

// The two must agree: the simulator replays the histogram net mode measured.
const _: () = assert!(crate::engine::MEASURED_BUCKETS == cdn_net::LAG_BUCKETS);

/// Whether a run's counts are the model's, and how that is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Faithful {
    /// Every timer was within what the scenario tolerates.
    WithinTolerance,
    /// Some were later, but the simulator replaying the measured lateness gives the same
    /// counts ([`pace::replays_exactly`]).
    Replayed,
    /// The counts may differ from the model's.
    No,
}

/// Whether the lateness `lag` measured (at `pace`) keeps the counts the model's.
fn verdict(
    scenario: &Scenario,
    seed: u64,
    pace: &Pace,
    lag: &LagSummary,
) -> Result<Faithful, NetModeError> {
    if lag.max <= pace.tolerated {
        return Ok(Faithful::WithinTolerance);
    }
    Ok(
        if pace::replays_exactly(scenario, seed, lag.p99, lag.max, lag.histogram)? {
            Faithful::Replayed
        } else {
            Faithful::No
        },
    )
}

fn timing(pace: &Pace, lag: &LagSummary, faithful: Faithful, given: bool) -> NetTiming {
    NetTiming {
        time_scale: pace.time_scale,
        chosen: if given { "given" } else { "auto" }.into(),
        tolerated_ms: ms(pace.tolerated),
        timers: lag.timers,
        lag_p99_ms: ms(lag.p99),
        lag_max_ms: ms(lag.max),
        faithful: faithful != Faithful::No,
        replayed: faithful == Faithful::Replayed,
        earlier: Vec::new(),
    }
}

/// The scale at which a run as late as `lag` (at `pace`) would have been faithful.
fn faithful_scale(pace: &Pace, lag: &LagSummary) -> f64 {
    // Real lateness scales with nothing; virtual lateness is real / scale: slow down until
    // the lateness seen would be half of what is tolerated.
    let machine = pace::Machine {
        lateness: lag.max.mul_f64(pace.time_scale),
        cpu_per_request: Duration::ZERO,
        cores: 1.0,
    };
    pace::choose_scale(&machine, pace.tolerated, &pace::Load::default())
}

/// One run of the scenario's traffic at `time_scale` on a fresh CDN: what the clients got,
/// the origin's request count, the L2s' cache statuses and how late the timers fired.
async fn run_at(
    scenario: &Scenario,
    seed: u64,
    time_scale: f64,
    arrivals: Vec<NetArrival>,
    events: Vec<NetEvent>,
    cap: Duration,
) -> Result<Attempt, NetModeError> {
    let mut cdn = NetCdn::start(NetSpec {
        profile: scenario.profile,
        cdn: scenario.cdn.clone(),
        origin: scenario.origin.clone(),
        network: scenario.network,
        seed,
        time_scale,
        access: access(),
    })
    .await?;
    let run = cdn_net::run(&mut cdn, arrivals, events, scenario.network, cap).await;
    let origin_requests = cdn.origin_requests();
    let l2 = cdn.answered(Tier::L2);
    let lag = cdn.timers().lag().summary();
    cdn.shutdown(Duration::from_secs(2)).await;
    Ok(Attempt {
        run: run?,
        origin_requests,
        l2,
        lag,
    })
}

/// What one run of the scenario's traffic produced.
struct Attempt {
    run: cdn_net::NetRun,
    origin_requests: u64,
    /// The L2s' answers by cache status.
    l2: [u64; 8],
    lag: LagSummary,
}

/// What to say when the timers were later than the scenario tolerates.
fn advice(scenario: &Scenario, pace: &Pace, lag: &LagSummary) -> String {
    let late = format!(
        "timers fired up to {:.1} ms late (virtual) at time scale {}, but this scenario's counts \
         change with lateness above {:.1} ms, and replaying this run's lateness in the \
         simulator changes them: they may differ from the simulator's",
        ms(lag.max),
        pace.time_scale,
        ms(pace.tolerated)
    );
    if pace.time_scale >= 1.0 || pace.tolerated.is_zero() {
        return format!(
            "{late}. Even real time is not slow enough on this machine now: run it when the \
             machine is idle (`cdn-sim run {} --mode net`)",
            scenario.name
        );
    }
    let slower = faithful_scale(pace, lag);
    format!(
        "{late}. To run it faithfully: `cdn-sim run {} --mode net --time-scale {slower}`",
        scenario.name
    )
}

/// Each L2's egress pool as CIDR blocks, as the simulator reports them.
fn egress_pools(scenario: &Scenario, seed: u64) -> BTreeMap<String, Vec<String>> {
    build_nodes(&scenario.cdn, scenario.profile, Tier::L2, seed)
        .iter()
        .map(|n| {
            let blocks = n
                .egress()
                .as_cidrs()
                .iter()
                .map(|c| c.to_string())
                .collect();
            (n.name().to_string(), blocks)
        })
        .collect()
}

/// Prints one line of `serve`'s console. A reader that has gone (`cdn-sim serve X | head -1`)
/// does not stop the server: the line is dropped (`println!` would panic on the broken pipe).
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// How `cdn-sim serve` treats its clients and how it stops.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Real seconds per virtual second.
    pub time_scale: f64,
    /// After Ctrl-C, how long requests in flight may take before they are answered `503`
    /// and closed.
    pub grace: Duration,
    /// Header and keep-alive timeouts, connection cap, idle upstream expiry.
    pub limits: cdn_net::ServeLimits,
}

/// `cdn-sim serve`: starts the topology, prints where to point `curl`, and runs until
/// Ctrl-C (SIGINT) or SIGTERM; then stops accepting, lets in-flight requests finish for the
/// grace period it printed, answers those still running `503` with `Connection: close`,
/// and prints exactly how many were cut off so.
pub fn serve(scenario: &Scenario, options: &ServeOptions) -> Result<(), NetModeError> {
    let time_scale = options.time_scale;
    if !(pace::MIN_TIME_SCALE..=pace::MAX_TIME_SCALE).contains(&time_scale) {
        return Err(NetModeError::TimeScale(time_scale));
    }
    if scenario.origin.upstream.is_some() && time_scale != 1.0 {
        return Err(NetModeError::RealTimeOnly(time_scale));
    }
    if let (Some(fault), NetworkAccess::Unprivileged) = (needs_namespace(scenario), access()) {
        return Err(NetModeError::NeedsNamespace { fault });
    }
    let runtime = runtime()?;
    runtime.block_on(async {
        let cdn = NetCdn::start(NetSpec {
            profile: scenario.profile,
            cdn: scenario.cdn.clone(),
            origin: scenario.origin.clone(),
            network: scenario.network,
            seed: scenario.seed,
            time_scale,
            access: access(),
        })
        .await?;
        cdn.set_limits(options.limits);
        for (i, addr) in cdn.l1_addrs().iter().enumerate() {
            say(format_args!(
                "L1 {} listening on http://{addr}/",
                scenario.cdn.l1[i].name
            ));
        }
        say(format_args!("try: curl -si http://{}/assets/1.png", cdn.l1_addrs()[0]));
        let grace = format!("{:.1} s", options.grace.as_secs_f64());
        say(format_args!("Ctrl-C stops (in-flight requests get {grace})"));
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(t) => t.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminated => {}
        }
        say(format_args!(
            "stopping: no new connections; in-flight requests get {grace}, then are answered 503 and closed"
        ));
        let started = std::time::Instant::now();
        let cut = cdn.shutdown(options.grace).await;
        let noun = if cut == 1 { "request" } else { "requests" };
        say(format_args!(
            "stopped in {:.1} s ({cut} {noun} cut off)",
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    })
}

/// What `cdn-sim proxy` runs: the two tiers of a default CDN in front of a real server.
#[derive(Clone, Debug)]
pub struct ProxyOptions {
    /// The real server, `http://127.0.0.1:PORT`.
    pub upstream: String,
    /// Whose rules and codes.
    pub profile: cdn_core::Profile,
    /// Where the edge listens (loopback).
    pub listen: std::net::SocketAddr,
    /// The largest body stored (0: the default); larger ones stream through uncached.
    pub max_stored: u64,
    /// How the shield speaks TLS to an `https://` upstream: `strict` verifies its
    /// certificate; `None` takes the profile's.
    pub ssl_mode: Option<cdn_core::SslMode>,
    /// A PEM file of CA certificates trusted for an `https://` upstream (`strict`).
    pub upstream_ca: Option<std::path::PathBuf>,
    /// Event loops serving client connections (single-threaded runtimes, as nginx's
    /// `worker_processes`); 0: tokio's shared work-stealing runtime.
    pub threads: usize,
}

/// Event loops `cdn-sim proxy` runs by default: two per core. Measured on 2 cores
/// (`docs/performance.md`, "Event loops of their own"): with one per core, a loop the
/// scheduler parks for the load generator or the origin holds its connections' answers
/// and the hit rows' p99 rose; with two per core the kernel balances the threads.
pub fn default_proxy_threads() -> usize {
    (2 * std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(cdn_net::event_loops::MAX_LOOPS)
}

/// Runs an L1 → L2 CDN in front of `options.upstream` until Ctrl-C (or until `stop`
/// resolves, for tests), printing where it listens. No emulated latency: the links are
/// loopback as they are.
pub fn proxy(
    options: ProxyOptions,
    stop: Option<tokio::sync::oneshot::Receiver<()>>,
    started: Option<std::sync::mpsc::Sender<std::net::SocketAddr>>,
) -> Result<(), NetModeError> {
    let origin = cdn_core::OriginConfig {
        upstream: Some(options.upstream.clone()),
        upstream_ca: options
            .upstream_ca
            .as_ref()
            .map(|p| p.display().to_string()),
        ..cdn_core::OriginConfig::default()
    };
    origin
        .validate()
        .map_err(|e| NetModeError::Net(cdn_net::NetError::Config(e)))?;
    let network = cdn_core::NetworkConfig {
        client_rtt: Duration::ZERO,
        l1_l2_rtt: Duration::ZERO,
        l2_origin_rtt: Duration::ZERO,
    };
    let spec = NetSpec {
        profile: options.profile,
        // The profile's defaults (nginx: no collapsing, as proxy_cache_lock off), not
        // Cloudflare's: with collapsing on, concurrent requests for one uncacheable URL
        // would go upstream one at a time.
        cdn: cdn_core::CdnConfig {
            ssl_mode: options
                .ssl_mode
                .unwrap_or(cdn_core::CdnConfig::for_profile(options.profile).ssl_mode),
            ..cdn_core::CdnConfig::for_profile(options.profile)
        },
        origin,
        network,
        seed: 0,
        time_scale: 1.0,
        access: NetworkAccess::Unprivileged,
    };
    let real = cdn_net::RealOptions {
        l1_listen: Some(options.listen),
        max_stored: options.max_stored,
        // Nothing to break: the shields connect to the server itself.
        direct: true,
        event_loops: options.threads,
    };
    let runtime = runtime()?;
    runtime.block_on(async {
        let cdn = NetCdn::start_with(spec, real).await?;
        let addr = cdn.l1_addrs()[0];
        // A closed stdout (a pipe read once) must not stop the proxy.
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "edge-1 listening on http://{addr}/ → shield-1 → {} (profile {})",
            options.upstream,
            options.profile.as_str()
        );
        let _ = writeln!(out, "try: curl -si http://{addr}/");
        let _ = out.flush();
        if let Some(tx) = started {
            let _ = tx.send(addr);
        }
        match stop {
            Some(rx) => {
                let _ = rx.await;
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        let cut = cdn.shutdown(Duration::from_secs(2)).await;
        let _ = writeln!(out, "stopped ({cut} requests cut off)");
        Ok(())
    })
}
