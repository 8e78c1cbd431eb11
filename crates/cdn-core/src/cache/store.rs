//! A byte-bounded LRU store of responses, one per cache node.

use super::CacheControl;
use crate::message::{CacheKey, Response};
use crate::time::Instant;
use lru::LruCache;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

/// Cache keys are already well-mixed hashes; hashing them again (SipHash) would only cost time.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
}

/// A stored response and when it was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The response as received (its `age` is the Age it arrived with).
    pub response: Response,
    /// When this cache stored it.
    pub stored_at: Instant,
    /// How long it is fresh, counted from when it was generated (Age included).
    pub lifetime: Duration,
}

impl Entry {
    /// The current age (RFC 9111 §4.2.3): Age on arrival plus residency here.
    pub fn age(&self, now: Instant) -> Duration {
        self.response.age + now.saturating_since(self.stored_at)
    }

    /// Whether the entry is still fresh at `now`.
    pub fn is_fresh(&self, now: Instant) -> bool {
        self.age(now) < self.lifetime
    }

    /// How long past its freshness lifetime the entry is at `now` (zero while fresh).
    pub fn staleness(&self, now: Instant) -> Duration {
        self.age(now).saturating_sub(self.lifetime)
    }

    /// The stored directives.
    pub fn cache_control(&self) -> &CacheControl {
        &self.response.cache_control
    }
}

/// A byte-bounded LRU cache of responses.
///
/// ```
/// use cdn_core::{cache::Store, CacheKey, Instant, Response, Tier};
/// use std::time::Duration;
/// let mut store = Store::new(100);
/// let mut r = Response::generated(Tier::Origin, 200, "ok");
/// r.body_len = 60;
/// assert!(store.insert(Instant::ZERO, CacheKey(1), r, Duration::from_secs(60)));
/// assert!(store.insert(Instant::ZERO, CacheKey(2), r, Duration::from_secs(60)));
/// assert_eq!(store.used_bytes(), 60); // key 1 was evicted to make room
/// assert!(store.get(CacheKey(1)).is_none());
/// ```
pub struct Store {
    capacity: u64,
    used: u64,
    entries: LruCache<CacheKey, Entry, BuildHasherDefault<KeyHasher>>,
}

impl Store {
    /// An empty store holding at most `capacity` bytes of bodies (0 disables caching).
    pub fn new(capacity: u64) -> Store {
        Store {
            capacity,
            used: 0,
            entries: LruCache::unbounded_with_hasher(BuildHasherDefault::default()),
        }
    }

    /// The byte capacity.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes of bodies stored now; never more than [`capacity`](Self::capacity).
    pub fn used_bytes(&self) -> u64 {
        self.used
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Looks up `key`, marking it most recently used.
    pub fn get(&mut self, key: CacheKey) -> Option<&Entry> {
        self.entries.get(&key)
    }

    /// Looks up `key` without touching recency.
    pub fn peek(&self, key: CacheKey) -> Option<&Entry> {
        self.entries.peek(&key)
    }

    /// Stores `response` under `key`, evicting least-recently-used entries to make room.
    /// Returns false (and stores nothing) if the body alone exceeds the capacity.
    pub fn insert(
        &mut self,
        now: Instant,
        key: CacheKey,
        response: Response,
        lifetime: Duration,
    ) -> bool {
        let size = response.body_len;
        if size > self.capacity || self.capacity == 0 {
            return false;
        }
        if let Some(old) = self.entries.pop(&key) {
            self.used -= old.response.body_len;
        }
        while self.used + size > self.capacity {
            let (_, evicted) = self
                .entries
                .pop_lru()
                .expect("used bytes > 0 implies an entry to evict");
            self.used -= evicted.response.body_len;
        }
        self.entries.put(
            key,
            Entry {
                response,
                stored_at: now,
                lifetime,
            },
        );
        self.used += size;
        true
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: CacheKey) -> Option<Entry> {
        let e = self.entries.pop(&key)?;
        self.used -= e.response.body_len;
        Some(e)
    }
}
