//! Soak: a real CDN on loopback under every origin fault path — hung, reset, garbage, down,
//! queue full — and clients that abandon their request mid-way, sampling this process's
//! resident memory and open descriptors. Each path prints start / peak / end and fails if
//! a descriptor is left open, or if memory grew by more than what the measured part's
//! extra connections account for plus [`LEAK_KIB_PER_REQUEST`] per request (see
//! [`rss_bound`]). Then the hostile clients of issue 8: slowloris heads, idle connections,
//! and descriptor exhaustion.
//!
//! `cargo test -p cdn-net --test soak` runs 2,000 requests per path (CI);
//! `SOAK_REQUESTS=100000 cargo test --release -p cdn-net --test soak -- --nocapture` is the
//! long run whose figures are in `docs/reliability.md`. Everything is in one test function
//! because it measures the whole process (and lowers its descriptor limit at the end).
//!
//! Bounds: every request loop is bounded in count (`SOAK_REQUESTS`) and each path in time
//! (`PATH_BOUND`); clients have a 30 s read timeout.

use cdn_core::{CdnConfig, OriginConfig, OriginState, Profile};
use cdn_net::{NetCdn, NetSpec, NetworkAccess, ServeLimits};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Requests in flight at once (twice as many in the warm-up).
const CONCURRENCY: usize = 64;
/// The longest one path may run.
const PATH_BOUND: Duration = Duration::from_secs(900);
/// Growth the memory check allows per measured request (KiB): a chosen sensitivity, set
/// above what runs without a leak showed (at most +460 KiB over 2,000 requests, ~0.23 KiB
/// each, on the hung path; every other path ended at or below its start). What it catches in a run
/// also depends on the memory the warm-up's peak freed but kept resident, which a small
/// leak fills first: checked by leaking on purpose in every request each tier handles,
/// 4 KiB was caught on every path in 2,000 requests and 1 KiB was not (it fit in that
/// room). Small leaks are what the long run (`SOAK_REQUESTS=100000`) is for.
const LEAK_KIB_PER_REQUEST: u64 = 1;

/// Resident memory (KiB) and open descriptors of this process.
#[derive(Clone, Copy, Debug)]
struct Sample {
    rss_kib: u64,
    fds: usize,
}

fn sample() -> Sample {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    Sample { rss_kib, fds }
}

/// CPU time (user + system) this process has used.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) — utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // `after` starts at field 3 (state), so field n is f[n - 3]; ticks are 1/100 s on Linux.
    Duration::from_millis((f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) * 10)
}

fn requests() -> usize {
    std::env::var("SOAK_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

struct FaultPath {
    name: &'static str,
    origin: OriginConfig,
    /// Clients hang up 5 ms after sending the request.
    abandon: bool,
}

fn paths() -> Vec<FaultPath> {
    let state = |s| OriginConfig {
        state: s,
        ..Default::default()
    };
    vec![
        FaultPath {
            name: "hung",
            origin: state(OriginState::Hung),
            abandon: false,
        },
        FaultPath {
            name: "reset",
            origin: state(OriginState::Reset),
            abandon: false,
        },
        FaultPath {
            name: "garbage",
            origin: state(OriginState::Garbage),
            abandon: false,
        },
        FaultPath {
            name: "down",
            origin: state(OriginState::Down),
            abandon: false,
        },
        FaultPath {
            name: "queue full",
            origin: OriginConfig {
                workers: 1,
                queue: 0,
                service_time: Duration::from_secs(1),
                ..Default::default()
            },
            abandon: false,
        },
        FaultPath {
            name: "client abandons",
            origin: OriginConfig {
                service_time: Duration::from_secs(2),
                ..Default::default()
            },
            abandon: true,
        },
    ]
}

/// One request on a new connection; reads the answer to the end, or abandons.
async fn one(addr: SocketAddr, i: usize, abandon: bool) {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return;
    };
    let req =
        format!("GET /soak/{i} HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return;
    }
    if abandon {
        tokio::time::sleep(Duration::from_millis(5)).await;
        return;
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf)).await;
}

/// Sends `n` requests, `concurrency` at a time, numbered from `from`, stopping at
/// `deadline`; returns how many were sent.
async fn load(
    addr: SocketAddr,
    from: usize,
    n: usize,
    concurrency: usize,
    abandon: bool,
    deadline: Instant,
) -> usize {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, done) = (next.clone(), done.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || Instant::now() > deadline {
                        return;
                    }
                    one(addr, from + i, abandon).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    done.load(Ordering::Relaxed)
}

/// What one path measured.
struct Measured {
    /// Before the warm-up.
    before: Sample,
    /// The most during the warm-up.
    warm_peak: Sample,
    /// After the warm-up (memory at its high-water mark).
    start: Sample,
    /// The most during the measured part.
    peak: Sample,
    /// After the measured part settled.
    end: Sample,
    took: Duration,
    sent: usize,
}

/// The resident memory (KiB) the end of a path may reach without a leak.
///
/// The allocator keeps what the most connections open at once needed, so the measured part
/// may end above the warm-up's high-water mark by what its extra connections took: each
/// open descriptor more than the warm-up's peak costs what one cost in the warm-up (its
/// growth over its descriptors — an overestimate, as it includes the maps and pools the
/// warm-up also grew). Beyond that, growth is a leak once it reaches
/// [`LEAK_KIB_PER_REQUEST`] per measured request.
fn rss_bound(m: &Measured) -> u64 {
    let warm_fds = (m.warm_peak.fds.saturating_sub(m.before.fds) as u64).max(1);
    let per_fd = m.warm_peak.rss_kib.saturating_sub(m.before.rss_kib) / warm_fds;
    let extra_fds = m.peak.fds.saturating_sub(m.warm_peak.fds) as u64;
    m.start.rss_kib + extra_fds * per_fd + LEAK_KIB_PER_REQUEST * m.sent as u64
}

async fn soak_path(p: &FaultPath, n: usize) -> Measured {
    let cdn = CdnConfig {
        // Hung: the shield gives up after 10 s virtual = 100 ms here.
        read_timeout: Some(Duration::from_secs(10)),
        ..Default::default()
    };
    let net = NetCdn::start(NetSpec {
        profile: Profile::Cloudflare,
        cdn,
        origin: OriginConfig {
            cache_control: "no-store".into(),
            ..p.origin.clone()
        },
        network: cdn_core::NetworkConfig::default(),
        seed: 0,
        time_scale: 0.01,
        access: NetworkAccess::Unprivileged,
    })
    .await
    .expect("CDN starts");
    net.set_limits(ServeLimits {
        upstream_idle: Some(Duration::from_millis(500)),
        ..ServeLimits::default()
    });
    let addr = net.l1_addrs()[0];
    let deadline = Instant::now() + PATH_BOUND;
    // Warm up: pools, maps and the allocator reach their working size (the allocator keeps
    // what the peak of in-flight requests needed: that is not a leak, and must be in `start`).
    // Half the count again (at least 2,000), at twice the concurrency: the allocator keeps
    // what the most requests in flight at once needed (not a leak), so the warm-up makes
    // that high-water mark higher than the measured part can reach, and the measured part
    // is compared with it — a leak shows as growth, the high-water mark does not. (At the
    // same concurrency the measured part sometimes had more connections open at once than
    // the warm-up — clients that abandon pile them up — and grew by 3–7 MB with no leak.)
    let warm = (n / 2).max(2000);
    let before = sample();
    let peak = Arc::new(std::sync::Mutex::new(before));
    let stop = tokio_util::sync::CancellationToken::new();
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let s = sample();
                {
                    let mut p = peak.lock().unwrap();
                    p.rss_kib = p.rss_kib.max(s.rss_kib);
                    p.fds = p.fds.max(s.fds);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    load(addr, 0, warm, 2 * CONCURRENCY, p.abandon, deadline).await;
    settle(&net).await;
    // The start: resident memory at the warm-up's high-water mark (the allocator keeps it:
    // what the measured half adds beyond it is growth), descriptors as they are now.
    let warm_peak = *peak.lock().unwrap();
    let start = {
        let mut p = peak.lock().unwrap();
        let now = sample();
        let start = Sample {
            rss_kib: p.rss_kib.max(now.rss_kib),
            fds: now.fds,
        };
        *p = start;
        start
    };
    let t = Instant::now();
    let sent = load(addr, warm, n, CONCURRENCY, p.abandon, deadline).await;
    let took = t.elapsed();
    settle(&net).await;
    stop.cancel();
    let _ = sampler.await;
    let end = sample();
    let peak = *peak.lock().unwrap();
    net.shutdown(Duration::from_secs(1)).await;
    Measured {
        before,
        warm_peak,
        start,
        peak,
        end,
        took,
        sent,
    }
}

/// Waits (bounded) until no client connection is open and the work they left behind —
/// abandoned requests finishing upstream, idle pools expiring — is done.
async fn settle(net: &NetCdn) {
    let until = Instant::now() + Duration::from_secs(30);
    while net.client_connections() > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Abandoned requests run to their end upstream (20 ms origin); idle upstream
    // connections expire after 500 ms, swept every 125 ms.
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_every_fault_path_then_hostile_clients() {
    let n = requests();
    println!(
        "{:<16} {:>8} {:>7}  {:>28}  {:>9}  {:>16}",
        "path", "requests", "req/s", "RSS KiB start/peak/end", "end bound", "fds start/peak/end"
    );
    let mut failures = Vec::new();
    // `SOAK_PATHS=hung,reset` runs only those (a long run of one path); `hostile` names the
    // slowloris / idle / descriptor-exhaustion part.
    let only = std::env::var("SOAK_PATHS").ok();
    for p in paths() {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == p.name))
        {
            continue;
        }
        let m = soak_path(&p, n).await;
        let bound = rss_bound(&m);
        println!(
            "{:<16} {:>8} {:>7.0}  {:>28}  {:>9}  {:>16}",
            p.name,
            m.sent,
            m.sent as f64 / m.took.as_secs_f64(),
            format!("{}/{}/{}", m.start.rss_kib, m.peak.rss_kib, m.end.rss_kib),
            bound,
            format!("{}/{}/{}", m.start.fds, m.peak.fds, m.end.fds),
        );
        if m.end.rss_kib > bound {
            failures.push(format!(
                "{}: RSS {} → {} KiB, more than {bound} (warm-up: {} → {} KiB at {} fds; measured peak {} fds)",
                p.name, m.start.rss_kib, m.end.rss_kib, m.before.rss_kib, m.warm_peak.rss_kib,
                m.warm_peak.fds, m.peak.fds
            ));
        }
        // Every connection, pooled or not, is closed once the path has settled.
        if m.end.fds > m.start.fds {
            failures.push(format!("{}: fds {} → {}", p.name, m.start.fds, m.end.fds));
        }
    }
    assert!(failures.is_empty(), "not back near the start: {failures:?}");
    if only
        .as_deref()
        .is_none_or(|o| o.split(',').any(|n| n == "hostile"))
    {
        hostile_clients().await;
    }
}

/// Opens `n` connections to `addr` (stopping at the first the kernel refuses).
async fn open_many(addr: SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => v.push(s),
            Err(_) => break,
        }
    }
    v
}

/// A legitimate request's status line, within 10 s.
async fn legit(addr: SocketAddr) -> String {
    let work = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /ok HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).to_string();
        Some(text.lines().next().unwrap_or("").to_string())
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| "no answer in 10 s".to_string())
}

async fn hostile_clients() {
    let header = Duration::from_secs(2);
    let net = NetCdn::start(NetSpec {
        profile: Profile::Cloudflare,
        cdn: CdnConfig::default(),
        origin: OriginConfig::default(),
        network: cdn_core::NetworkConfig::default(),
        seed: 0,
        time_scale: 0.01,
        access: NetworkAccess::Unprivileged,
    })
    .await
    .expect("CDN starts");
    net.set_limits(ServeLimits {
        header_timeout: Some(header),
        keepalive_timeout: Some(header),
        ..ServeLimits::default()
    });
    let addr = net.l1_addrs()[0];

    // Slowloris: 500 connections each sending half a head, then nothing.
    let before = sample();
    let mut slow = open_many(addr, 500).await;
    for s in &mut slow {
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: www.exa").await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = net.client_connections();
    let during = legit(addr).await;
    let t = Instant::now();
    while net.client_connections() > 0 && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let closed_after = t.elapsed().as_secs_f64() + 0.3;
    assert_eq!(net.client_connections(), 0, "slowloris connections closed");
    drop(slow);
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!(
        "slowloris: 500 half heads; {held} held, a legitimate request meanwhile: {during:?}; \
         all closed {closed_after:.1} s after the last one (header timeout {header:?}); \
         fds {} before, {} after",
        before.fds,
        sample().fds
    );
    assert!(during.starts_with("HTTP/1.1 200"), "{during}");

    // 2,000 idle connections: nothing sent at all.
    let idle = open_many(addr, 2000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = net.client_connections();
    let during = legit(addr).await;
    let t = Instant::now();
    while net.client_connections() > 0 && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "idle: {} connections; {held} held, a legitimate request meanwhile: {during:?}; all \
         closed {:.1} s after they opened",
        idle.len(),
        t.elapsed().as_secs_f64() + 0.3
    );
    assert_eq!(net.client_connections(), 0, "idle connections closed");
    assert!(during.starts_with("HTTP/1.1 200"), "{during}");
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Descriptor exhaustion: this process's limit lowered to what is open now + 200, a cap
    // above it (so accept() itself fails with EMFILE), and 400 idle connections from another
    // process (bash's /dev/tcp), so only the proxy's side counts against the limit: the
    // kernel completes every handshake, the proxy can accept about 200.
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    let limit = sample().fds as u64 + 200;
    net.set_limits(ServeLimits {
        header_timeout: Some(Duration::from_secs(4)),
        keepalive_timeout: Some(Duration::from_secs(4)),
        max_connections: 100_000,
        ..ServeLimits::default()
    });
    let script = format!(
        "sleep 0.3; for i in $(seq 400); do exec {{fd}}<>/dev/tcp/{}/{} || break; done; sleep 3",
        addr.ip(),
        addr.port()
    );
    // Spawned before the limit is lowered: the child keeps the old one.
    let mut flood = std::process::Command::new("bash")
        .args(["-c", &script])
        .spawn()
        .expect("bash runs");
    setrlimit(Resource::RLIMIT_NOFILE, limit, hard).expect("setrlimit");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let accepted = net.client_connections();
    let unaccepted = 400usize.saturating_sub(accepted);
    let cpu0 = cpu_time();
    let wall = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu = cpu_time() - cpu0;
    let share = cpu.as_secs_f64() / wall.elapsed().as_secs_f64();
    println!(
        "fd exhaustion: limit {limit}, 400 idle connections, {accepted} accepted, \
         {unaccepted} left in the accept queue (EMFILE); CPU while exhausted: {:.0} % of a core",
        share * 100.0
    );
    assert!(unaccepted > 0, "the proxy ran out of descriptors");
    // The client exits after 3 s; what was accepted closes then (or after the 4 s idle
    // timeout), and service resumes.
    let _ = flood.wait();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = legit(addr).await;
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).expect("setrlimit");
    println!("fd exhaustion: a legitimate request afterwards: {after:?}");
    // A busy loop over accept() takes a whole core; the back-off takes almost nothing.
    // 50 % leaves room for the connections the loop does accept and a busy machine.
    assert!(
        share < 0.5,
        "CPU {:.0} % of a core while out of descriptors",
        share * 100.0
    );
    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
    net.shutdown(Duration::from_secs(1)).await;
}
