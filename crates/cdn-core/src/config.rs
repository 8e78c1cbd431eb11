//! `[cdn]` and `[network]` configuration: tiers, nodes, timeouts and policies.
//!
//! Timeouts left unset come from the [`Profile`]; [`CdnConfig::timeouts`] resolves them.

use crate::addr::AddrSpec;
use crate::egress::EgressSelection;
use crate::origin::ConfigError;
use crate::profile::Profile;
use crate::tls::SslMode;
use crate::units::serde_units;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::time::Duration;

/// What an L1 does when its L2 fails (the L1 → L2 hop fails, or the L2 generates a 5xx of its
/// own), as Apache Traffic Server's `parent.config` allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParentErrorPolicy {
    /// Pass the L2's response (or L1's own error for a failed hop) to the client.
    #[default]
    Relay,
    /// Try the next L2 in consistent-hash order, once.
    NextParent,
    /// Fetch from the origin directly, from the L1's own egress address.
    GoDirect,
}

/// Whether a cache node is serving.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Serving.
    #[default]
    Up,
    /// Not listening: connections to it are refused.
    Down,
    /// Accepts connections, never answers.
    Hung,
}

/// One cache node (`[[cdn.l1]]` or `[[cdn.l2]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Unique node name, shown in traces and `x-cache` headers.
    pub name: String,
    /// Byte capacity (default 64 MiB at L1, 1 GiB at L2; `"0B"` disables caching).
    #[serde(default, with = "opt_size")]
    pub cache: Option<u64>,
    /// Egress pool toward the next tier (L2: toward the origin; L1: used only by
    /// `on_parent_error = "go_direct"`). Default: one address, `127.0.{i+1}.1` for the
    /// i-th L2 (counting from 0) and `127.0.{101+i}.1` for the i-th L1.
    #[serde(default)]
    pub egress: Vec<AddrSpec>,
    /// How a new connection picks its egress address (default `round_robin`).
    #[serde(default)]
    pub egress_selection: EgressSelection,
    /// `up` (default), `down` or `hung`; only L2 nodes may be other than `up`.
    #[serde(default)]
    pub state: NodeState,
}

mod opt_size {
    use serde::{Deserializer, Serializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        crate::units::serde_units::size::deserialize(d).map(Some)
    }
    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => crate::units::serde_units::size::serialize(v, s),
            None => s.serialize_none(),
        }
    }
}

impl NodeConfig {
    /// A node called `name` with every default.
    pub fn named(name: impl Into<String>) -> NodeConfig {
        NodeConfig {
            name: name.into(),
            cache: None,
            egress: Vec::new(),
            egress_selection: EgressSelection::RoundRobin,
            state: NodeState::Up,
        }
    }

    /// The default egress address of the `index`-th node of a tier.
    pub fn default_egress(tier_is_l1: bool, index: usize) -> AddrSpec {
        let third = if tier_is_l1 { 101 + index } else { 1 + index };
        AddrSpec::single(Ipv4Addr::new(127, 0, third.min(255) as u8, 1))
    }
}

/// `[cdn]`: behaviour shared by all nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CdnConfig {
    /// How the CDN connects to the origin (default `full`).
    pub ssl_mode: SslMode,
    /// Per TCP connect attempt, L2 → origin and L1 → L2 (default: the profile's).
    #[serde(
        with = "serde_units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_timeout: Option<Duration>,
    /// L2 → origin: request sent → first response byte (default: the profile's).
    #[serde(
        with = "serde_units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_timeout: Option<Duration>,
    /// L1 → L2: request sent → first response byte. Default: long enough for L2's own
    /// timeouts to fire first (`connect_attempts × connect_timeout + read_timeout + 1s`).
    #[serde(
        with = "serde_units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_read_timeout: Option<Duration>,
    /// Connect attempts before giving up (default: the profile's; CloudFront 3, others 1).
    pub connect_attempts: Option<u32>,
    /// Request collapsing (cache lock) at every tier (default true).
    pub collapse: bool,
    /// Honour `stale-if-error` from the origin (default true).
    pub stale_if_error: bool,
    /// What L1 does when its L2 fails (default `relay`).
    pub on_parent_error: ParentErrorPolicy,
    /// Reuse idle connections to the next tier (default true). The egress address is
    /// picked for each *new* L2 → origin connection.
    pub keepalive: bool,
    /// Status for a certificate that fails verification, where the vendor does not document
    /// one (default: the profile's; 526 for cloudflare, 502 for nginx-like profiles).
    pub cert_error_status: Option<u16>,
    /// Edge caches (default: one node `edge-1`).
    pub l1: Vec<NodeConfig>,
    /// Parent caches (default: one node `shield-1`).
    pub l2: Vec<NodeConfig>,
}

impl Default for CdnConfig {
    fn default() -> CdnConfig {
        CdnConfig {
            ssl_mode: SslMode::Full,
            connect_timeout: None,
            read_timeout: None,
            parent_read_timeout: None,
            connect_attempts: None,
            collapse: true,
            stale_if_error: true,
            on_parent_error: ParentErrorPolicy::Relay,
            keepalive: true,
            cert_error_status: None,
            l1: vec![NodeConfig::named("edge-1")],
            l2: vec![NodeConfig::named("shield-1")],
        }
    }
}

/// Resolved timeouts for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Timeouts {
    /// Per connect attempt.
    pub connect: Duration,
    /// L2 → origin read timeout.
    pub read: Duration,
    /// L1 → L2 read timeout.
    pub parent_read: Duration,
    /// Connect attempts.
    pub connect_attempts: u32,
}

impl CdnConfig {
    /// The timeouts in force: scenario overrides, else the profile's defaults.
    ///
    /// ```
    /// use cdn_core::{CdnConfig, Profile};
    /// use std::time::Duration;
    /// let t = CdnConfig::default().timeouts(Profile::Cloudflare);
    /// assert_eq!(t.connect, Duration::from_secs(19));
    /// assert_eq!(t.parent_read, Duration::from_secs(19 + 100 + 1));
    /// ```
    pub fn timeouts(&self, profile: Profile) -> Timeouts {
        let d = profile.defaults();
        let connect = self.connect_timeout.unwrap_or(d.connect_timeout);
        let read = self.read_timeout.unwrap_or(d.read_timeout);
        let connect_attempts = self.connect_attempts.unwrap_or(d.connect_attempts);
        let parent_read = self
            .parent_read_timeout
            .unwrap_or(connect * connect_attempts + read + Duration::from_secs(1));
        Timeouts {
            connect,
            read,
            parent_read,
            connect_attempts,
        }
    }

    /// Checks what types alone cannot: node counts, unique names, states, attempts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.l1.is_empty() {
            return Err(ConfigError::new(
                "cdn.l1",
                "at least one [[cdn.l1]] node is required",
            ));
        }
        if self.l2.is_empty() {
            return Err(ConfigError::new(
                "cdn.l2",
                "at least one [[cdn.l2]] node is required",
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (tier, nodes) in [("l1", &self.l1), ("l2", &self.l2)] {
            for n in nodes {
                if n.name.trim().is_empty() {
                    return Err(ConfigError::new(
                        format!("cdn.{tier}.name"),
                        "must not be empty",
                    ));
                }
                if !names.insert(n.name.as_str()) {
                    return Err(ConfigError::new(
                        format!("cdn.{tier}.name"),
                        format!("node name {:?} is used twice; names must be unique", n.name),
                    ));
                }
                if tier == "l1" && n.state != NodeState::Up {
                    return Err(ConfigError::new(
                        "cdn.l1.state",
                        "only L2 nodes can be down or hung; allowed for L1: up",
                    ));
                }
                if n.egress.contains(&AddrSpec::Any) {
                    return Err(ConfigError::new(
                        format!("cdn.{tier}.egress"),
                        "\"any\" cannot be an egress address: list addresses, blocks or ranges",
                    ));
                }
            }
        }
        if self.connect_attempts == Some(0) {
            return Err(ConfigError::new(
                "cdn.connect_attempts",
                "must be at least 1",
            ));
        }
        if let Some(s) = self.cert_error_status {
            if !(500..=599).contains(&s) {
                return Err(ConfigError::new(
                    "cdn.cert_error_status",
                    format!("{s} is not a server error; allowed: 500..=599"),
                ));
            }
        }
        Ok(())
    }
}

/// `[network]`: round-trip times between tiers (one RTT per TCP handshake, TLS 1.3
/// handshake, and request/response exchange).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Client ⇄ L1 (default 10 ms).
    #[serde(with = "serde_units::duration")]
    pub client_rtt: Duration,
    /// L1 ⇄ L2 (default 10 ms).
    #[serde(with = "serde_units::duration")]
    pub l1_l2_rtt: Duration,
    /// L2 ⇄ origin (default 20 ms).
    #[serde(with = "serde_units::duration")]
    pub l2_origin_rtt: Duration,
}

impl Default for NetworkConfig {
    fn default() -> NetworkConfig {
        NetworkConfig {
            client_rtt: Duration::from_millis(10),
            l1_l2_rtt: Duration::from_millis(10),
            l2_origin_rtt: Duration::from_millis(20),
        }
    }
}
