//! A byte-bounded store of responses, one per cache node, evicting by the node's policy.

use super::eviction::{EvictingMap, Eviction};
use super::CacheControl;
use crate::failure::FailureKind;
use crate::message::{CacheKey, Etag, Response, Tier, Vary};
use crate::time::Instant;
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

/// A stored entry as [`Store::find`] found it, still packed: what a lookup decides on, read
/// in place; [`Found::response`] builds the response only for serving it.
#[derive(Clone, Copy)]
pub(crate) struct Found<'a> {
    body_len: u64,
    packed: Packed,
    style: &'a Style,
}

impl Found<'_> {
    /// The stored `Vary`.
    pub(crate) fn vary(&self) -> Vary {
        self.style.vary
    }

    /// The stored directives.
    pub(crate) fn cache_control(&self) -> &CacheControl {
        &self.style.cache_control
    }

    /// [`Entry::age`].
    pub(crate) fn age(&self, now: Instant) -> Duration {
        Duration::from_nanos(self.packed.age_ns) + now.saturating_since(self.packed.stored_at)
    }

    fn lifetime(&self) -> Duration {
        Duration::from_nanos(self.packed.lifetime_ns)
    }

    /// [`Entry::is_fresh`].
    pub(crate) fn is_fresh(&self, now: Instant) -> bool {
        self.age(now) < self.lifetime()
    }

    /// [`Entry::staleness`].
    pub(crate) fn staleness(&self, now: Instant) -> Duration {
        self.age(now).saturating_sub(self.lifetime())
    }

    /// The stored response (its `age` the corrected initial age when stored), built.
    pub(crate) fn response(&self) -> Response {
        let (style, p) = (self.style, &self.packed);
        let date = Instant(u64::from(p.date_s) * NANOS_PER_SECOND);
        Response {
            status: style.status,
            body_len: self.body_len,
            cache_control: style.cache_control,
            generated_by: style.generated_by,
            reason: style.reason,
            failure: style.failure,
            age: Duration::from_nanos(p.age_ns),
            date,
            expires: style.has_expires.then_some(date + self.lifetime()),
            last_modified: style.last_modified,
            etag: style.etag,
            vary: style.vary,
            set_cookie: false,
            header_bytes: 0,
        }
    }

    /// The whole entry, unpacked.
    pub(crate) fn entry(&self) -> Entry {
        Entry {
            response: self.response(),
            stored_at: self.packed.stored_at,
            lifetime: self.lifetime(),
        }
    }
}

/// The parts of a response that many entries share (one origin sends the same directives
/// with every response), stored once per store.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Style {
    cache_control: CacheControl,
    reason: Option<&'static str>,
    failure: Option<FailureKind>,
    generated_by: Tier,
    vary: Vary,
    etag: Option<Etag>,
    last_modified: Option<Instant>,
    status: u16,
    /// Freshness came from `Expires`: re-emit it (as Date + lifetime) when serving, so a
    /// downstream cache computes the same lifetime.
    has_expires: bool,
}

impl Style {
    /// The style of `r`.
    fn of(r: &Response) -> Style {
        Style {
            cache_control: r.cache_control,
            reason: r.reason,
            failure: r.failure,
            generated_by: r.generated_by,
            vary: r.vary,
            etag: r.etag,
            last_modified: r.last_modified,
            status: r.status,
            has_expires: r.expires.is_some(),
        }
    }

    /// `*self == Style::of(r)`, without building it (the small fields first).
    fn is_of(&self, r: &Response) -> bool {
        self.status == r.status
            && self.generated_by == r.generated_by
            && self.vary == r.vary
            && self.has_expires == r.expires.is_some()
            && self.etag == r.etag
            && self.failure == r.failure
            && self.last_modified == r.last_modified
            && self.reason == r.reason
            && self.cache_control == r.cache_control
    }
}

/// An [`Entry`] packed into 32 bytes (the body length is the slot's size), so a slot with
/// its key and queue links fits one cache line: the simulator's speed is bound by cache
/// misses on large stores.
#[derive(Clone, Copy)]
struct Packed {
    age_ns: u64,
    stored_at: Instant,
    lifetime_ns: u64,
    style: u32,
    /// The response's `Date` in whole seconds (HTTP dates have one-second resolution): it is
    /// sent downstream again, so it must be the origin's, not one derived from the age.
    date_s: u32,
}

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// `d` in nanoseconds, `u64::MAX` if it does not fit (in 64-bit arithmetic: `as_nanos`
/// works in 128 bits, twice per insert).
fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .checked_mul(NANOS_PER_SECOND)
        .and_then(|n| n.checked_add(u64::from(d.subsec_nanos())))
        .unwrap_or(u64::MAX)
}

/// A byte-bounded cache of responses: at most [`capacity`](Self::capacity) bytes of bodies,
/// evicting by an [`Eviction`] policy (LRU unless [`with_eviction`](Self::with_eviction) says
/// otherwise). An object larger than the whole cache is never stored.
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
    entries: EvictingMap<Packed>,
    styles: Vec<Style>,
}

/// A byte capacity alone is an empty LRU store of that size, so `CacheNode::new` takes either.
impl From<u64> for Store {
    fn from(capacity: u64) -> Store {
        Store::new(capacity)
    }
}

impl Store {
    /// An empty LRU store holding at most `capacity` bytes of bodies (0 disables caching).
    pub fn new(capacity: u64) -> Store {
        Store::with_eviction(capacity, Eviction::Lru)
    }

    /// An empty store of `capacity` bytes evicting by `eviction`.
    ///
    /// ```
    /// use cdn_core::{cache::{Eviction, Store}, CacheKey, Instant, Response, Tier};
    /// use std::time::Duration;
    /// let mut store = Store::with_eviction(100, Eviction::Fifo);
    /// let mut r = Response::generated(Tier::Origin, 200, "ok");
    /// r.body_len = 40;
    /// let ttl = Duration::from_secs(60);
    /// store.insert(Instant::ZERO, CacheKey(1), r, ttl);
    /// store.insert(Instant::ZERO, CacheKey(2), r, ttl);
    /// store.get(CacheKey(1)); // a hit does not reorder a FIFO
    /// store.insert(Instant::ZERO, CacheKey(3), r, ttl);
    /// assert_eq!(store.keys(), [CacheKey(2), CacheKey(3)]); // the oldest, key 1, left
    /// ```
    pub fn with_eviction(capacity: u64, eviction: Eviction) -> Store {
        Store {
            entries: EvictingMap::new(capacity, eviction),
            styles: Vec::new(),
        }
    }

    /// The eviction policy.
    pub fn eviction(&self) -> Eviction {
        self.entries.eviction()
    }

    /// The byte capacity.
    pub fn capacity(&self) -> u64 {
        self.entries.capacity()
    }

    /// Bytes of bodies stored now; never more than [`capacity`](Self::capacity).
    pub fn used_bytes(&self) -> u64 {
        self.entries.used()
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a body of `size` bytes may be stored at all: not when caching is disabled
    /// (capacity 0) or the body is larger than the capacity, nor, under S3-FIFO, when it is
    /// 10 % of the capacity or more.
    ///
    /// ```
    /// use cdn_core::cache::{Eviction, Store};
    /// assert!(Store::new(1000).admits(1000));
    /// assert!(!Store::with_eviction(1000, Eviction::S3Fifo).admits(100));
    /// assert!(Store::with_eviction(1000, Eviction::S3Fifo).admits(99));
    /// ```
    pub fn admits(&self, size: u64) -> bool {
        self.entries.admits(size)
    }

    /// Looks up `key` as a request does: the policy counts the access (LRU makes the entry
    /// most recently used; SIEVE marks it visited; S3-FIFO counts its frequency).
    pub fn get(&mut self, key: CacheKey) -> Option<Entry> {
        let (size, p) = self.entries.get(key.0)?;
        Some(self.unpack(size, p))
    }

    /// [`Store::get`], the entry left packed where it lies: a cache decision reads its age,
    /// lifetime, directives and `Vary` from it, and builds the response only to serve it.
    /// (Unpacking every found entry into a ~190-byte [`Entry`] first, then copying its
    /// response again to serve it, was ~40 instructions per hit.)
    pub(crate) fn find(&mut self, key: CacheKey) -> Option<Found<'_>> {
        let (body_len, packed) = self.entries.get(key.0)?;
        let style = &self.styles[packed.style as usize];
        Some(Found {
            body_len,
            packed,
            style,
        })
    }

    /// Tells the CPU that `key` will be looked up soon, so that the first cache miss of
    /// the lookup overlaps with other work. Nothing else changes.
    ///
    /// ```
    /// use cdn_core::{cache::Store, CacheKey};
    /// let mut store = Store::new(100);
    /// store.prefetch(CacheKey(7));
    /// assert!(store.get(CacheKey(7)).is_none());
    /// ```
    #[inline]
    pub fn prefetch(&self, key: CacheKey) {
        self.entries.prefetch(key.0);
    }

    /// The second step of [`Store::prefetch`], some time after it: asks the CPU for the
    /// entry itself, found through the index bucket the first step fetched. Nothing else
    /// changes.
    #[inline]
    pub fn prefetch_entry(&self, key: CacheKey) {
        self.entries.prefetch_slot(key.0);
    }

    /// Looks up `key` without counting an access.
    pub fn peek(&self, key: CacheKey) -> Option<Entry> {
        let (size, p) = self.entries.peek(key.0)?;
        Some(self.unpack(size, p))
    }

    /// The stored keys in the order the policy considers them for eviction, first
    /// candidate first: LRU from least to most recently used; FIFO and SIEVE from oldest to
    /// newest insertion (SIEVE's hand may be part-way along); S3-FIFO the small queue, then
    /// the main queue, each oldest first.
    pub fn keys(&self) -> Vec<CacheKey> {
        self.entries.keys().into_iter().map(CacheKey).collect()
    }

    fn unpack(&self, body_len: u64, p: Packed) -> Entry {
        Found {
            body_len,
            packed: p,
            style: &self.styles[p.style as usize],
        }
        .entry()
    }

    fn style_index(&mut self, r: &Response) -> u32 {
        // Few distinct styles exist (usually one per origin configuration); search newest
        // first because a reconfigured origin keeps sending its latest style. Compared with
        // the response's fields in place: building a `Style` first to compare was ~30
        // instructions per insert.
        if let Some(i) = self.styles.iter().rposition(|s| s.is_of(r)) {
            return i as u32;
        }
        self.styles.push(Style::of(r));
        (self.styles.len() - 1) as u32
    }

    /// Stores `response` under `key`, evicting by the policy to make room. Returns false,
    /// changing nothing, if the store does not [admit](Self::admits) its body.
    ///
    /// A new copy of a stored key that is no larger replaces it in place (LRU also makes it
    /// most recently used); a larger one is admitted as a new object.
    pub fn insert(
        &mut self,
        now: Instant,
        key: CacheKey,
        response: Response,
        lifetime: Duration,
    ) -> bool {
        self.insert_aged(
            now,
            key,
            &response,
            response.age,
            response.body_len,
            lifetime,
        )
    }

    /// [`Store::insert`] of `response` as if its `age` and `body_len` were `age` and
    /// `body_len`: a cache storing what it received (with its corrected age, or as a
    /// bodiless `Vary` marker) reads the response in place instead of copying all of it to
    /// change two fields (a `memcpy` per stored response).
    pub(crate) fn insert_aged(
        &mut self,
        now: Instant,
        key: CacheKey,
        response: &Response,
        age: Duration,
        body_len: u64,
        lifetime: Duration,
    ) -> bool {
        if !self.admits(body_len) {
            return false;
        }
        let entry = Packed {
            age_ns: nanos(age),
            stored_at: now,
            lifetime_ns: nanos(lifetime),
            style: self.style_index(response),
            date_s: u32::try_from(response.date.0 / NANOS_PER_SECOND).unwrap_or(u32::MAX),
        };
        self.entries.insert(key.0, body_len, entry);
        true
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: CacheKey) -> Option<Entry> {
        let (size, p) = self.entries.remove(key.0)?;
        Some(self.unpack(size, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_stays_one_cache_line_with_its_slot() {
        // 32 bytes of entry + key, size, links and policy bits: one 64-byte slot.
        assert_eq!(std::mem::size_of::<Packed>(), 32);
        assert_eq!(std::mem::size_of::<crate::cache::slab::Slot<Packed>>(), 64);
    }

    #[test]
    fn nanos_saturates_as_the_128_bit_conversion_did() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_secs(86_400),
            Duration::new(18_446_744_073, 709_551_615),
            Duration::new(18_446_744_073, 709_551_616),
            Duration::new(u64::MAX, 999_999_999),
        ] {
            assert_eq!(
                nanos(d),
                u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_style_is_found_by_comparing_in_place() {
        let mut store = Store::new(1000);
        let mut a = Response::generated(Tier::Origin, 200, "ok");
        a.cache_control = crate::CacheControl::parse("max-age=60");
        let mut b = a;
        b.cache_control = crate::CacheControl::parse("max-age=61");
        let mut c = a;
        c.reason = Some("other");
        let (ia, ib, ic) = (
            store.style_index(&a),
            store.style_index(&b),
            store.style_index(&c),
        );
        assert_eq!([ia, ib, ic], [0, 1, 2]);
        assert_eq!(store.style_index(&a), ia);
        assert_eq!(store.style_index(&b), ib);
        for (i, r) in [a, b, c].iter().enumerate() {
            assert!(store.styles[i] == Style::of(r) && store.styles[i].is_of(r));
        }
    }

    #[test]
    fn a_stored_copy_keeps_the_origins_date() {
        // Served downstream, the copy carries the origin's Date, not one worked back from
        // its age: a cache below computes its apparent age from it (RFC 9111 §4.2.3).
        let mut store = Store::new(1000);
        let mut r = Response::generated(Tier::Origin, 200, "ok")
            .dated(Instant::ZERO + Duration::from_secs(2));
        r.body_len = 10;
        r.age = Duration::from_millis(2030);
        store.insert(
            Instant::ZERO + Duration::from_millis(2040),
            CacheKey(1),
            r,
            Duration::from_secs(5),
        );
        let e = store.get(CacheKey(1)).unwrap();
        assert_eq!(e.response.date, Instant::ZERO + Duration::from_secs(2));
        assert_eq!(e.response.age, Duration::from_millis(2030));
        assert_eq!(e.response.status, 200);
    }
}
