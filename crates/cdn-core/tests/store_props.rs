//! Invariants of the byte-bounded store, for every eviction policy, and the LRU store checked
//! against `lru::LruCache` driven by the same byte-budget loop.

use cdn_core::cache::{Eviction, Store};
use cdn_core::{CacheKey, Instant, Response, Tier};
use proptest::prelude::*;
use std::time::Duration;

fn response(size: u64) -> Response {
    let mut r = Response::generated(Tier::Origin, 200, "");
    r.body_len = size;
    r
}

fn any_eviction() -> impl Strategy<Value = Eviction> {
    prop::sample::select(Eviction::ALL.to_vec())
}

/// What the store may admit: anything up to the capacity, except that S3-FIFO admits only
/// objects smaller than its small queue (10 % of the capacity, rounded down).
fn admissible(eviction: Eviction, capacity: u64, size: u64) -> bool {
    capacity > 0 && size <= capacity && (eviction != Eviction::S3Fifo || size < capacity / 10)
}

/// One step of a random workload.
#[derive(Clone, Debug)]
enum Op {
    Get(u64),
    Insert(u64, u64),
    Remove(u64),
}

/// Keys from a small set so that hits, updates and removals of cached keys are common;
/// sizes from 0 (Vary markers are empty) to a fifth of the capacity, plus a few larger than
/// the whole cache.
fn ops(capacity: u64) -> impl Strategy<Value = Vec<Op>> {
    let key = 0u64..48;
    let size = prop_oneof![
        8 => 0..=capacity / 5,
        1 => capacity..=capacity + 100,
    ];
    prop::collection::vec(
        prop_oneof![
            4 => key.clone().prop_map(Op::Get),
            5 => (key.clone(), size).prop_map(|(k, s)| Op::Insert(k, s)),
            1 => key.prop_map(Op::Remove),
        ],
        1..600,
    )
}

/// The store before this slab existed: `lru::LruCache`, unbounded, with the byte budget kept
/// beside it — put, then pop the least recently used entry while over budget. The new
/// entry is most recently used and fits on its own, so it is never the one popped.
struct LruOracle {
    capacity: u64,
    used: u64,
    cache: lru::LruCache<u64, u64>,
}

impl LruOracle {
    fn insert(&mut self, key: u64, size: u64) -> bool {
        if self.capacity == 0 || size > self.capacity {
            return false;
        }
        if let Some(old) = self.cache.put(key, size) {
            self.used -= old;
        }
        self.used += size;
        while self.used > self.capacity {
            let (_, size) = self.cache.pop_lru().expect("over budget implies an entry");
            self.used -= size;
        }
        true
    }

    fn remove(&mut self, key: u64) -> Option<u64> {
        let size = self.cache.pop(&key)?;
        self.used -= size;
        Some(size)
    }

    /// Keys from least to most recently used.
    fn keys(&self) -> Vec<CacheKey> {
        self.cache.iter().rev().map(|(k, _)| CacheKey(*k)).collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The LRU store and `lru::LruCache` under the same byte budget, through random gets,
    /// inserts (new keys, same-size and resized updates, objects too large to admit) and
    /// removes: after every step both hold the same keys in the same recency order with the
    /// same sizes and byte total, and every operation returns the same answer. Equal contents
    /// after every insert mean the same objects were evicted, in the same order.
    #[test]
    fn lru_store_evicts_exactly_as_lru_crate(
        (capacity, ops) in prop_oneof![Just(0u64), 1u64..20_000]
            .prop_flat_map(|c| (Just(c), ops(c.max(1)))),
    ) {
        let mut store = Store::new(capacity);
        let mut oracle = LruOracle { capacity, used: 0, cache: lru::LruCache::unbounded() };
        for op in ops {
            match op {
                Op::Get(k) => {
                    let got = store.get(CacheKey(k)).map(|e| e.response.body_len);
                    prop_assert_eq!(got, oracle.cache.get(&k).copied());
                }
                Op::Insert(k, size) => {
                    let stored = store.insert(Instant::ZERO, CacheKey(k), response(size), Duration::from_secs(60));
                    prop_assert_eq!(stored, oracle.insert(k, size));
                }
                Op::Remove(k) => {
                    let removed = store.remove(CacheKey(k)).map(|e| e.response.body_len);
                    prop_assert_eq!(removed, oracle.remove(k));
                }
            }
            prop_assert_eq!(store.keys(), oracle.keys());
            for (k, size) in oracle.cache.iter() {
                prop_assert_eq!(store.peek(CacheKey(*k)).map(|e| e.response.body_len), Some(*size));
            }
            prop_assert_eq!(store.used_bytes(), oracle.used);
            prop_assert_eq!(store.len(), oracle.cache.len());
        }
    }

    /// Whatever the policy and the operations: cached bytes never exceed the capacity, the
    /// byte total is the sum of what `peek` finds, `keys` lists each stored object once,
    /// and an insert succeeds exactly when the policy admits the object's size.
    #[test]
    fn never_exceeds_capacity(
        eviction in any_eviction(),
        (capacity, ops) in prop_oneof![Just(0u64), 1u64..50_000]
            .prop_flat_map(|c| (Just(c), ops(c.max(1)))),
    ) {
        let mut store = Store::with_eviction(capacity, eviction);
        for (i, op) in ops.into_iter().enumerate() {
            let now = Instant::ZERO + Duration::from_millis(i as u64);
            match op {
                Op::Get(k) => { store.get(CacheKey(k)); }
                Op::Remove(k) => { store.remove(CacheKey(k)); }
                Op::Insert(k, size) => {
                    let stored = store.insert(now, CacheKey(k), response(size), Duration::from_secs(60));
                    prop_assert_eq!(stored, admissible(eviction, capacity, size));
                    prop_assert_eq!(store.admits(size), stored);
                    if stored {
                        prop_assert_eq!(store.peek(CacheKey(k)).map(|e| e.response.body_len), Some(size));
                    }
                }
            }
            prop_assert!(store.used_bytes() <= store.capacity());
            let keys = store.keys();
            prop_assert_eq!(keys.len(), store.len());
            let distinct: std::collections::BTreeSet<_> = keys.iter().collect();
            prop_assert_eq!(distinct.len(), keys.len());
            let sum: u64 = keys.iter().map(|k| store.peek(*k).expect("listed keys are stored").response.body_len).sum();
            prop_assert_eq!(sum, store.used_bytes());
        }
    }

    /// The object just inserted is still there afterwards: every policy evicts to make room
    /// *before* inserting, so the newcomer is never its own victim.
    #[test]
    fn newest_object_survives_its_own_insertion(
        eviction in any_eviction(),
        sizes in prop::collection::vec(1u64..100, 1..300),
    ) {
        // S3-FIFO admits objects smaller than 10 % of the capacity: 1000 B ⇒ below 100 B.
        let mut store = Store::with_eviction(1000, eviction);
        for (i, size) in sizes.into_iter().enumerate() {
            let key = CacheKey(i as u64 % 40);
            prop_assert!(store.insert(Instant::ZERO, key, response(size), Duration::from_secs(1)));
            prop_assert!(store.peek(key).is_some());
        }
    }
}
