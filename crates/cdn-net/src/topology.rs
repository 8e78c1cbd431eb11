//! A whole CDN on loopback: one origin, the L2 shields and the L1 edges, sharing one virtual
//! clock, one resolver and one set of certificates.
//!
//! Addresses: the origin on `127.0.0.10`, L2 *i* on `127.0.3.{i+1}`, L1 *i* on `127.0.2.{i+1}`
//! (each on an ephemeral port); back-to-origin traffic leaves from the egress pools of the
//! scenario (which must be loopback addresses too).

use crate::certs::Certificates;
use crate::clock::VirtualClock;
use crate::error::NetError;
use crate::origin::{NetworkAccess, OriginOptions, OriginServer};
use crate::proxy::{Proxy, ProxySpec, Settings, Upstream};
use crate::resolver::Resolver;
use cdn_core::config::build_nodes;
use cdn_core::topology::l1_for_client;
use cdn_core::{AddrSpec, CdnConfig, NodeState, OriginConfig, Profile, Tier};
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
    /// Seeds egress selection, as in the simulator.
    pub seed: u64,
    /// Real seconds per virtual second (0.01: a 19 s connect timeout takes 190 ms).
    pub time_scale: f64,
    /// Privileges for faults that need a private network namespace.
    pub access: NetworkAccess,
}

/// A running CDN on loopback.
pub struct NetCdn {
    clock: VirtualClock,
    profile: Profile,
    origin: OriginServer,
    l1: Vec<Proxy>,
    l2: Vec<Proxy>,
}

fn settings(cdn: &CdnConfig, profile: Profile, state: NodeState) -> Settings {
    Settings {
        cdn: cdn.clone(),
        policy: cdn.cache_policy(profile),
        timeouts: cdn.timeouts(profile),
        state,
    }
}

impl NetCdn {
    /// Starts the origin, then the L2s, then the L1s.
    pub async fn start(spec: NetSpec) -> Result<NetCdn, NetError> {
        spec.cdn.validate()?;
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
        let clock = VirtualClock::start(spec.time_scale)?;
        let certs = Arc::new(Certificates::generate(&spec.origin.hostname)?);
        let resolver = Resolver::default();
        let origin = OriginServer::start_with(
            spec.origin.clone(),
            Ipv4Addr::new(127, 0, 0, 10),
            certs.clone(),
            OriginOptions {
                time_scale: spec.time_scale,
                clock: Some(clock),
                resolver: resolver.clone(),
                access: spec.access,
                ..OriginOptions::default()
            },
        )
        .await?;
        let io = |what: &str, e: std::io::Error| NetError::Io {
            what: what.to_string(),
            source: e,
        };
        let mut l2 = Vec::new();
        let l2_nodes = build_nodes(&spec.cdn.l2, Tier::L2, spec.seed);
        for (i, (node, cfg)) in l2_nodes.into_iter().zip(&spec.cdn.l2).enumerate() {
            let proxy = Proxy::start(ProxySpec {
                tier: Tier::L2,
                node,
                listen: Ipv4Addr::new(127, 0, 3, i as u8 + 1),
                profile: spec.profile,
                settings: settings(&spec.cdn, spec.profile, cfg.state),
                upstream: Upstream::Origin,
                origin_host: spec.origin.hostname.clone(),
                resolver: resolver.clone(),
                certs: certs.clone(),
                clock,
            })
            .await
            .map_err(|e| io("start an L2 proxy", e))?;
            l2.push(proxy);
        }
        let parents: Vec<(String, SocketAddr)> = l2
            .iter()
            .map(|p| (p.name().to_string(), p.addr()))
            .collect();
        let mut l1 = Vec::new();
        let l1_nodes = build_nodes(&spec.cdn.l1, Tier::L1, spec.seed);
        for (i, node) in l1_nodes.into_iter().enumerate() {
            let proxy = Proxy::start(ProxySpec {
                tier: Tier::L1,
                node,
                listen: Ipv4Addr::new(127, 0, 2, i as u8 + 1),
                profile: spec.profile,
                settings: settings(&spec.cdn, spec.profile, NodeState::Up),
                upstream: Upstream::Parents(parents.clone()),
                origin_host: spec.origin.hostname.clone(),
                resolver: resolver.clone(),
                certs: certs.clone(),
                clock,
            })
            .await
            .map_err(|e| io("start an L1 proxy", e))?;
            l1.push(proxy);
        }
        Ok(NetCdn {
            clock,
            profile: spec.profile,
            origin,
            l1,
            l2,
        })
    }

    /// The run's clock.
    pub fn clock(&self) -> VirtualClock {
        self.clock
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

    /// HTTP requests that reached the origin.
    pub fn origin_requests(&self) -> u64 {
        self.origin.requests_received()
    }

    /// Applies an `[[event]]`: new `[cdn]` (including L2 states) and `[origin]`.
    pub async fn apply(&mut self, cdn: &CdnConfig, origin: &OriginConfig) -> Result<(), NetError> {
        if *origin != self.origin.config() {
            self.origin.reconfigure(origin.clone()).await?;
            for p in self.l1.iter().chain(&self.l2) {
                p.drop_connections();
            }
        }
        for (p, cfg) in self.l2.iter().zip(&cdn.l2) {
            p.update(settings(cdn, self.profile, cfg.state));
        }
        for p in &self.l1 {
            p.update(settings(cdn, self.profile, NodeState::Up));
        }
        Ok(())
    }

    /// Stops everything: the edges first (they stop accepting and finish what is in flight,
    /// which needs the shields and the origin still up), then the shields, then the origin.
    /// Each waits up to `grace` for in-flight requests; returns how many were cut off.
    pub async fn shutdown(self, grace: Duration) -> usize {
        let mut cut = 0;
        for p in self.l1 {
            cut += p.shutdown(grace).await;
        }
        for p in self.l2 {
            cut += p.shutdown(grace).await;
        }
        self.origin.shutdown().await;
        cut
    }
}
