//! Back-to-origin egress pools: the source addresses an L2 node connects to the origin from.
//!
//! The origin sees the L2's egress address as its client, so firewall whitelists and per-IP
//! limits at the origin act on these addresses. Pools are dynamic in real CDNs; the
//! [`EgressPool::as_cidrs`] view is what an API such as Alibaba's `DescribeL2VipsByDomain`
//! returns.

use crate::addr::{to_cidrs, AddrSpec, Cidr};
use crate::message::{mix64, CacheKey};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// How a new back-to-origin connection picks its source address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EgressSelection {
    /// Each new connection takes the next address in turn.
    #[default]
    RoundRobin,
    /// Uniformly at random (seeded: the same seed gives the same sequence).
    Random,
    /// By hash of the cache key: one URL always leaves from one address.
    Hash,
}

/// Why a pool could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The pool lists no addresses.
    #[error("the egress pool is empty: list at least one address, block or range")]
    Empty,
    /// `any` is not a set of addresses one can connect from.
    #[error("\"any\" cannot be an egress address: list addresses, blocks or ranges")]
    Any,
    /// More addresses than a simulation can sensibly hold.
    #[error("the egress pool has {0} addresses; at most {max} are allowed", max = EgressPool::MAX_ADDRESSES)]
    TooLarge(u64),
}

/// A pool of egress addresses with a selection policy.
///
/// ```
/// use cdn_core::{AddrSpec, EgressPool, EgressSelection, CacheKey};
/// let spec: AddrSpec = "127.0.1.1-127.0.1.3".parse().unwrap();
/// let mut pool = EgressPool::new(&[spec], EgressSelection::RoundRobin, 0).unwrap();
/// let picks: Vec<String> = (0..4).map(|_| pool.pick(CacheKey(0)).to_string()).collect();
/// assert_eq!(picks, ["127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.1.1"]);
/// assert_eq!(pool.as_cidrs()[0].to_string(), "127.0.1.1/32");
/// ```
#[derive(Clone, Debug)]
pub struct EgressPool {
    addrs: Vec<Ipv4Addr>,
    selection: EgressSelection,
    next: usize,
    rng: ChaCha8Rng,
}

impl EgressPool {
    /// The largest pool accepted (a /16).
    pub const MAX_ADDRESSES: u64 = 65_536;

    /// Builds a pool from address specifications, in the order given (duplicates removed).
    pub fn new(
        specs: &[AddrSpec],
        selection: EgressSelection,
        seed: u64,
    ) -> Result<EgressPool, PoolError> {
        let mut total = 0u64;
        for s in specs {
            if *s == AddrSpec::Any {
                return Err(PoolError::Any);
            }
            total += s.len();
        }
        if total == 0 {
            return Err(PoolError::Empty);
        }
        if total > Self::MAX_ADDRESSES {
            return Err(PoolError::TooLarge(total));
        }
        // Membership in a set, not a scan of the list: a /16 is 65,536 addresses, and a
        // scan made building eight such pools take seconds.
        let mut seen: HashSet<Ipv4Addr> = HashSet::with_capacity(total as usize);
        let mut addrs: Vec<Ipv4Addr> = Vec::with_capacity(total as usize);
        for s in specs {
            for a in s.addresses() {
                if seen.insert(a) {
                    addrs.push(a);
                }
            }
        }
        Ok(EgressPool {
            addrs,
            selection,
            next: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// Picks the source address for a new connection fetching `key`.
    pub fn pick(&mut self, key: CacheKey) -> Ipv4Addr {
        let n = self.addrs.len();
        let i = match self.selection {
            EgressSelection::RoundRobin => {
                let i = self.next;
                self.next = (self.next + 1) % n;
                i
            }
            EgressSelection::Random => (self.rng.next_u64() % n as u64) as usize,
            EgressSelection::Hash => (mix64(key.0) % n as u64) as usize,
        };
        self.addrs[i]
    }

    /// The addresses, in pool order.
    pub fn addresses(&self) -> &[Ipv4Addr] {
        &self.addrs
    }

    /// The pool as the fewest CIDR blocks, sorted (what `DescribeL2VipsByDomain` returns).
    pub fn as_cidrs(&self) -> Vec<Cidr> {
        to_cidrs(self.addrs.iter().copied())
    }

    /// The selection policy.
    pub fn selection(&self) -> EgressSelection {
        self.selection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(spec: &str, sel: EgressSelection, seed: u64) -> EgressPool {
        EgressPool::new(&[spec.parse().unwrap()], sel, seed).unwrap()
    }

    #[test]
    fn random_selection_is_seeded() {
        let a: Vec<_> = {
            let mut p = pool("127.0.1.0/28", EgressSelection::Random, 7);
            (0..20).map(|_| p.pick(CacheKey(0))).collect()
        };
        let mut p = pool("127.0.1.0/28", EgressSelection::Random, 7);
        let b: Vec<_> = (0..20).map(|_| p.pick(CacheKey(0))).collect();
        assert_eq!(a, b);
        assert!(a.iter().collect::<std::collections::BTreeSet<_>>().len() > 3);
    }

    #[test]
    fn hash_selection_pins_a_key_to_an_address() {
        let mut p = pool("127.0.1.0/28", EgressSelection::Hash, 0);
        let first = p.pick(CacheKey(42));
        assert!((0..10).all(|_| p.pick(CacheKey(42)) == first));
    }

    #[test]
    fn duplicates_are_removed_in_first_seen_order() {
        let specs: Vec<AddrSpec> = ["127.0.1.2-127.0.1.3", "127.0.1.1-127.0.1.4", "127.0.1.2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let p = EgressPool::new(&specs, EgressSelection::RoundRobin, 0).unwrap();
        let got: Vec<String> = p.addresses().iter().map(|a| a.to_string()).collect();
        assert_eq!(got, ["127.0.1.2", "127.0.1.3", "127.0.1.1", "127.0.1.4"]);
    }

    #[test]
    fn rejects_any_and_oversized_pools() {
        assert_eq!(
            EgressPool::new(&[AddrSpec::Any], EgressSelection::RoundRobin, 0).unwrap_err(),
            PoolError::Any
        );
        let big: AddrSpec = "10.0.0.0/8".parse().unwrap();
        assert!(matches!(
            EgressPool::new(&[big], EgressSelection::RoundRobin, 0),
            Err(PoolError::TooLarge(_))
        ));
    }
}
