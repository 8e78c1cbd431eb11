//! Emulated link latency: the round-trip times of `[network]`, made real with timers so that
//! a request on loopback takes as long (in virtual time) as in the simulator.
//!
//! The node that opens a connection emulates both directions of its upstream link: half a
//! round trip before its SYN or request leaves, half before it acts on what came back. A
//! TCP handshake costs one RTT, a TLS handshake one more, a request and its response one
//! more (plus the peer's own time). Connections between tiers are warm, as in the
//! simulator: a connect to an L2 that listens costs nothing; one that is refused costs an RTT.

use std::time::Duration;

/// One-way latencies (virtual) of the links a proxy sends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// L1 → L2, one way (half of `l1_l2_rtt`).
    pub to_parent: Duration,
    /// L2 (or an L1 going direct) → origin, one way (half of `l2_origin_rtt`).
    pub to_origin: Duration,
}

impl Links {
    /// The links of `[network]`.
    pub fn from_network(net: &cdn_core::NetworkConfig) -> Links {
        Links {
            to_parent: net.l1_l2_rtt / 2,
            to_origin: net.l2_origin_rtt / 2,
        }
    }
}
