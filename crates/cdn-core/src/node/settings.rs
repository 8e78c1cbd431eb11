//! What a node needs to know to decide: its vendor, caching policy, timeouts and upstream
//! policies. The node owns a copy (as quinn's `Connection` owns its config), so every input is
//! just `now`, a ticket and what happened.

use crate::cache::CachePolicy;
use crate::config::{CdnConfig, ParentErrorPolicy, Timeouts};
use crate::profile::Profile;
use crate::tls::SslMode;

/// A node's configuration, resolved from `[cdn]` and the profile.
///
/// ```
/// use cdn_core::{node::NodeSettings, CdnConfig, Profile};
/// let s = NodeSettings::new(&CdnConfig::default(), Profile::Nginx);
/// assert_eq!(s.timeouts.read, std::time::Duration::from_secs(60));
/// assert_eq!(s.parents, 1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSettings {
    /// Whose codes, reasons and defaults.
    pub profile: Profile,
    /// Caching choices (freshness defaults, stale serving, collapsing).
    pub policy: CachePolicy,
    /// Connect and read timeouts, connect attempts.
    pub timeouts: Timeouts,
    /// Request collapsing (cache lock).
    pub collapse: bool,
    /// Reuse idle connections to the next tier.
    pub keepalive: bool,
    /// How the CDN connects to the origin (port, TLS, verification).
    pub ssl_mode: SslMode,
    /// What an L1 does when its parent fails.
    pub on_parent_error: ParentErrorPolicy,
    /// The status for a certificate that fails verification, where the scenario overrides
    /// the profile's.
    pub cert_error_status: Option<u16>,
    /// How many parents (L2 nodes) an L1 chooses from.
    pub parents: usize,
    /// Whether a parent's own 5xx counts as a failed parent (for `on_parent_error`).
    pub reroute_on_parent_5xx: bool,
}

impl NodeSettings {
    /// The settings `[cdn]` gives every node under `profile`.
    pub fn new(cdn: &CdnConfig, profile: Profile) -> NodeSettings {
        NodeSettings {
            profile,
            policy: cdn.cache_policy(profile),
            timeouts: cdn.timeouts(profile),
            collapse: cdn.collapse,
            keepalive: cdn.keepalive,
            ssl_mode: cdn.ssl_mode,
            on_parent_error: cdn.on_parent_error,
            cert_error_status: cdn.cert_error_status,
            parents: cdn.l2.len(),
            reroute_on_parent_5xx: cdn.reroutes_on_parent_5xx(profile),
        }
    }
}

impl Default for NodeSettings {
    /// Cloudflare's defaults with one parent.
    fn default() -> NodeSettings {
        NodeSettings::new(&CdnConfig::default(), Profile::default())
    }
}
