//! Who talks to whom: clients → L1 by client address, L1 → L2 by consistent hashing of the
//! cache key (rendezvous hashing: removing an L2 only moves the keys it owned).

use crate::message::{mix64, CacheKey};
use std::net::Ipv4Addr;

/// The L1 node index serving `client` (clients are spread evenly and stably over L1s).
///
/// ```
/// use cdn_core::topology::l1_for_client;
/// let c = "198.51.100.7".parse().unwrap();
/// assert_eq!(l1_for_client(c, 4), l1_for_client(c, 4));
/// assert!(l1_for_client(c, 4) < 4);
/// ```
pub fn l1_for_client(client: Ipv4Addr, l1_count: usize) -> usize {
    (mix64(u64::from(u32::from(client))) % l1_count as u64) as usize
}

/// The L2 node indices for `key`, best first (rendezvous / highest-random-weight hashing).
/// The first is the key's parent; the rest are the order `next_parent` tries.
///
/// ```
/// use cdn_core::{topology::parents_for, CacheKey};
/// let order = parents_for(CacheKey(42), 3);
/// assert_eq!(order.len(), 3);
/// assert_eq!(parents_for(CacheKey(42), 3)[0], order[0]);
/// ```
pub fn parents_for(key: CacheKey, l2_count: usize) -> Vec<usize> {
    let mut v: Vec<(u64, usize)> = (0..l2_count).map(|i| (weight(key, i), i)).collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.into_iter().map(|(_, i)| i).collect()
}

/// The primary L2 for `key`, without allocating.
pub fn parent_for(key: CacheKey, l2_count: usize) -> usize {
    (0..l2_count)
        .max_by_key(|&i| (weight(key, i), i))
        .expect("at least one L2")
}

/// The `rank`-th choice of parent for `key` (0 = primary).
pub fn nth_parent(key: CacheKey, l2_count: usize, rank: usize) -> usize {
    if rank == 0 {
        parent_for(key, l2_count)
    } else {
        parents_for(key, l2_count)[rank % l2_count]
    }
}

fn weight(key: CacheKey, node: usize) -> u64 {
    mix64(key.0 ^ mix64(node as u64 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_over_parents() {
        let mut counts = [0u32; 4];
        for k in 0..40_000u64 {
            counts[parent_for(CacheKey(mix64(k)), 4)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn removing_a_parent_only_moves_its_keys() {
        for k in 0..5_000u64 {
            let key = CacheKey(mix64(k));
            let with4 = parent_for(key, 4);
            if with4 != 3 {
                assert_eq!(parent_for(key, 3), with4);
            }
        }
    }

    #[test]
    fn primary_matches_ranked_order() {
        for k in 0..1_000u64 {
            let key = CacheKey(mix64(k));
            assert_eq!(parent_for(key, 5), parents_for(key, 5)[0]);
        }
    }
}
