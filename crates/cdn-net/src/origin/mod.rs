//! A real origin server on loopback, driven by the same [`cdn_core::Origin`] as the
//! simulator.
//!
//! [`OriginServer::start`] binds two ports on the origin's loopback address (one plays 80,
//! the other 443), serves real content over hyper, and asks one shared `Origin` (behind a
//! mutex) about every connection and request, with `now` = elapsed real time divided by the
//! [`VirtualClock`]'s `time_scale`. `limit_req`, `limit_conn`, the worker queue and 304s are
//! the core's decisions; the server sleeps until the reply's `done` time and sends it.
//!
//! ## How each fault is made (and what needs root)
//!
//! | fault | mechanism | what a client sees | privileges |
//! |---|---|---|---|
//! | `down`, `http = false`, `https = "none"` | port bound but not listening: the kernel answers the SYN with RST | `ECONNREFUSED` | none |
//! | `accept_queue_full` | listener with backlog 1, never accepted, filled by the server's own connections; the kernel drops further SYNs | connect timeout | none |
//! | `hung` | request read, never answered; connection held until the peer leaves or shutdown | read timeout | none |
//! | `reset` | request read, then `SO_LINGER {on, 0}` + close | `ECONNRESET` | none |
//! | `close` | request read, then `shutdown(SHUT_WR)` + close (FIN) | EOF, no bytes | none |
//! | `garbage` | request read, non-HTTP bytes written (inside TLS on a TLS port), then FIN | unparseable reply | none |
//! | `https = "plain"` | plain HTTP on the 443 port (a ClientHello gets an HTTP 400) | TLS handshake failure | none |
//! | certificates | rcgen leaves: valid / expired / self-signed / wrong host / origin CA ([`crate::certs`]) | verification failure when verifying | none |
//! | firewall `drop` | classic BPF socket filter on the listener ([`crate::bpf`]) — or nftables `drop` in a private namespace | connect timeout | none |
//! | firewall `reject`, every source | no listener (as `down`) — exact | `ECONNREFUSED` | none |
//! | firewall `reject`, some sources | nftables `reject with tcp reset` ([`crate::netns`]) | `ECONNREFUSED` | root in a private netns |
//! | `unreachable` | `unreachable` route for the origin's /32 in the local table | `EHOSTUNREACH` | root in a private netns |
//! | `dns_failure` | the hostname is removed from the [`Resolver`] | lookup error | none |
//! | real server unreachable (fault layer only) | the CDN's connection is reset | `ECONNRESET` | none |
//!
//! Without [`NetworkAccess::PrivateNamespace`], a configuration that needs it is an error
//! ([`NetError::NeedsPrivateNamespace`]), never an approximation.
//!
//! With [`OriginOptions::upstream`] the same faults stand in front of a real server: what
//! they let through is forwarded to it (see [`fault_layer_config`] and the `relay` module).

mod conn;
mod http;
mod plan;
mod relay;
mod slot;

pub use self::conn::GARBAGE;
pub use self::http::{defence_name, etag_value, parse_etag, OriginBody, DEFENCE_HEADER};

use crate::certs::Certificates;
use crate::clock::VirtualClock;
use crate::error::NetError;
use crate::netns::{self, NftTable};
use crate::resolver::{HostEntry, Resolver};
use crate::timing::{LagMeter, Timers};
use crate::trace_sink::TraceSink;
use bytes::Bytes;
use cdn_core::{Instant, Origin, OriginConfig};
use slot::PortSlot;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How much of the kernel the server may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetworkAccess {
    /// Sockets only, no privileges (the default): BPF drop, refused ports, full accept
    /// queues. A REJECT for only some sources and `unreachable` are refused with
    /// [`NetError::NeedsPrivateNamespace`].
    #[default]
    Unprivileged,
    /// Root inside a network namespace made for the run (`unshare --net`): the firewall is
    /// installed with nftables and `unreachable` with a route. The server checks that the
    /// namespace has no interface but `lo` before it changes anything.
    PrivateNamespace,
}

/// The fault in `config` that only a private network namespace can make real (a REJECT for
/// some sources only, an unreachable route), if any.
///
/// ```
/// use cdn_core::{OriginConfig, OriginState};
/// let down = OriginConfig { state: OriginState::Down, ..Default::default() };
/// assert_eq!(cdn_net::origin::needs_private_namespace(&down), None);
/// let unreachable = OriginConfig { state: OriginState::Unreachable, ..Default::default() };
/// assert!(cdn_net::origin::needs_private_namespace(&unreachable).is_some());
/// ```
pub fn needs_private_namespace(config: &OriginConfig) -> Option<&'static str> {
    match plan::plan(config, NetworkAccess::Unprivileged) {
        Err(NetError::NeedsPrivateNamespace { fault }) => Some(fault),
        _ => None,
    }
}

/// Options of [`OriginServer::start_with`]. `Default`: time scale 1, a fresh clock and
/// resolver, unprivileged, 2 s shutdown grace.
#[derive(Clone, Debug)]
pub struct OriginOptions {
    /// Real seconds per virtual second, used when `clock` is `None` (default 1.0).
    pub time_scale: f64,
    /// A clock shared with the rest of the run (default: a new one started now).
    pub clock: Option<VirtualClock>,
    /// Where the hostname is published (default: a new, empty resolver).
    pub resolver: Resolver,
    /// Privileges (default [`NetworkAccess::Unprivileged`]).
    pub access: NetworkAccess,
    /// How long [`OriginServer::shutdown`] lets in-flight requests finish (real time,
    /// default 2 s).
    pub shutdown_grace: Duration,
    /// Where the lateness of the server's timers (its service times) is recorded (default:
    /// a meter of its own).
    pub lag: LagMeter,
    /// Where the steps of traced requests (a defence turning one away) are recorded
    /// (default: a sink of its own).
    pub traces: TraceSink,
    /// A real server to forward to (default `None`: the origin answers with modelled
    /// content). With one, the origin is a fault layer in front of it: its firewall, state
    /// and defences act as configured, and what they let through goes to the real server,
    /// from the address the CDN connected from (see [`fault_layer_config`]).
    pub upstream: Option<std::net::SocketAddrV4>,
}

impl Default for OriginOptions {
    fn default() -> OriginOptions {
        OriginOptions {
            time_scale: 1.0,
            clock: None,
            resolver: Resolver::default(),
            access: NetworkAccess::Unprivileged,
            shutdown_grace: Duration::from_secs(2),
            lag: LagMeter::default(),
            traces: TraceSink::default(),
            upstream: None,
        }
    }
}

/// What an origin in front of a real server keeps of `config`: its hostname, firewall,
/// state and defences (`limit_req`, `limit_conn`). What describes the modelled server's own
/// work is the real server's now: no worker pool or queue of the model's (every request let
/// through goes on at once, and the real server queues as it does), no modelled service
/// time, and port 80 listens (it plays the real server's port: the CDN speaks its
/// `http://` to it whatever `https` says).
///
/// ```
/// use cdn_core::{OriginConfig, OriginState};
/// let hung = OriginConfig { state: OriginState::Hung, workers: 2, ..Default::default() };
/// let kept = cdn_net::origin::fault_layer_config(&hung);
/// assert_eq!(kept.state, OriginState::Hung);
/// assert_eq!(kept.service_time, std::time::Duration::ZERO);
/// ```
pub fn fault_layer_config(config: &OriginConfig) -> OriginConfig {
    OriginConfig {
        http: true,
        workers: u32::MAX,
        queue: 0,
        service_time: Duration::ZERO,
        ..config.clone()
    }
}

/// What [`OriginServer::shutdown`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every connection finished within the grace period.
    pub drained: bool,
    /// Tasks (connections) still running when the grace period ended, then cancelled.
    pub forced: usize,
    /// Tasks left after shutdown (always 0 unless a task ignored cancellation for 1 s).
    pub tasks_left: usize,
}

/// Which role a port plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Port 80.
    Http,
    /// Port 443.
    Https,
}

/// State shared by the server handle, the accept loops and the connections.
pub(crate) struct Shared {
    origin: Mutex<Origin>,
    pub(crate) clock: VirtualClock,
    /// The clock's timers, measured.
    pub(crate) timers: Timers,
    pub(crate) traces: TraceSink,
    pub(crate) hostname: Mutex<String>,
    pub(crate) certs: Arc<Certificates>,
    pub(crate) chunk: Bytes,
    /// Shutdown has begun: stop accepting, close idle and hung connections, finish the rest.
    pub(crate) soft: CancellationToken,
    /// The grace period is over: drop everything.
    pub(crate) hard: CancellationToken,
    pub(crate) tracker: TaskTracker,
    /// The real server behind, when the origin is a fault layer.
    pub(crate) upstream: Option<std::net::SocketAddrV4>,
}

impl Shared {
    pub(crate) fn lock_origin(&self) -> MutexGuard<'_, Origin> {
        self.origin.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running origin. See the [module docs](self) for how each fault is produced.
///
/// ```no_run
/// # async fn demo() -> Result<(), cdn_net::NetError> {
/// use std::sync::Arc;
/// let certs = Arc::new(cdn_net::Certificates::generate("www.example.com")?);
/// let mut origin = cdn_net::OriginServer::start(
///     cdn_core::OriginConfig::default(),
///     "127.0.0.5".parse().unwrap(),
///     certs,
/// )
/// .await?;
/// println!("port 80 is {}, port 443 is {}", origin.http_addr(), origin.https_addr());
/// origin
///     .reconfigure(cdn_core::OriginConfig { state: cdn_core::OriginState::Down, ..Default::default() })
///     .await?; // both ports now refuse connections
/// origin.shutdown().await;
/// # Ok(()) }
/// ```
pub struct OriginServer {
    shared: Arc<Shared>,
    ip: Ipv4Addr,
    http: PortSlot,
    https: PortSlot,
    resolver: Resolver,
    access: NetworkAccess,
    grace: Duration,
    nft: Option<NftTable>,
    unreachable: bool,
    /// The hostname currently published in the resolver.
    published: Option<String>,
    shut_down: bool,
}

impl std::fmt::Debug for OriginServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginServer")
            .field("http", &self.http_addr())
            .field("https", &self.https_addr())
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl OriginServer {
    /// Starts an origin on `addr_ip` (in 127.0.0.0/8) with default [`OriginOptions`].
    /// Must be called inside a tokio runtime.
    pub async fn start(
        config: OriginConfig,
        addr_ip: Ipv4Addr,
        certs: Arc<Certificates>,
    ) -> Result<OriginServer, NetError> {
        OriginServer::start_with(config, addr_ip, certs, OriginOptions::default()).await
    }

    /// Starts an origin with explicit options.
    pub async fn start_with(
        config: OriginConfig,
        addr_ip: Ipv4Addr,
        certs: Arc<Certificates>,
        options: OriginOptions,
    ) -> Result<OriginServer, NetError> {
        config.validate()?;
        let config = match options.upstream {
            Some(_) => fault_layer_config(&config),
            None => config,
        };
        if !addr_ip.is_loopback() {
            return Err(NetError::NotLoopback(addr_ip));
        }
        let clock = match options.clock {
            Some(c) => c,
            None => VirtualClock::start(options.time_scale)?,
        };
        if options.access == NetworkAccess::PrivateNamespace {
            netns::check()?;
        }
        let plan = plan::plan(&config, options.access)?;
        let shared = Arc::new(Shared {
            origin: Mutex::new(Origin::new(config.clone())),
            clock,
            timers: Timers::new(clock, options.lag),
            traces: options.traces,
            hostname: Mutex::new(config.hostname.clone()),
            certs,
            chunk: http::body_chunk(),
            soft: CancellationToken::new(),
            hard: CancellationToken::new(),
            tracker: TaskTracker::new(),
            upstream: options.upstream,
        });
        let mut server = OriginServer {
            http: PortSlot::reserve(addr_ip, Role::Http)?,
            https: PortSlot::reserve(addr_ip, Role::Https)?,
            shared,
            ip: addr_ip,
            resolver: options.resolver,
            access: options.access,
            grace: options.shutdown_grace,
            nft: None,
            unreachable: false,
            published: None,
            shut_down: false,
        };
        server.apply(&plan, &config).await?;
        tracing::info!(
            ip = %addr_ip,
            http = %server.http_addr(),
            https = %server.https_addr(),
            state = ?config.state,
            "origin started"
        );
        Ok(server)
    }

    /// The address that plays port 80. It is always bound: whether anything *answers* there
    /// is the fault being played (a `down` origin refuses on this very address).
    pub fn http_addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// The address that plays port 443 (always bound, see [`OriginServer::http_addr`]).
    pub fn https_addr(&self) -> SocketAddr {
        self.https.addr()
    }

    /// The address for a port the core names (80 or 443); `None` for any other port.
    pub fn addr_for(&self, port: u16) -> Option<SocketAddr> {
        match port {
            80 => Some(self.http_addr()),
            443 => Some(self.https_addr()),
            _ => None,
        }
    }

    /// The origin's loopback address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The resolver the hostname is published in.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// The clock the server runs on.
    pub fn clock(&self) -> VirtualClock {
        self.shared.clock
    }

    /// Virtual time now.
    pub fn now(&self) -> Instant {
        self.shared.clock.now()
    }

    /// The current configuration.
    pub fn config(&self) -> OriginConfig {
        self.shared.lock_origin().config().clone()
    }

    /// HTTP requests that reached the core, including those a defence turned away.
    pub fn requests_received(&self) -> u64 {
        self.shared.lock_origin().requests_received()
    }

    /// Applies a new configuration (an `[[event]]`): the core's state, then listeners,
    /// firewall, routes and DNS as needed. Ports do not change. An invalid or unsupported
    /// configuration is an error and changes nothing; an error while changing sockets
    /// leaves the server partly reconfigured.
    pub async fn reconfigure(&mut self, config: OriginConfig) -> Result<(), NetError> {
        config.validate()?;
        let config = self.effective(&config);
        let plan = plan::plan(&config, self.access)?;
        {
            let mut o = self.shared.lock_origin();
            let now = self.shared.clock.now();
            o.reconfigure(now, config.clone());
        }
        *self
            .shared
            .hostname
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = config.hostname.clone();
        self.apply(&plan, &config).await?;
        tracing::info!(ip = %self.ip, state = ?config.state, "origin reconfigured");
        Ok(())
    }

    /// The configuration this server runs for `config`: `config` itself, or what a fault
    /// layer keeps of it ([`fault_layer_config`]). Compare with [`OriginServer::config`] to
    /// see whether an event changes anything.
    pub fn effective(&self, config: &OriginConfig) -> OriginConfig {
        match self.shared.upstream {
            Some(_) => fault_layer_config(config),
            None => config.clone(),
        }
    }

    async fn apply(&mut self, plan: &plan::Plan, config: &OriginConfig) -> Result<(), NetError> {
        if self.unreachable && !plan.unreachable {
            let ip = self.ip;
            netns::off_runtime(move || netns::set_unreachable(ip, false)).await?;
            self.unreachable = false;
        }
        self.http.set(&plan.http, &self.shared).await?;
        self.https.set(&plan.https, &self.shared).await?;
        if plan.nftables {
            let ports = [self.http_addr().port(), self.https_addr().port()];
            self.nft
                .get_or_insert_with(NftTable::new)
                .apply(
                    self.ip,
                    ports,
                    &config.firewall,
                    config.state == cdn_core::OriginState::Blackhole,
                )
                .await?;
        }
        if plan.unreachable && !self.unreachable {
            let ip = self.ip;
            netns::off_runtime(move || netns::set_unreachable(ip, true)).await?;
            self.unreachable = true;
        }
        if let Some(old) = self.published.take() {
            self.resolver.remove(&old);
        }
        if plan.resolvable {
            self.resolver.insert(
                &config.hostname,
                HostEntry {
                    ip: self.ip,
                    http_port: self.http_addr().port(),
                    https_port: self.https_addr().port(),
                },
            );
            self.published = Some(config.hostname.clone());
        }
        Ok(())
    }

    /// [`OriginServer::shutdown`] with `grace` instead of the configured grace period.
    pub async fn shutdown_within(mut self, grace: Duration) -> ShutdownReport {
        self.grace = grace;
        self.shutdown().await
    }

    /// Stops accepting (both ports refuse from here on), closes idle and hung connections,
    /// lets in-flight requests finish within the grace period (default 2 s), then cancels
    /// what is left and removes firewall rules, routes and the DNS entry.
    pub async fn shutdown(mut self) -> ShutdownReport {
        let shared = self.shared.clone();
        shared.soft.cancel();
        self.http.close().await;
        self.https.close().await;
        shared.tracker.close();
        let drained = tokio::time::timeout(self.grace, shared.tracker.wait())
            .await
            .is_ok();
        let mut forced = 0;
        if !drained {
            forced = shared.tracker.len();
            shared.hard.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(1), shared.tracker.wait()).await;
        }
        self.release();
        let report = ShutdownReport {
            drained,
            forced,
            tasks_left: shared.tracker.len(),
        };
        tracing::info!(ip = %self.ip, ?report, "origin shut down");
        report
    }

    /// Removes what lives outside the process's sockets: nftables table, route, DNS entry.
    fn release(&mut self) {
        if self.shut_down {
            return;
        }
        self.shut_down = true;
        if let Some(t) = self.nft.take() {
            t.delete();
        }
        if self.unreachable {
            let _ = netns::set_unreachable(self.ip, false);
        }
        if let Some(h) = self.published.take() {
            self.resolver.remove(&h);
        }
    }
}

impl Drop for OriginServer {
    /// Dropped without [`OriginServer::shutdown`]: every task is cancelled at once (they end
    /// on their next poll) and the firewall table, route and DNS entry are removed.
    fn drop(&mut self) {
        if !self.shut_down {
            self.shared.soft.cancel();
            self.shared.hard.cancel();
            self.release();
        }
    }
}
