//! `[cdn]` and `[network]` configuration: tiers, nodes, timeouts and policies.
//!
//! Timeouts left unset come from the [`Profile`]; [`CdnConfig::timeouts`] resolves them.

use crate::addr::AddrSpec;
use crate::cache::{CachePolicy, Eligibility, UncacheablePolicy};
use crate::egress::EgressSelection;
use crate::origin::ConfigError;
use crate::profile::Profile;
use crate::tls::SslMode;
use crate::units::serde_units;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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

/// `{ "404" = "1m" }` ⇄ `BTreeMap<u16, Duration>` (TOML keys are strings).
mod status_ttl_map {
    use serde::de::{self, Deserializer, MapAccess, Visitor};
    use serde::ser::{SerializeMap, Serializer};
    use std::collections::BTreeMap;
    use std::fmt;
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<u16, Duration>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BTreeMap<u16, Duration>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of status code = duration, e.g. { \"404\" = \"1m\" }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    let status: u16 = k.trim().parse().map_err(|_| {
                        de::Error::custom(format!(
                            "invalid status {k:?}: expected an HTTP status code such as \"404\""
                        ))
                    })?;
                    let ttl = crate::units::parse_duration(&v).map_err(de::Error::custom)?;
                    out.insert(status, ttl);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }

    pub fn serialize<S: Serializer>(v: &BTreeMap<u16, Duration>, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(v.len()))?;
        for (k, d) in v {
            m.serialize_entry(&k.to_string(), &crate::units::format_duration(*d))?;
        }
        m.end()
    }
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

/// The cache nodes of one tier, as configured in `cdn` under `profile`: names, capacities
/// (64 MiB at L1 and 1 GiB at L2 by default), egress pools (seeded from `seed`, default
/// addresses per [`NodeConfig::default_egress`]), states and [`NodeSettings`]. Both drivers
/// build their nodes with this.
///
/// # Panics
/// If a pool is invalid: call [`CdnConfig::validate`] first.
///
/// [`NodeSettings`]: crate::node::NodeSettings
pub fn build_nodes(
    cdn: &CdnConfig,
    profile: Profile,
    tier: crate::Tier,
    seed: u64,
) -> Vec<crate::CacheNode> {
    use crate::message::mix64;
    let settings = crate::node::NodeSettings::new(cdn, profile);
    let nodes = if tier == crate::Tier::L1 {
        &cdn.l1
    } else {
        &cdn.l2
    };
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let is_l1 = tier == crate::Tier::L1;
            let specs: Vec<AddrSpec> = if n.egress.is_empty() {
                vec![NodeConfig::default_egress(is_l1, i)]
            } else {
                n.egress.clone()
            };
            let tier_index: u64 = if is_l1 { 0 } else { 1 };
            let node_seed = seed ^ mix64((i as u64) << 8 | tier_index);
            let pool = crate::EgressPool::new(&specs, n.egress_selection, node_seed)
                .expect("validated: egress pools are non-empty and bounded");
            let default_cache = if is_l1 { 64 << 20 } else { 1 << 30 };
            let mut node =
                crate::CacheNode::new(&n.name, tier, n.cache.unwrap_or(default_cache), pool)
                    .with_settings(settings.clone());
            node.set_state(n.state);
            node
        })
        .collect()
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
    /// Honour `stale-while-revalidate` from the origin (default true).
    pub stale_while_revalidate: bool,
    /// Cloudflare Always Online: on 502, 504 or 52x serve any stored copy however stale,
    /// ignoring `stale-if-error`; never on 404, 500 or 503 (default false).
    pub always_online: bool,
    /// TTL per status for responses without explicit freshness, e.g.
    /// `status_ttl = { "404" = "1m", "502" = "10s" }`: overrides the profile's defaults and
    /// applies to errors a tier generates itself (nginx `proxy_cache_valid`).
    #[serde(with = "status_ttl_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub status_ttl: BTreeMap<u16, Duration>,
    /// Which requests may be cached: `everything`, or `static_extensions` (Cloudflare's
    /// default: only static file extensions; others are `DYNAMIC`). Default: the profile's.
    pub cache_eligibility: Option<Eligibility>,
    /// How long a collapsed request waits for the one ahead before going upstream itself,
    /// uncached (nginx `proxy_cache_lock_timeout`; default 5s).
    #[serde(
        with = "serde_units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub collapse_timeout: Option<Duration>,
    /// After this long without an answer, one more request for the key may go upstream
    /// (nginx `proxy_cache_lock_age`; default 5s).
    #[serde(
        with = "serde_units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub collapse_age: Option<Duration>,
    /// What collapsed requests do when the answer they waited for cannot be stored:
    /// `one_at_a_time` (nginx) or `all` (Varnish hit-for-miss). Default: the profile's.
    pub collapse_uncacheable: Option<UncacheablePolicy>,
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
            stale_while_revalidate: true,
            always_online: false,
            status_ttl: BTreeMap::new(),
            cache_eligibility: None,
            collapse_timeout: None,
            collapse_age: None,
            collapse_uncacheable: None,
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

    /// The caching behaviour in force: scenario keys over the profile's defaults.
    ///
    /// ```
    /// use cdn_core::{cache::Eligibility, CdnConfig, Profile};
    /// let p = CdnConfig::default().cache_policy(Profile::Cloudflare);
    /// assert_eq!(p.eligibility, Eligibility::StaticExtensions);
    /// assert_eq!(p.status_ttl(404), Some(std::time::Duration::from_secs(180)));
    /// ```
    pub fn cache_policy(&self, profile: Profile) -> CachePolicy {
        let d = CachePolicy::for_profile(profile);
        CachePolicy {
            profile,
            status_ttl: self.status_ttl.clone(),
            stale_if_error: self.stale_if_error,
            stale_while_revalidate: self.stale_while_revalidate,
            always_online: self.always_online,
            eligibility: self.cache_eligibility.unwrap_or(d.eligibility),
            collapse_timeout: self.collapse_timeout.unwrap_or(d.collapse_timeout),
            collapse_age: self.collapse_age.unwrap_or(d.collapse_age),
            collapse_uncacheable: self.collapse_uncacheable.unwrap_or(d.collapse_uncacheable),
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
        for status in self.status_ttl.keys() {
            if !(100..=599).contains(status) {
                return Err(ConfigError::new(
                    "cdn.status_ttl",
                    format!("{status} is not an HTTP status; allowed: 100..=599"),
                ));
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
