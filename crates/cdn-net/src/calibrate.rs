//! How late this machine's real timers are, right now, through the real code path: a short
//! run through the real proxies and origin, whose every timer (link delays, TLS handshakes,
//! service times, deadlines) is measured by the run's [`LagMeter`](crate::LagMeter).
//!
//! Net mode uses the result to choose a time scale: at scale `s`, real lateness `L` is `L/s`
//! of virtual lateness, which must stay within what the scenario tolerates.

use crate::error::NetError;
use crate::origin::NetworkAccess;
use crate::run::{run, NetArrival};
use crate::topology::{NetCdn, NetSpec};
use cdn_core::message::Encoding;
use cdn_core::{CdnConfig, Instant, Method, NetworkConfig, OriginConfig, Profile, Scheme};
use std::time::Duration;

/// The time scale of the calibration run: 10 virtual ms (the default RTTs' halves and the
/// origin's service time) are 1 real ms, a timer tick — the same sub-tick delays a fast run
/// has.
const SCALE: f64 = 0.1;

/// Requests in the calibration run: each is a full miss (TCP and TLS to the origin, no
/// keepalive), spaced so they do not overlap.
const REQUESTS: u64 = 8;

/// What the calibration run measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calibration {
    /// The latest any timer fired, in **real** time: the lateness this machine adds to every
    /// step of a net-mode run at the moment.
    pub lateness: Duration,
    /// CPU time (user + system, all threads) one full miss costs end to end: client, edge,
    /// shield and origin, TCP and TLS included. Many requests at once queue for the CPU.
    pub cpu_per_request: Duration,
}

/// CPU time this process has used so far.
fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF).map_or(Duration::ZERO, |u| {
        let tv = |t: nix::sys::time::TimeVal| {
            Duration::new(t.tv_sec().max(0) as u64, (t.tv_usec().max(0) as u32) * 1000)
        };
        tv(u.user_time()) + tv(u.system_time())
    })
}

/// Runs the calibration: a few sequential full misses through a real CDN on loopback, about
/// 0.2 s.
pub async fn calibrate() -> Result<Calibration, NetError> {
    let cdn = CdnConfig {
        keepalive: false,
        ..CdnConfig::default()
    };
    let network = NetworkConfig::default();
    let mut net = NetCdn::start(NetSpec {
        profile: Profile::Cloudflare,
        cdn,
        origin: OriginConfig::default(),
        network,
        seed: 0,
        time_scale: SCALE,
        access: NetworkAccess::Unprivileged,
    })
    .await?;
    let arrivals = (0..REQUESTS)
        .map(|i| NetArrival {
            at: Instant::ZERO + Duration::from_millis(150 * i),
            path: format!("/calibrate/{i}.png"),
            client: std::net::Ipv4Addr::new(127, 1, 0, 1),
            encoding: Encoding::Gzip,
            method: Method::Get,
            scheme: Scheme::Https,
            traced: false,
        })
        .collect();
    let cpu_before = cpu_time();
    let horizon = Duration::from_secs(10);
    let result = run(&mut net, arrivals, Vec::new(), network, horizon).await;
    let cpu = cpu_time().saturating_sub(cpu_before);
    let lag = net.timers().lag().summary();
    net.shutdown(Duration::from_secs(1)).await;
    result?;
    Ok(Calibration {
        lateness: lag.max.mul_f64(SCALE),
        cpu_per_request: cpu / REQUESTS as u32,
    })
}
