//! A whole CDN on loopback: one origin, the L2 shields and the L1 edges, sharing one virtual
//! clock (and one meter of its timers' lateness), one resolver, one trace sink and one set of
//! certificates.
//!
//! Addresses: the origin on `127.0.0.10`, L2 *i* on `127.0.3.{i+1}`, L1 *i* on `127.0.2.{i+1}`
//! (each on an ephemeral port); back-to-origin traffic leaves from the egress pools of the
//! scenario (which must be loopback addresses too).

use crate::certs::Certificates;
use crate::clock::VirtualClock;
use crate::error::NetError;
use crate::link::Links;
use crate::origin::{NetworkAccess, OriginOptions, OriginServer};
use crate::proxy::{Proxy, ProxySpec, RealSpec, Upstream, UpstreamTls};
use crate::resolver::Resolver;
use crate::timing::{LagMeter, Timers};
use crate::trace_sink::TraceSink;
use cdn_core::config::build_nodes;
use cdn_core::topology::l1_for_client;
use cdn_core::{
    AddrSpec, CdnConfig, NetworkConfig, NodeSettings, NodeState, OriginConfig, Profile, Tier,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// What to build.
#[derive(Clone, Debug)]
pub struct NetSpec {
    /// Whose codes and timeouts.
    pub profile: Profile,
    /// `[cdn]`.
    pub cdn: CdnConfig,
    /// `[origin]`.
    pub origin: OriginConfig,
    /// `[network]`: the round-trip times the proxies emulate.
    pub network: NetworkConfig,
    /// Seeds egress selection, as in the simulator.
    pub seed: u64,
    /// Real seconds per virtual second (0.01: a 19 s connect timeout takes 190 ms).
    pub time_scale: f64,
    /// Privileges for faults that need a private network namespace.
    pub access: NetworkAccess,
}

/// How a CDN in front of a real upstream is reached and what it stores.
#[derive(Clone, Debug, Default)]
pub struct RealOptions {
    /// The address the first L1 listens on (`cdn-sim proxy --listen`); the others, and
    /// every L1 when `None`, take an ephemeral port.
    pub l1_listen: Option<SocketAddr>,
    /// The largest body stored (0: the default, 8 MiB); larger ones stream through.
    pub max_stored: u64,
    /// The L2s connect straight to the real server, with no fault layer between (`cdn-sim
    /// proxy`: nothing to break, one hop fewer). By default (`false`) the origin's fault
    /// layer stands in front of it, so the scenario's firewall, `state` and defences act
    /// on the real traffic ([`OriginOptions::upstream`](crate::origin::OriginOptions)).
    pub direct: bool,
    /// Client connections are served on this many event loops of their own (single-threaded
    /// runtimes, as nginx's `worker_processes`; [`EventLoops`](crate::EventLoops)); 0: on
    /// the runtime the CDN is started from.
    pub event_loops: usize,
}

/// A running CDN on loopback.
pub struct NetCdn {
    timers: Timers,
    traces: TraceSink,
    profile: Profile,
    /// The modelled origin, or the fault layer in front of a real upstream (`None` when
    /// the L2s connect to it directly).
    origin: Option<OriginServer>,
    /// The hostname the CDN serves (`[origin] hostname`).
    site: String,
    l1: Vec<Proxy>,
    l2: Vec<Proxy>,
}

impl NetCdn {
    /// Starts the origin, then the L2s, then the L1s.
    pub async fn start(spec: NetSpec) -> Result<NetCdn, NetError> {
        NetCdn::start_with(spec, RealOptions::default()).await
    }

    /// [`NetCdn::start`], with the options of a CDN in front of a real upstream
    /// (`[origin] upstream`; ignored otherwise).
    pub async fn start_with(mut spec: NetSpec, options: RealOptions) -> Result<NetCdn, NetError> {
        spec.cdn.validate()?;
        spec.origin.validate()?;
        let upstream = match &spec.origin.upstream {
            Some(url) => Some(cdn_core::origin::UpstreamUrl::parse(url)?),
            None => None,
        };
        if let Some(u) = &upstream {
            // The fault layer reads the HTTP it relays; TLS to a real server is end to end
            // (its certificate is what the shields check), so nothing can stand between.
            if let (true, Some(key)) = (u.https, spec.origin.fault_key()) {
                return Err(NetError::Config(cdn_core::ConfigError::new(
                    key,
                    "the fault layer relays HTTP only: with an https:// upstream (reached \
                     directly, encrypted end to end) faults and defences need http://",
                )));
            }
            // A real server dates its responses in real time: so does the CDN.
            spec.time_scale = 1.0;
        }
        let upstream_roots = match &spec.origin.upstream_ca {
            Some(path) => crate::certs::load_ca_file(std::path::Path::new(path))?,
            None => Vec::new(),
        };
        for node in spec.cdn.l1.iter().chain(&spec.cdn.l2) {
            for e in &node.egress {
                if let AddrSpec::Range { first, last } = *e {
                    for ip in [first, last] {
                        if !ip.is_loopback() {
                            return Err(NetError::NotLoopback(ip));
                        }
                    }
                }
            }
        }
        // In front of a real server, virtual time starts 30 days back so that its `Date`,
        // `Expires` and `Last-Modified` headers in the recent past keep their distance.
        let clock = match upstream {
            Some(_) => VirtualClock::start_back(Duration::from_secs(30 * 86_400))?,
            None => VirtualClock::start(spec.time_scale)?,
        };
        let timers = Timers::new(clock, LagMeter::default());
        crate::wire::prepare_body();
        let traces = TraceSink::default();
        let certs = Arc::new(Certificates::generate(&spec.origin.hostname)?);
        let resolver = Resolver::default();
        // The modelled origin, or the fault layer in front of the real one.
        let through_fault_layer = upstream.as_ref().is_some_and(|u| !u.https) && !options.direct;
        let origin = if upstream.is_some() && !through_fault_layer {
            None
        } else {
            Some(
                OriginServer::start_with(
                    spec.origin.clone(),
                    Ipv4Addr::new(127, 0, 0, 10),
                    certs.clone(),
                    OriginOptions {
                        time_scale: spec.time_scale,
                        clock: Some(clock),
                        resolver: resolver.clone(),
                        access: spec.access,
                        lag: timers.lag().clone(),
                        traces: traces.clone(),
                        upstream: upstream.as_ref().map(|u| u.addr),
                        ..OriginOptions::default()
                    },
                )
                .await?,
            )
        };
        let links = Links::from_network(&spec.network);
        let max_stored = match options.max_stored {
            0 => RealSpec::default().max_stored,
            n => n,
        };
        // The URL says whether there is a handshake, the CDN's ssl_mode whether it
        // verifies (`UpstreamUrl::tls`).
        let upstream_tls = match upstream.as_ref().and_then(|u| u.tls(spec.cdn.ssl_mode)) {
            Some(policy) => {
                let u = upstream.as_ref().expect("a policy comes from a URL");
                let name =
                    rustls::pki_types::ServerName::try_from(u.host().to_string()).map_err(|e| {
                        NetError::Config(cdn_core::ConfigError::new(
                            "origin.upstream",
                            format!("{:?} is not a TLS server name: {e}", u.host()),
                        ))
                    })?;
                Some(UpstreamTls {
                    policy,
                    config: certs.upstream_client_config(policy.verify, &upstream_roots),
                    name,
                })
            }
            None => None,
        };
        let real_spec = |tier, capacity| {
            upstream.as_ref().map(|u| RealSpec {
                upstream: (tier == Tier::L2).then(|| u.clone()),
                upstream_tls: upstream_tls.clone().filter(|_| tier == Tier::L2),
                through_fault_layer,
                max_stored,
                // The node's capacity: past it, copies the node has dropped go (the ones
                // it holds stay; see `Stored::put`).
                store_bytes: capacity,
            })
        };
        let loops = match options.event_loops {
            0 => None,
            n => Some(
                crate::EventLoops::start(n)
                    .map_err(|e| NetError::io(format!("starting {n} event loops"), e))?,
            ),
        };
        let proxy = |node, listen, upstream, real| ProxySpec {
            node,
            listen,
            upstream,
            origin_host: spec.origin.hostname.clone(),
            resolver: resolver.clone(),
            certs: certs.clone(),
            timers: timers.clone(),
            traces: traces.clone(),
            links,
            real,
            loops: loops.clone(),
        };
        let mut l2 = Vec::new();
        let l2_nodes = build_nodes(&spec.cdn, spec.profile, Tier::L2, spec.seed);
        for (i, node) in l2_nodes.into_iter().enumerate() {
            let listen = Ipv4Addr::new(127, 0, 3, i as u8 + 1);
            let real = real_spec(Tier::L2, node.cache().capacity());
            let spec = proxy(node, listen, Upstream::Origin, real);
            l2.push(Proxy::start(spec).await?);
        }
        let parents: Vec<(String, SocketAddr)> = l2
            .iter()
            .map(|p| (p.name().to_string(), p.addr()))
            .collect();
        let mut l1 = Vec::new();
        let l1_nodes = build_nodes(&spec.cdn, spec.profile, Tier::L1, spec.seed);
        for (i, node) in l1_nodes.into_iter().enumerate() {
            let listen = Ipv4Addr::new(127, 0, 2, i as u8 + 1);
            let upstream = Upstream::Parents(parents.clone());
            let real = real_spec(Tier::L1, node.cache().capacity());
            let spec = proxy(node, listen, upstream, real);
            let at = if i == 0 { options.l1_listen } else { None };
            l1.push(Proxy::start_at(spec, at).await?);
        }
        Ok(NetCdn {
            timers,
            traces,
            profile: spec.profile,
            origin,
            site: spec.origin.hostname.clone(),
            l1,
            l2,
        })
    }

    /// The hostname the CDN serves (`[origin] hostname`): clients send it as `Host`.
    pub fn site(&self) -> &str {
        &self.site
    }

    /// The run's clock.
    pub fn clock(&self) -> VirtualClock {
        self.timers.clock()
    }

    /// The run's timers (and the meter of their lateness).
    pub fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Where the tiers record traced requests' steps.
    pub fn traces(&self) -> &TraceSink {
        &self.traces
    }

    /// The L1 edge a client talks to (clients are spread as in the model).
    pub fn l1_for(&self, client: Ipv4Addr) -> SocketAddr {
        self.l1[l1_for_client(client, self.l1.len())].addr()
    }

    /// Every L1 address, in configuration order.
    pub fn l1_addrs(&self) -> Vec<SocketAddr> {
        self.l1.iter().map(|p| p.addr()).collect()
    }

    /// Answers per cache status, summed over a tier's proxies (L1 or L2).
    pub fn answered(&self, tier: Tier) -> [u64; 8] {
        let proxies = if tier == Tier::L1 { &self.l1 } else { &self.l2 };
        let mut sum = [0u64; 8];
        for p in proxies {
            for (s, n) in sum.iter_mut().zip(p.answered()) {
                *s += n;
            }
        }
        sum
    }

    /// Waits until no node has a request in progress (an L2 still fetching for an L1 that
    /// gave up on it finishes, fills its cache and counts its answer, as in the simulator),
    /// for at most `cap` of virtual time.
    pub async fn settle(&self, cap: Duration) {
        let until = self.timers.now() + cap;
        let step = Duration::from_millis(5);
        while self.timers.now() < until {
            let busy = self
                .l1
                .iter()
                .chain(&self.l2)
                .any(|p| p.requests_in_progress() > 0);
            if !busy {
                return;
            }
            tokio::time::sleep(step).await;
        }
    }

    /// HTTP requests that reached the origin.
    pub fn origin_requests(&self) -> u64 {
        match &self.origin {
            Some(o) => o.requests_received(),
            // A real server reached directly: what the shields sent it.
            None => self.l2.iter().map(Proxy::sent_to_origin).sum(),
        }
    }

    /// Applies an `[[event]]`: new `[cdn]` (including L2 states), `[origin]` and `[network]`.
    pub async fn apply(
        &mut self,
        cdn: &CdnConfig,
        origin: &OriginConfig,
        network: &NetworkConfig,
    ) -> Result<(), NetError> {
        let changed = self
            .origin
            .as_ref()
            .is_some_and(|o| o.effective(origin) != o.config());
        if let (true, Some(o)) = (changed, &mut self.origin) {
            o.reconfigure(origin.clone()).await?;
            for p in self.l1.iter().chain(&self.l2) {
                p.drop_connections();
            }
        }
        let settings = NodeSettings::new(cdn, self.profile);
        let links = Links::from_network(network);
        for (p, cfg) in self.l2.iter().zip(&cdn.l2) {
            p.update(settings.clone(), cfg.state, links)?;
        }
        for p in &self.l1 {
            p.update(settings.clone(), NodeState::Up, links)?;
            // A parent may have gone down or come back: its pooled connections are stale.
            p.drop_parent_connections();
        }
        Ok(())
    }

    /// Applies `limits` to every proxy (connections accepted from now on).
    pub fn set_limits(&self, limits: crate::ServeLimits) {
        for p in self.l1.iter().chain(&self.l2) {
            p.set_limits(limits);
        }
    }

    /// Client connections open at the edges now.
    pub fn client_connections(&self) -> usize {
        self.l1.iter().map(Proxy::connections).sum()
    }

    /// Stops everything within `grace`: every edge stops accepting at once and its clients'
    /// requests in flight may finish (the shields and the origin stay up for them) until
    /// the one deadline; those still running then are answered `503` with
    /// `Connection: close`. Then the shields and the origin stop, with what is left of
    /// `grace` (nothing of theirs is a client's any more). Returns how many client requests
    /// were cut off — exactly those answered so.
    pub async fn shutdown(self, grace: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + grace;
        for p in &self.l1 {
            p.stop_accepting();
        }
        let mut cut = 0;
        for p in self.l1 {
            cut += p.shutdown_until(deadline).await;
        }
        for p in self.l2 {
            p.shutdown_until(deadline).await;
        }
        if let Some(o) = self.origin {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            o.shutdown_within(left).await;
        }
        cut
    }
}
