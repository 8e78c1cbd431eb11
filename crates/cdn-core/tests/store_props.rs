//! Invariants of the byte-bounded LRU store.

use cdn_core::cache::Store;
use cdn_core::{CacheKey, Instant, Response, Tier};
use proptest::prelude::*;
use std::time::Duration;

proptest! {
    /// Cached bytes never exceed the capacity, whatever is inserted in whatever order, and
    /// the accounting matches what is actually stored.
    #[test]
    fn never_exceeds_capacity(
        capacity in 0u64..50_000,
        ops in prop::collection::vec((0u64..64, 0u64..20_000, any::<bool>()), 1..400),
    ) {
        let mut store = Store::new(capacity);
        let mut keys = std::collections::BTreeSet::new();
        for (i, (key, size, remove)) in ops.into_iter().enumerate() {
            let now = Instant::ZERO + Duration::from_millis(i as u64);
            if remove {
                store.remove(CacheKey(key));
                keys.remove(&key);
            } else {
                let mut r = Response::generated(Tier::Origin, 200, "");
                r.body_len = size;
                let stored = store.insert(now, CacheKey(key), r, Duration::from_secs(60));
                prop_assert_eq!(stored, size <= capacity && capacity > 0);
                if stored { keys.insert(key); } else { keys.remove(&key); store.remove(CacheKey(key)); }
            }
            prop_assert!(store.used_bytes() <= store.capacity());
            let sum: u64 = keys.iter().filter_map(|k| store.peek(CacheKey(*k))).map(|e| e.response.body_len).sum();
            prop_assert_eq!(sum, store.used_bytes());
        }
    }

    /// The most recently inserted object that fits is always still there.
    #[test]
    fn newest_object_survives_its_own_insertion(
        sizes in prop::collection::vec(1u64..1000, 1..100),
    ) {
        let mut store = Store::new(1000);
        for (i, size) in sizes.into_iter().enumerate() {
            let mut r = Response::generated(Tier::Origin, 200, "");
            r.body_len = size;
            prop_assert!(store.insert(Instant::ZERO, CacheKey(i as u64), r, Duration::from_secs(1)));
            prop_assert!(store.peek(CacheKey(i as u64)).is_some());
        }
    }
}
