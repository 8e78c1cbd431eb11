//! Eviction policies: which stored object leaves when a new one does not fit.
//!
//! Four policies, each byte-bounded (a store holds at most its capacity in body bytes) and
//! each a set of queues threaded through one [`Slab`]:
//!
//! | policy | queues | on a hit | to make room |
//! |---|---|---|---|
//! | [`Eviction::Lru`] | one, by recency | move to the head | drop the tail |
//! | [`Eviction::Fifo`] | one, by insertion | nothing | drop the tail |
//! | [`Eviction::Sieve`] | one, by insertion, and a hand | set the visited bit | the hand walks toward the head clearing bits; drop the first unvisited object |
//! | [`Eviction::S3Fifo`] | small 10 %, main 90 %, ghost | frequency + 1 (at most 3) | see [`s3fifo`] |
//!
//! Every policy follows the same outline as libCacheSim's `cache_get_base`: a key not in the
//! cache is first checked for admission, then objects are evicted until it fits, then it is
//! inserted. `docs/caching.md` lists where each policy's details come from and what the
//! libCacheSim cross-check (`crates/cdn-sim/tests/libcachesim.rs`) compares.

mod fifo;
mod lru;
mod s3fifo;
mod sieve;

use super::slab::{List, Queue, Slab};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a cache chooses what to evict (`eviction = "lru" | "fifo" | "sieve" | "s3fifo"` on a
/// `[[cdn.l1]]` or `[[cdn.l2]]` node; default `lru`).
///
/// ```
/// use cdn_core::cache::Eviction;
/// assert_eq!(Eviction::default(), Eviction::Lru);
/// assert_eq!("s3fifo".parse::<Eviction>(), Ok(Eviction::S3Fifo));
/// assert_eq!(Eviction::Sieve.to_string(), "sieve");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Eviction {
    /// Least recently used: what nginx's `proxy_cache`, Varnish and most CDNs' memory tiers do.
    #[default]
    Lru,
    /// First in, first out: hits do not change the order.
    Fifo,
    /// SIEVE (Zhang et al., "SIEVE is Simpler than LRU: an Efficient Turn-Key Eviction
    /// Algorithm for Web Caches", NSDI '24): one FIFO queue, a visited bit per object and a
    /// hand that moves from the tail toward the head; visited objects stay in place.
    Sieve,
    /// S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction", SOSP '23): a
    /// small FIFO (10 % of the bytes) that filters one-hit wonders, a main FIFO with a 2-bit
    /// frequency per object, and a ghost queue of recently evicted keys.
    S3Fifo,
}

impl Eviction {
    /// Every policy, in the order the docs list them.
    pub const ALL: [Eviction; 4] = [
        Eviction::Lru,
        Eviction::Fifo,
        Eviction::Sieve,
        Eviction::S3Fifo,
    ];

    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Eviction::Lru => "lru",
            Eviction::Fifo => "fifo",
            Eviction::Sieve => "sieve",
            Eviction::S3Fifo => "s3fifo",
        }
    }
}

impl fmt::Display for Eviction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown policy name; the message lists the known ones.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown eviction policy {0:?}; allowed: lru, fifo, sieve, s3fifo")]
pub struct UnknownEviction(pub String);

impl std::str::FromStr for Eviction {
    type Err = UnknownEviction;
    fn from_str(s: &str) -> Result<Eviction, UnknownEviction> {
        Eviction::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| UnknownEviction(s.to_string()))
    }
}

/// What every policy does with the slab. Only the policy knows which queue a slot is on and
/// how an access or an eviction changes the queues.
trait Policy {
    /// Bytes cached (ghost entries excluded).
    fn used(&self) -> u64;
    /// Objects cached (ghost entries excluded).
    fn len(&self) -> usize;
    /// The list that `queue` names.
    fn list(&mut self, queue: Queue) -> &mut List;
    /// Whether an object of `size` bytes (at most the capacity) may enter at all.
    fn admits(&self, _size: u64) -> bool {
        true
    }
    /// A lookup found cached `slot`.
    fn on_hit<V: Copy>(&mut self, slab: &mut Slab<V>, slot: u32);
    /// Cached `slot` got a new value no larger than the old one (a refreshed copy). The
    /// lookup that found the old copy already counted as the access, so by default nothing
    /// changes; LRU makes it most recently used, as a write is a use.
    fn on_rewrite<V: Copy>(&mut self, _slab: &mut Slab<V>, _slot: u32) {}
    /// Inserts `new` (admitted, not cached; it may have a ghost entry), evicting as needed.
    fn insert<V: Copy>(&mut self, slab: &mut Slab<V>, new: NewObject<V>);
    /// Removes `slot` (cached or ghost) from its queue and frees it.
    fn remove<V: Copy>(&mut self, slab: &mut Slab<V>, slot: u32);
    /// The cached keys in queue order, next to be considered for eviction first.
    fn keys<V: Copy>(&self, slab: &Slab<V>) -> Vec<u64>;
}

/// An object offered to [`Policy::insert`].
struct NewObject<V> {
    /// The store's byte capacity (not zero).
    capacity: u64,
    key: u64,
    size: u64,
    value: V,
    /// The key's ghost entry, if it has one.
    ghost: Option<u32>,
}

/// Drops the tail of `list` (LRU's and FIFO's eviction).
fn drop_tail<V: Copy>(slab: &mut Slab<V>, list: &mut List) {
    let tail = list.tail;
    slab.unlink(list, tail);
    slab.discard(tail);
}

enum Queues {
    Lru(lru::Lru),
    Fifo(fifo::Fifo),
    Sieve(sieve::Sieve),
    S3Fifo(s3fifo::S3Fifo),
}

/// Calls the same method on whichever policy `queues` holds.
macro_rules! each {
    ($queues:expr, $p:ident => $e:expr) => {
        match $queues {
            Queues::Lru($p) => $e,
            Queues::Fifo($p) => $e,
            Queues::Sieve($p) => $e,
            Queues::S3Fifo($p) => $e,
        }
    };
}

/// A byte-bounded map from keys to values of known size, evicting by one policy. The
/// simulator's [`Store`](super::Store) is one of these holding packed responses.
pub(crate) struct EvictingMap<V> {
    capacity: u64,
    slab: Slab<V>,
    queues: Queues,
}

impl<V: Copy> EvictingMap<V> {
    /// An empty map of `capacity` bytes (0: nothing is ever stored).
    pub(crate) fn new(capacity: u64, eviction: Eviction) -> EvictingMap<V> {
        EvictingMap {
            capacity,
            slab: Slab::new(),
            queues: match eviction {
                Eviction::Lru => Queues::Lru(lru::Lru::default()),
                Eviction::Fifo => Queues::Fifo(fifo::Fifo::default()),
                Eviction::Sieve => Queues::Sieve(sieve::Sieve::default()),
                Eviction::S3Fifo => Queues::S3Fifo(s3fifo::S3Fifo::new(capacity)),
            },
        }
    }

    pub(crate) fn eviction(&self) -> Eviction {
        match self.queues {
            Queues::Lru(_) => Eviction::Lru,
            Queues::Fifo(_) => Eviction::Fifo,
            Queues::Sieve(_) => Eviction::Sieve,
            Queues::S3Fifo(_) => Eviction::S3Fifo,
        }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    pub(crate) fn used(&self) -> u64 {
        each!(&self.queues, p => p.used())
    }

    pub(crate) fn len(&self) -> usize {
        each!(&self.queues, p => p.len())
    }

    /// The cached slot of `key` (ghost entries are not cached).
    #[inline]
    fn cached(&self, key: u64) -> Option<u32> {
        self.slab
            .find(key)
            .filter(|&s| self.slab.get(s).queue != Queue::Ghost)
    }

    /// Looks `key` up as a request would: the policy counts the access.
    #[inline]
    pub(crate) fn get(&mut self, key: u64) -> Option<(u64, V)> {
        let s = self.cached(key)?;
        each!(&mut self.queues, p => p.on_hit(&mut self.slab, s));
        let slot = self.slab.get(s);
        Some((slot.size, slot.value))
    }

    /// Asks the CPU for the memory a lookup of `key` reads first.
    #[inline]
    pub(crate) fn prefetch(&self, key: u64) {
        self.slab.prefetch(key);
    }

    /// Asks the CPU for the slot a lookup of `key` reads second.
    #[inline]
    pub(crate) fn prefetch_slot(&self, key: u64) {
        self.slab.prefetch_slot(key);
    }

    /// Looks `key` up without counting an access.
    pub(crate) fn peek(&self, key: u64) -> Option<(u64, V)> {
        let slot = self.slab.get(self.cached(key)?);
        Some((slot.size, slot.value))
    }

    /// Whether an object of `size` bytes may be stored at all.
    pub(crate) fn admits(&self, size: u64) -> bool {
        self.capacity > 0 && size <= self.capacity && each!(&self.queues, p => p.admits(size))
    }

    /// Stores `value` of `size` bytes under `key`, which the caller has found
    /// [admitted](Self::admits) (the store checks before it packs the value; checking
    /// again here was ~20 instructions per insert).
    pub(crate) fn insert(&mut self, key: u64, size: u64, value: V) {
        debug_assert!(self.admits(size));
        let mut ghost = None;
        if let Some(s) = self.slab.find(key) {
            let slot = *self.slab.get(s);
            if slot.queue == Queue::Ghost {
                ghost = Some(s);
            } else if size <= slot.size {
                // A refreshed copy that fits in place keeps its place in the queues.
                each!(&mut self.queues, p => p.list(slot.queue).bytes -= slot.size - size);
                let slot = self.slab.get_mut(s);
                slot.size = size;
                slot.value = value;
                each!(&mut self.queues, p => p.on_rewrite(&mut self.slab, s));
                return;
            } else {
                // A larger copy enters as a new object, evicting as any new object would.
                each!(&mut self.queues, p => p.remove(&mut self.slab, s));
            }
        }
        let new = NewObject {
            capacity: self.capacity,
            key,
            size,
            value,
            ghost,
        };
        each!(&mut self.queues, p => p.insert(&mut self.slab, new));
    }

    /// Removes `key` (and any ghost entry it has); returns its size and value if it was cached.
    pub(crate) fn remove(&mut self, key: u64) -> Option<(u64, V)> {
        let s = self.slab.find(key)?;
        let slot = *self.slab.get(s);
        each!(&mut self.queues, p => p.remove(&mut self.slab, s));
        (slot.queue != Queue::Ghost).then_some((slot.size, slot.value))
    }

    /// The cached keys, next to be considered for eviction first.
    pub(crate) fn keys(&self) -> Vec<u64> {
        each!(&self.queues, p => p.keys(&self.slab))
    }
}
