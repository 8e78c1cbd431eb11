//! A byte-bounded LRU store of responses, one per cache node.

use super::CacheControl;
use crate::message::{CacheKey, Etag, Response, Tier, Vary};
use crate::time::Instant;
use lru::LruCache;
use std::hash::{BuildHasherDefault, Hasher};

use std::time::Duration;

/// A hasher for [`CacheKey`]s (already well-mixed hashes: hashing them again with SipHash would
/// only cost time) and other `u64` handles such as request tickets: one multiply and rotate.
#[derive(Default, Clone, Copy, Debug)]
pub struct KeyHasher(u64);

/// `BuildHasher` for [`KeyHasher`].
pub type KeyBuildHasher = BuildHasherDefault<KeyHasher>;

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
    /// The response as stored; its `age` is the corrected initial age (RFC 9111 §4.2.3)
    /// when it was stored.
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

/// The parts of a response that many entries share (one origin sends the same directives
/// with every response), stored once per store.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Style {
    cache_control: CacheControl,
    reason: Option<&'static str>,
    generated_by: Tier,
    vary: Vary,
    etag: Option<Etag>,
    last_modified: Option<Instant>,
    /// Freshness came from `Expires`: re-emit it (as Date + lifetime) when serving, so a
    /// downstream cache computes the same lifetime.
    has_expires: bool,
}

/// An [`Entry`] packed into 40 bytes, so an LRU node fits one cache line: the simulator's
/// speed is bound by cache misses on large stores.
#[derive(Clone, Copy)]
struct Packed {
    body_len: u64,
    age_ns: u64,
    stored_at: Instant,
    lifetime_ns: u64,
    style: u32,
    status: u16,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
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
    entries: LruCache<CacheKey, Packed, KeyBuildHasher>,
    styles: Vec<Style>,
}

impl Store {
    /// An empty store holding at most `capacity` bytes of bodies (0 disables caching).
    pub fn new(capacity: u64) -> Store {
        Store {
            capacity,
            used: 0,
            entries: LruCache::unbounded_with_hasher(KeyBuildHasher::default()),
            styles: Vec::new(),
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
    pub fn get(&mut self, key: CacheKey) -> Option<Entry> {
        let p = *self.entries.get(&key)?;
        Some(self.unpack(p))
    }

    /// Looks up `key` without touching recency.
    pub fn peek(&self, key: CacheKey) -> Option<Entry> {
        self.entries.peek(&key).map(|p| self.unpack(*p))
    }

    fn unpack(&self, p: Packed) -> Entry {
        let style = self.styles[p.style as usize];
        // Date is not kept: it is only needed to compute the age, done at insert.
        let date = Instant(p.stored_at.0.saturating_sub(p.age_ns));
        let lifetime = Duration::from_nanos(p.lifetime_ns);
        Entry {
            response: Response {
                status: p.status,
                body_len: p.body_len,
                cache_control: style.cache_control,
                generated_by: style.generated_by,
                reason: style.reason,
                age: Duration::from_nanos(p.age_ns),
                date,
                expires: style.has_expires.then_some(date + lifetime),
                last_modified: style.last_modified,
                etag: style.etag,
                vary: style.vary,
                set_cookie: false,
                header_bytes: 0,
            },
            stored_at: p.stored_at,
            lifetime,
        }
    }

    fn style_index(&mut self, r: &Response) -> u32 {
        let style = Style {
            cache_control: r.cache_control,
            reason: r.reason,
            generated_by: r.generated_by,
            vary: r.vary,
            etag: r.etag,
            last_modified: r.last_modified,
            has_expires: r.expires.is_some(),
        };
        // Few distinct styles exist (usually one per origin configuration); search newest
        // first because a reconfigured origin keeps sending its latest style.
        if let Some(i) = self.styles.iter().rposition(|s| *s == style) {
            return i as u32;
        }
        self.styles.push(style);
        (self.styles.len() - 1) as u32
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
        let entry = Packed {
            body_len: size,
            age_ns: nanos(response.age),
            stored_at: now,
            lifetime_ns: nanos(lifetime),
            style: self.style_index(&response),
            status: response.status,
        };
        if let Some(old) = self.entries.put(key, entry) {
            self.used -= old.body_len;
        }
        self.used += size;
        // The new entry is most recently used and fits on its own, so it is never the one
        // evicted here.
        while self.used > self.capacity {
            let (_, evicted) = self
                .entries
                .pop_lru()
                .expect("used bytes > capacity implies an entry to evict");
            self.used -= evicted.body_len;
        }
        true
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: CacheKey) -> Option<Entry> {
        let p = self.entries.pop(&key)?;
        self.used -= p.body_len;
        Some(self.unpack(p))
    }
}
