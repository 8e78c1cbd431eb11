//! `[cdn]` and `[network]` configuration: tiers, nodes, timeouts and policies.
//!
//! Every `[cdn]` key a scenario leaves unset takes the [`Profile`]'s value (cited in
//! `docs/profiles.md`). Two kinds of key:
//! - `Option` keys are resolved when asked: [`CdnConfig::timeouts`] and
//!   [`CdnConfig::cache_policy`];
//! - the keys in [`PROFILE_KEYS`], which the drivers read as plain values, are filled in when
//!   the configuration is made: [`CdnConfig::for_profile`], or
//!   [`CdnConfig::with_profile_defaults`] for one read from a file (which knows the keys
//!   written).

use crate::addr::AddrSpec;
use crate::cache::{CachePolicy, Eligibility, Eviction, StaleOnError, Store, UncacheablePolicy};
use crate::egress::EgressSelection;
use crate::failure::FailureKind;
use crate::origin::ConfigError;
use crate::profile::Profile;
use crate::tls::SslMode;
use crate::units::serde_units;
use crate::upstream::{ParentWait, RetryCondition, RetryOn, SynSchedule};
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
    /// Which object leaves the cache when a new one does not fit: `lru` (default), `fifo`,
    /// `sieve` or `s3fifo` (see [`Eviction`]).
    #[serde(default)]
    pub eviction: Eviction,
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
            eviction: Eviction::Lru,
        }
    }

    /// The default egress address of the `index`-th node of a tier.
    pub fn default_egress(tier_is_l1: bool, index: usize) -> AddrSpec {
        let third = if tier_is_l1 { 101 + index } else { 1 + index };
        AddrSpec::single(Ipv4Addr::new(127, 0, third.min(255) as u8, 1))
    }
}

/// The cache nodes of one tier, as configured in `cdn` under `profile`: names, capacities
/// (64 MiB at L1 and 1 GiB at L2 by default), eviction policies, egress pools (seeded from
/// `seed`, default addresses per [`NodeConfig::default_egress`]), states and
/// [`NodeSettings`]. Both drivers build their nodes with this.
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
            let store = Store::with_eviction(n.cache.unwrap_or(default_cache), n.eviction);
            let mut node =
                crate::CacheNode::new(&n.name, tier, store, pool).with_settings(settings.clone());
            node.set_state(n.state);
            node
        })
        .collect()
}

/// The `[cdn]` keys whose default is the profile's and which are plain values (not `Option`):
/// a file's configuration gets them from [`CdnConfig::with_profile_defaults`].
pub const PROFILE_KEYS: [&str; 5] = [
    "ssl_mode",
    "collapse",
    "on_parent_error",
    "stale_if_error",
    "stale_while_revalidate",
];

/// The most `connect_attempts` a configuration may ask for. Vendors make 1 to 3 (CloudFront's
/// `ConnectionAttempts` is at most 3); each attempt is work for the driver, and an origin
/// that refuses at once made `connect_attempts = 4294967295` spin for minutes per request.
pub const MAX_CONNECT_ATTEMPTS: u32 = 100;

/// `[cdn]`: behaviour shared by all nodes. `CdnConfig::default()` is Cloudflare's; use
/// [`CdnConfig::for_profile`] for another vendor's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CdnConfig {
    /// How the CDN connects to the origin (default: the profile's; Cloudflare, nginx,
    /// Alibaba, Varnish `full`; CloudFront and Fastly verify: `strict`).
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
    /// L1 → L2: request sent → first response byte. Default: the profile's — the same as
    /// `read_timeout` where the L1 runs the same configuration (nginx, Varnish, Fastly), else
    /// long enough for the L2's own timeouts to fire first (`connect_attempts ×
    /// connect_timeout + read_timeout (× connect_attempts when response timeouts are retried)
    /// + 1s`).
    #[serde(
        with = "serde_units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_read_timeout: Option<Duration>,
    /// Connect attempts before giving up (default: the profile's; CloudFront 3, others 1).
    pub connect_attempts: Option<u32>,
    /// Which failures earn another attempt, e.g. `["connect_failure", "response_timeout"]`
    /// (default: the profile's; CloudFront also retries response timeouts, Alibaba also 5xx).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<Vec<RetryCondition>>,
    /// Connected, the request never acknowledged: give up after this long (default: the
    /// profile's; Cloudflare 90 s → 522; others have none and the read timeout fires).
    #[serde(
        with = "serde_units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub ack_timeout: Option<Duration>,
    /// Between two writes of the request (default: the profile's; Cloudflare 30 s).
    #[serde(
        with = "serde_units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub write_timeout: Option<Duration>,
    /// The largest response header accepted (default: the profile's; Cloudflare 128 KiB →
    /// 520, nginx `proxy_buffer_size` 4 KiB → 502, Varnish 32 KiB → 503).
    #[serde(default, with = "opt_size", skip_serializing_if = "Option::is_none")]
    pub response_header_limit: Option<u64>,
    /// Request collapsing (cache lock) at every tier (default: the profile's; nginx off:
    /// `proxy_cache_lock off`).
    pub collapse: bool,
    /// Honour `stale-if-error` from the origin (default: the profile's; Fastly and Varnish
    /// do not).
    pub stale_if_error: bool,
    /// A stale copy without `stale-if-error`, when upstream fails: `directive` (only the
    /// directive's window), `unreachable` (Cloudflare: any stale copy when the origin cannot
    /// be contacted) or `5xx` (CloudFront: on 5xx or no response). Default: the profile's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_on_error: Option<StaleOnError>,
    /// What L1 does when its L2 fails (default: the profile's; nginx `next_parent`, as
    /// `proxy_next_upstream error timeout`; others `relay`).
    pub on_parent_error: ParentErrorPolicy,
    /// Whether an L2's own 5xx counts as a failed parent for `on_parent_error` (default: the
    /// profile's; nginx no — only connection errors and timeouts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reroute_on_parent_5xx: Option<bool>,
    /// Reuse idle connections to the next tier (default true). The egress address is
    /// picked for each *new* L2 → origin connection.
    pub keepalive: bool,
    /// Status for a certificate that fails verification, where the vendor does not document
    /// one (default: the profile's; 526 for cloudflare, 502 for nginx-like profiles).
    pub cert_error_status: Option<u16>,
    /// Honour `stale-while-revalidate` from the origin (default: the profile's).
    pub stale_while_revalidate: bool,
    /// Revalidate stale copies in the background (default: the profile's; nginx off:
    /// `proxy_cache_background_update off` makes the request that finds the copy stale wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_update: Option<bool>,
    /// Serve a stale copy this long after expiry while one request refreshes it, when it has
    /// no `stale-while-revalidate` (default: the profile's; Varnish `default_grace` 10 s).
    #[serde(
        with = "serde_units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub grace: Option<Duration>,
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
            retry_on: None,
            ack_timeout: None,
            write_timeout: None,
            response_header_limit: None,
            collapse: true,
            stale_if_error: true,
            stale_on_error: None,
            on_parent_error: ParentErrorPolicy::Relay,
            reroute_on_parent_5xx: None,
            keepalive: true,
            cert_error_status: None,
            stale_while_revalidate: true,
            background_update: None,
            grace: None,
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

/// Resolved upstream settings for a run: timeouts, the SYN schedule, retries and the
/// response-header limit. The drivers ask it how long to wait and when to give up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Timeouts {
    /// Per connect attempt.
    pub connect: Duration,
    /// L2 → origin read timeout.
    pub read: Duration,
    /// L1 → L2 read timeout.
    pub parent_read: Duration,
    /// Attempts in all (connect failures, and whatever else `retry_on` covers).
    pub connect_attempts: u32,
    /// Connected, request never acknowledged: give up after this long (none: the read
    /// timeout fires).
    pub ack: Option<Duration>,
    /// Between two writes of the request. A request that fits the socket buffer is written
    /// at once, so with bodiless requests it never fires; kept for completeness.
    pub write: Option<Duration>,
    /// When the SYNs of one connect attempt go out.
    pub syn: SynSchedule,
    /// Which failures earn another attempt.
    pub retry_on: RetryOn,
    /// The largest response header accepted, in bytes.
    pub response_header_limit: Option<u64>,
}

impl Timeouts {
    /// Offsets from the start of a connect attempt at which its SYNs are sent: what a trace
    /// of a dropped SYN shows (Cloudflare: eight, at 0, 1, 2, 3, 4, 5, 7 and 11 s, then the
    /// 522 at 19 s).
    ///
    /// ```
    /// use cdn_core::{CdnConfig, Profile};
    /// let t = CdnConfig::default().timeouts(Profile::Cloudflare);
    /// assert_eq!(t.syn_transmissions().len(), 8);
    /// ```
    pub fn syn_transmissions(&self) -> Vec<Duration> {
        self.syn.transmissions(self.connect)
    }

    /// How a tier gives up on a connection that carried its request and never answered, and
    /// after how long from the moment the request was sent. `acknowledged`: whether the
    /// peer's TCP acknowledged the request (a hung application) or not (a black hole).
    ///
    /// ```
    /// use cdn_core::{CdnConfig, FailureKind, Profile};
    /// use std::time::Duration;
    /// let cf = CdnConfig::default().timeouts(Profile::Cloudflare);
    /// assert_eq!(cf.silence(false), (FailureKind::AckTimeout, Duration::from_secs(90)));   // 522
    /// assert_eq!(cf.silence(true), (FailureKind::ReadTimeout, Duration::from_secs(120)));  // 524
    /// let nginx = CdnConfig::for_profile(Profile::Nginx).timeouts(Profile::Nginx);
    /// assert_eq!(nginx.silence(false), (FailureKind::ReadTimeout, Duration::from_secs(60))); // 504
    /// ```
    pub fn silence(&self, acknowledged: bool) -> (FailureKind, Duration) {
        match self.ack {
            Some(ack) if !acknowledged && ack < self.read => (FailureKind::AckTimeout, ack),
            _ => (FailureKind::ReadTimeout, self.read),
        }
    }

    /// Whether attempt number `attempt` (from 1), which failed with `kind`, is followed by
    /// another.
    ///
    /// ```
    /// use cdn_core::{CdnConfig, FailureKind, Profile};
    /// let cloudfront = CdnConfig::for_profile(Profile::Cloudfront).timeouts(Profile::Cloudfront);
    /// assert!(cloudfront.retries(FailureKind::ReadTimeout, 2)); // ConnectionAttempts covers response timeouts
    /// assert!(!cloudfront.retries(FailureKind::ReadTimeout, 3));
    /// assert!(!cloudfront.retries(FailureKind::Reset, 1));
    /// ```
    pub fn retries(&self, kind: FailureKind, attempt: u32) -> bool {
        attempt < self.connect_attempts && self.retry_on.covers(kind)
    }

    /// The failure a response whose headers are `bytes` long causes, if they exceed the limit.
    ///
    /// ```
    /// use cdn_core::{CdnConfig, FailureKind, Profile};
    /// let cf = CdnConfig::default().timeouts(Profile::Cloudflare);
    /// assert_eq!(cf.header_failure(200 * 1024), Some(FailureKind::HeaderTooLarge)); // 520
    /// assert_eq!(cf.header_failure(1024), None);
    /// ```
    pub fn header_failure(&self, bytes: u64) -> Option<FailureKind> {
        self.response_header_limit
            .is_some_and(|limit| bytes > limit)
            .then_some(FailureKind::HeaderTooLarge)
    }
}

impl CdnConfig {
    /// Every default of `profile` (`CdnConfig::default()` is Cloudflare's).
    ///
    /// ```
    /// use cdn_core::{CdnConfig, ParentErrorPolicy, Profile, SslMode};
    /// let nginx = CdnConfig::for_profile(Profile::Nginx);
    /// assert!(!nginx.collapse); // proxy_cache_lock off
    /// assert_eq!(nginx.on_parent_error, ParentErrorPolicy::NextParent);
    /// assert_eq!(CdnConfig::for_profile(Profile::Cloudfront).ssl_mode, SslMode::Strict);
    /// ```
    pub fn for_profile(profile: Profile) -> CdnConfig {
        CdnConfig::default().with_profile_defaults(profile, |_| false)
    }

    /// The keys of [`PROFILE_KEYS`] that were not `written` (in a file's `[cdn]` table) take
    /// `profile`'s value; the ones written keep theirs.
    pub fn with_profile_defaults(
        mut self,
        profile: Profile,
        written: impl Fn(&str) -> bool,
    ) -> CdnConfig {
        let d = profile.defaults();
        if !written("ssl_mode") {
            self.ssl_mode = d.ssl_mode.value;
        }
        if !written("collapse") {
            self.collapse = d.collapse.value;
        }
        if !written("on_parent_error") {
            self.on_parent_error = d.on_parent_error.value;
        }
        if !written("stale_if_error") {
            self.stale_if_error = d.stale_if_error.value;
        }
        if !written("stale_while_revalidate") {
            self.stale_while_revalidate = d.stale_while_revalidate.value;
        }
        self
    }

    /// The upstream settings in force: scenario overrides, else the profile's defaults.
    ///
    /// ```
    /// use cdn_core::{CdnConfig, Profile};
    /// use std::time::Duration;
    /// let t = CdnConfig::default().timeouts(Profile::Cloudflare);
    /// assert_eq!(t.connect, Duration::from_secs(19));
    /// assert_eq!(t.read, Duration::from_secs(120));
    /// assert_eq!(t.parent_read, Duration::from_secs(19 + 120 + 1));
    /// // An nginx L1 waits for its L2 with the same proxy_read_timeout.
    /// let nginx = CdnConfig::for_profile(Profile::Nginx).timeouts(Profile::Nginx);
    /// assert_eq!(nginx.parent_read, nginx.read);
    /// ```
    pub fn timeouts(&self, profile: Profile) -> Timeouts {
        let d = profile.defaults();
        let connect = self.connect_timeout.unwrap_or(d.connect_timeout.value);
        let read = self.read_timeout.unwrap_or(d.read_timeout.value);
        let connect_attempts = self.connect_attempts.unwrap_or(d.connect_attempts.value);
        let retry_on = self
            .retry_on
            .as_deref()
            .map(RetryOn::from_conditions)
            .unwrap_or(d.retry_on.value);
        let parent_read = self
            .parent_read_timeout
            .unwrap_or_else(|| match d.parent_wait.value {
                ParentWait::SameAsRead => read,
                ParentWait::OutlastParent => {
                    let reads = if retry_on.response_timeout {
                        connect_attempts
                    } else {
                        1
                    };
                    connect * connect_attempts + read * reads + Duration::from_secs(1)
                }
            });
        Timeouts {
            connect,
            read,
            parent_read,
            connect_attempts,
            ack: self.ack_timeout.or(d.ack_timeout.value),
            write: self.write_timeout.or(d.write_timeout.value),
            syn: d.syn_schedule.value,
            retry_on,
            response_header_limit: self
                .response_header_limit
                .or(d.response_header_limit.value.map(|b| b.0)),
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
            status_ttl: self.status_ttl.clone(),
            stale_if_error: self.stale_if_error,
            stale_on_error: self.stale_on_error.unwrap_or(d.stale_on_error),
            stale_while_revalidate: self.stale_while_revalidate,
            background_update: self.background_update.unwrap_or(d.background_update),
            grace: self.grace.unwrap_or(d.grace),
            always_online: self.always_online,
            eligibility: self.cache_eligibility.unwrap_or(d.eligibility),
            collapse_timeout: self.collapse_timeout.unwrap_or(d.collapse_timeout),
            collapse_age: self.collapse_age.unwrap_or(d.collapse_age),
            collapse_uncacheable: self.collapse_uncacheable.unwrap_or(d.collapse_uncacheable),
            ..d
        }
    }

    /// Whether an L2's own 5xx counts as a failed parent for `on_parent_error`.
    pub fn reroutes_on_parent_5xx(&self, profile: Profile) -> bool {
        self.reroute_on_parent_5xx
            .unwrap_or(profile.defaults().reroute_on_parent_5xx.value)
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
        if let Some(n) = self.connect_attempts.filter(|&n| n > MAX_CONNECT_ATTEMPTS) {
            return Err(ConfigError::new(
                "cdn.connect_attempts",
                format!(
                    "{n} is more than the {MAX_CONNECT_ATTEMPTS} attempts a request may make \
                     (vendors make 1 to 3); allowed: 1..={MAX_CONNECT_ATTEMPTS}"
                ),
            ));
        }
        if self.response_header_limit == Some(0) {
            return Err(ConfigError::new(
                "cdn.response_header_limit",
                "must be more than 0B; e.g. response_header_limit = \"128KiB\"",
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each node's `eviction` and `cache` reach the store `build_nodes` gives it.
    #[test]
    fn build_nodes_gives_each_node_its_eviction_policy() {
        let nodes: Vec<NodeConfig> = Eviction::ALL
            .into_iter()
            .enumerate()
            .map(|(i, eviction)| NodeConfig {
                cache: Some(1000 * (i as u64 + 1)),
                eviction,
                ..NodeConfig::named(format!("n{i}"))
            })
            .collect();
        let cdn = CdnConfig {
            l2: nodes.clone(),
            ..CdnConfig::for_profile(Profile::Cloudflare)
        };
        let built = build_nodes(&cdn, Profile::Cloudflare, crate::Tier::L2, 0);
        for (i, (node, cfg)) in built.iter().zip(&nodes).enumerate() {
            assert_eq!(node.cache().eviction(), cfg.eviction);
            assert_eq!(node.cache().capacity(), 1000 * (i as u64 + 1));
        }
    }
}
