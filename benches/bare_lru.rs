//! The benchmark's baseline, shared by `benches/simulator.rs` and `examples/throughput.rs`
//! (included with `#[path]`, so `lru` stays a dev-dependency of `cdn-sim`).

/// Replays `keys` through one bare `lru::LruCache` holding `capacity` objects; returns hits.
/// No simulator can do less work per request than this.
pub fn bare_lru_replay(keys: &[u64], capacity: usize) -> u64 {
    let mut cache =
        lru::LruCache::new(std::num::NonZeroUsize::new(capacity).expect("capacity > 0"));
    let mut hits = 0;
    for &k in keys {
        if cache.get(&k).is_some() {
            hits += 1;
        } else {
            cache.put(k, ());
        }
    }
    hits
}
