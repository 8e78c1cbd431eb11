//! From an [`OriginConfig`] to what the kernel must do: per port, nothing listening / a
//! listener (with a BPF drop list) / a full accept queue; and whether nftables and an
//! unreachable route are needed. Pure, so it is unit-tested without sockets.

use super::NetworkAccess;
use crate::error::NetError;
use cdn_core::origin::ConnectVerdict;
use cdn_core::{AddrSpec, HttpsListener, Origin, OriginConfig, OriginState};
use std::net::Ipv4Addr;

/// What one port (playing 80 or 443) looks like to the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SlotMode {
    /// Bound but not listening: every SYN is answered with RST (`ECONNREFUSED`).
    Reserved,
    /// Listening and accepting; SYNs from `drops` are discarded by a BPF filter.
    Accepting {
        /// Inclusive source ranges whose SYNs are dropped.
        drops: Vec<(Ipv4Addr, Ipv4Addr)>,
    },
    /// Listening with backlog 1, never accepting, queue pre-filled: SYNs are dropped.
    QueueFull,
}

/// Everything the kernel must do for one configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) http: SlotMode,
    pub(crate) https: SlotMode,
    /// Install the firewall rules with nftables (private namespace only).
    pub(crate) nftables: bool,
    /// Install an `unreachable` route for the origin's address.
    pub(crate) unreachable: bool,
    /// Keep the hostname in the resolver.
    pub(crate) resolvable: bool,
}

pub(crate) fn plan(config: &OriginConfig, access: NetworkAccess) -> Result<Plan, NetError> {
    // The sockets of an origin whose name does not resolve, or whose address is unroutable,
    // are those of a healthy origin: DNS and routing are produced elsewhere.
    let mut sockets = config.clone();
    if matches!(
        config.state,
        OriginState::DnsFailure | OriginState::Unreachable
    ) {
        sockets.state = OriginState::Up;
    }
    let listening = |port: u16| match port {
        80 => sockets.http,
        _ => sockets.https != HttpsListener::None,
    };
    let (http, https) = match access {
        NetworkAccess::PrivateNamespace => {
            let mode = |port| {
                if !listening(port) || sockets.state == OriginState::Down {
                    SlotMode::Reserved
                } else if sockets.state == OriginState::AcceptQueueFull {
                    SlotMode::QueueFull
                } else {
                    SlotMode::Accepting { drops: Vec::new() }
                }
            };
            (mode(80), mode(443))
        }
        NetworkAccess::Unprivileged => {
            if config.state == OriginState::Unreachable {
                return Err(NetError::NeedsPrivateNamespace {
                    fault: "state = \"unreachable\" (an unreachable route)",
                });
            }
            if config.state == OriginState::Blackhole {
                return Err(NetError::NeedsPrivateNamespace {
                    fault: "state = \"blackhole\" (packets dropped after the handshake)",
                });
            }
            let origin = Origin::new(sockets.clone());
            let mode = |port| unprivileged_mode(&origin, &sockets, port);
            (mode(80)?, mode(443)?)
        }
    };
    Ok(Plan {
        http,
        https,
        nftables: access == NetworkAccess::PrivateNamespace,
        unreachable: config.state == OriginState::Unreachable,
        resolvable: config.state != OriginState::DnsFailure,
    })
}

/// Without privileges: a listener, a BPF filter and the accept queue are all we have, so the
/// verdict `Origin::connect` gives each source must be one of "accept" / "drop" everywhere,
/// or "refuse" everywhere.
fn unprivileged_mode(
    origin: &Origin,
    config: &OriginConfig,
    port: u16,
) -> Result<SlotMode, NetError> {
    let verdicts = source_verdicts(origin, config, port);
    let refused = verdicts
        .iter()
        .filter(|v| v.2 == ConnectVerdict::Refuse)
        .count();
    if refused == verdicts.len() {
        return Ok(SlotMode::Reserved);
    }
    if refused > 0 {
        return Err(NetError::NeedsPrivateNamespace {
            fault: "connection refused for some sources only (a firewall reject for part of \
                    the address space, or a drop in front of a closed port)",
        });
    }
    if verdicts.iter().any(|v| v.2 == ConnectVerdict::Unreachable) {
        return Err(NetError::NeedsPrivateNamespace {
            fault: "an unreachable origin",
        });
    }
    if config.state == OriginState::AcceptQueueFull {
        return Ok(SlotMode::QueueFull);
    }
    Ok(SlotMode::Accepting {
        drops: verdicts
            .iter()
            .filter(|v| v.2 == ConnectVerdict::Drop)
            .map(|v| (v.0, v.1))
            .collect(),
    })
}

/// The IPv4 space cut into ranges over which `Origin::connect(source, port)` is constant,
/// adjacent equal ranges merged, in ascending order.
pub(crate) fn source_verdicts(
    origin: &Origin,
    config: &OriginConfig,
    port: u16,
) -> Vec<(Ipv4Addr, Ipv4Addr, ConnectVerdict)> {
    let mut cuts = vec![0u32];
    for r in &config.firewall {
        if let AddrSpec::Range { first, last } = r.source {
            cuts.push(first.into());
            if let Some(next) = u32::from(last).checked_add(1) {
                cuts.push(next);
            }
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<(Ipv4Addr, Ipv4Addr, ConnectVerdict)> = Vec::new();
    for (i, &start) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).map_or(u32::MAX, |n| n - 1);
        let verdict = origin.connect(start.into(), port);
        match out.last_mut() {
            Some(last) if last.2 == verdict => last.1 = end.into(),
            _ => out.push((start.into(), end.into(), verdict)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdn_core::origin::{FirewallAction, FirewallRule};

    fn rule(source: &str, action: FirewallAction) -> FirewallRule {
        FirewallRule {
            source: source.parse().unwrap(),
            action,
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn healthy_origin_listens_on_both_ports() {
        let p = plan(&OriginConfig::default(), NetworkAccess::Unprivileged).unwrap();
        assert_eq!(p.http, SlotMode::Accepting { drops: vec![] });
        assert_eq!(p.https, SlotMode::Accepting { drops: vec![] });
        assert!(p.resolvable && !p.unreachable && !p.nftables);
    }

    #[test]
    fn down_and_closed_ports_reserve_without_listening() {
        let down = OriginConfig {
            state: OriginState::Down,
            ..Default::default()
        };
        let p = plan(&down, NetworkAccess::Unprivileged).unwrap();
        assert_eq!((p.http, p.https), (SlotMode::Reserved, SlotMode::Reserved));
        let no443 = OriginConfig {
            https: HttpsListener::None,
            ..Default::default()
        };
        let p = plan(&no443, NetworkAccess::Unprivileged).unwrap();
        assert_eq!(p.https, SlotMode::Reserved);
        assert_eq!(p.http, SlotMode::Accepting { drops: vec![] });
    }

    #[test]
    fn drops_follow_first_match_order() {
        let c = OriginConfig {
            firewall: vec![
                rule("127.0.1.5", FirewallAction::Allow),
                rule("127.0.1.0/24", FirewallAction::Drop),
            ],
            ..Default::default()
        };
        let p = plan(&c, NetworkAccess::Unprivileged).unwrap();
        assert_eq!(
            p.http,
            SlotMode::Accepting {
                drops: vec![
                    (ip("127.0.1.0"), ip("127.0.1.4")),
                    (ip("127.0.1.6"), ip("127.0.1.255"))
                ]
            }
        );
    }

    #[test]
    fn reject_everyone_is_exact_without_privileges_partial_reject_is_not() {
        let all = OriginConfig {
            firewall: vec![rule("any", FirewallAction::Reject)],
            ..Default::default()
        };
        let p = plan(&all, NetworkAccess::Unprivileged).unwrap();
        assert_eq!(p.http, SlotMode::Reserved);
        let some = OriginConfig {
            firewall: vec![
                rule("127.0.1.0/29", FirewallAction::Allow),
                rule("any", FirewallAction::Reject),
            ],
            ..Default::default()
        };
        assert!(matches!(
            plan(&some, NetworkAccess::Unprivileged),
            Err(NetError::NeedsPrivateNamespace { .. })
        ));
        let p = plan(&some, NetworkAccess::PrivateNamespace).unwrap();
        assert_eq!(p.http, SlotMode::Accepting { drops: vec![] });
        assert!(p.nftables);
    }

    #[test]
    fn drop_everyone_in_front_of_a_closed_port_is_a_listener_that_drops_all() {
        let c = OriginConfig {
            state: OriginState::Down,
            firewall: vec![rule("any", FirewallAction::Drop)],
            ..Default::default()
        };
        let p = plan(&c, NetworkAccess::Unprivileged).unwrap();
        assert_eq!(
            p.http,
            SlotMode::Accepting {
                drops: vec![(ip("0.0.0.0"), ip("255.255.255.255"))]
            }
        );
    }

    #[test]
    fn queue_full_unreachable_and_dns() {
        let q = OriginConfig {
            state: OriginState::AcceptQueueFull,
            ..Default::default()
        };
        assert_eq!(
            plan(&q, NetworkAccess::Unprivileged).unwrap().http,
            SlotMode::QueueFull
        );
        let u = OriginConfig {
            state: OriginState::Unreachable,
            ..Default::default()
        };
        assert!(plan(&u, NetworkAccess::Unprivileged).is_err());
        let p = plan(&u, NetworkAccess::PrivateNamespace).unwrap();
        assert!(p.unreachable);
        assert_eq!(p.http, SlotMode::Accepting { drops: vec![] });
        let d = OriginConfig {
            state: OriginState::DnsFailure,
            ..Default::default()
        };
        let p = plan(&d, NetworkAccess::Unprivileged).unwrap();
        assert!(!p.resolvable);
        assert_eq!(p.http, SlotMode::Accepting { drops: vec![] });
    }
}
