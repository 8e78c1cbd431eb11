//! Ordered firewall rules in front of the origin, matched on the connecting address.

use crate::addr::AddrSpec;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// What a rule does with a matching SYN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirewallAction {
    /// Let the connection through.
    #[default]
    Allow,
    /// Silently discard the SYN: the client's connect times out.
    Drop,
    /// Answer with RST (or ICMP port unreachable): the client gets `ECONNREFUSED` at once.
    Reject,
}

/// One rule: source addresses and an action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallRule {
    /// The connecting addresses this rule matches.
    pub source: AddrSpec,
    /// What happens to them.
    pub action: FirewallAction,
}

/// Evaluates rules in order; the first match wins; no match means allow.
///
/// ```
/// use cdn_core::origin::{firewall_verdict, FirewallAction, FirewallRule};
/// let rules = vec![
///     FirewallRule { source: "127.0.1.1-127.0.1.3".parse().unwrap(), action: FirewallAction::Allow },
///     FirewallRule { source: "any".parse().unwrap(), action: FirewallAction::Drop },
/// ];
/// assert_eq!(firewall_verdict(&rules, "127.0.1.2".parse().unwrap()), FirewallAction::Allow);
/// assert_eq!(firewall_verdict(&rules, "127.0.1.9".parse().unwrap()), FirewallAction::Drop);
/// ```
pub fn firewall_verdict(rules: &[FirewallRule], source: Ipv4Addr) -> FirewallAction {
    rules
        .iter()
        .find(|r| r.source.contains(source))
        .map_or(FirewallAction::Allow, |r| r.action)
}
