//! FIFO, SIEVE and S3-FIFO stores against naive models written straight from the papers'
//! pseudo-code: each queue a `Vec` (oldest first), every step a linear scan. The models are
//! slow and obviously right; the store's slab, index, free list, links and SIEVE hand must
//! produce exactly the same contents, in the same order, after every operation.
//! (LRU is checked against `lru::LruCache` in `store_props.rs`; the policies' semantics
//! against libCacheSim in `libcachesim.rs`.)

use cdn_core::cache::{Eviction, Store};
use cdn_core::{CacheKey, Instant, Response, Tier};
use proptest::prelude::*;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
struct Obj {
    key: u64,
    size: u64,
    /// SIEVE's visited bit or S3-FIFO's frequency.
    bits: u8,
}

fn bytes(q: &[Obj]) -> u64 {
    q.iter().map(|o| o.size).sum()
}

fn position(q: &[Obj], key: u64) -> Option<usize> {
    q.iter().position(|o| o.key == key)
}

/// The naive caches. Every `Vec` is oldest first (index 0 is the tail).
enum Model {
    Fifo {
        q: Vec<Obj>,
    },
    Sieve {
        q: Vec<Obj>,
        /// The key the hand rests on; `None`: start at the tail.
        hand: Option<u64>,
    },
    S3Fifo {
        s: Vec<Obj>,
        m: Vec<Obj>,
        /// Ghost keys and sizes.
        g: Vec<(u64, u64)>,
        cap_s: u64,
        cap_m: u64,
        cap_g: u64,
        has_evicted: bool,
    },
}

impl Model {
    fn new(eviction: Eviction, capacity: u64) -> Model {
        match eviction {
            Eviction::Fifo => Model::Fifo { q: Vec::new() },
            Eviction::Sieve => Model::Sieve {
                q: Vec::new(),
                hand: None,
            },
            Eviction::S3Fifo => Model::S3Fifo {
                s: Vec::new(),
                m: Vec::new(),
                g: Vec::new(),
                cap_s: capacity / 10,
                cap_m: capacity - capacity / 10,
                cap_g: capacity * 9 / 10,
                has_evicted: false,
            },
            Eviction::Lru => unreachable!("LRU is checked against the lru crate"),
        }
    }

    fn used(&self) -> u64 {
        match self {
            Model::Fifo { q } | Model::Sieve { q, .. } => bytes(q),
            Model::S3Fifo { s, m, .. } => bytes(s) + bytes(m),
        }
    }

    /// The cached object `key`: which queue and where.
    fn find(&mut self, key: u64) -> Option<&mut Obj> {
        match self {
            Model::Fifo { q } | Model::Sieve { q, .. } => q.iter_mut().find(|o| o.key == key),
            Model::S3Fifo { s, m, .. } => s.iter_mut().chain(m.iter_mut()).find(|o| o.key == key),
        }
    }

    fn get(&mut self, key: u64) -> Option<u64> {
        let is_s3 = matches!(self, Model::S3Fifo { .. });
        let is_sieve = matches!(self, Model::Sieve { .. });
        let o = self.find(key)?;
        if is_sieve {
            o.bits = 1;
        } else if is_s3 {
            o.bits = (o.bits + 1).min(3);
        }
        Some(o.size)
    }

    fn remove(&mut self, key: u64) -> Option<u64> {
        match self {
            Model::Fifo { q } => position(q, key).map(|i| q.remove(i).size),
            Model::Sieve { q, hand } => {
                let i = position(q, key)?;
                if *hand == Some(key) {
                    *hand = q.get(i + 1).map(|o| o.key);
                }
                Some(q.remove(i).size)
            }
            Model::S3Fifo { s, m, g, .. } => {
                if let Some(i) = position(s, key) {
                    return Some(s.remove(i).size);
                }
                if let Some(i) = position(m, key) {
                    return Some(m.remove(i).size);
                }
                g.retain(|&(k, _)| k != key);
                None
            }
        }
    }

    /// `Store::insert`, for a policy that admits `size`.
    fn insert(&mut self, capacity: u64, key: u64, size: u64) {
        if let Some(o) = self.find(key) {
            if size <= o.size {
                o.size = size;
                return;
            }
            self.remove(key);
        }
        match self {
            Model::Fifo { q } => {
                while bytes(q) + size > capacity {
                    q.remove(0);
                }
                q.push(Obj { key, size, bits: 0 });
            }
            Model::Sieve { q, hand } => {
                while bytes(q) + size > capacity {
                    // SIEVE, NSDI '24 Figure 2: from the hand (or the tail) toward the head,
                    // clear visited bits, wrap to the tail; evict the first unvisited object.
                    let mut i = hand.and_then(|h| position(q, h)).unwrap_or(0);
                    while q[i].bits == 1 {
                        q[i].bits = 0;
                        i = if i + 1 == q.len() { 0 } else { i + 1 };
                    }
                    *hand = q.get(i + 1).map(|o| o.key);
                    q.remove(i);
                }
                q.push(Obj { key, size, bits: 0 });
            }
            Model::S3Fifo {
                s,
                m,
                g,
                cap_s,
                cap_m,
                cap_g,
                has_evicted,
            } => {
                let from_ghost = g.iter().any(|&(k, _)| k == key);
                g.retain(|&(k, _)| k != key);
                while bytes(s) + bytes(m) + size > capacity {
                    *has_evicted = true;
                    if bytes(m) > *cap_m || bytes(s) == 0 {
                        // evictM: a 2-bit CLOCK.
                        while bytes(m) > 0 {
                            let mut t = m.remove(0);
                            if t.bits == 0 {
                                break;
                            }
                            t.bits -= 1;
                            m.push(t);
                        }
                    } else {
                        // evictS: hit twice → M; else → G, and one object is out.
                        while bytes(s) > 0 {
                            let t = s.remove(0);
                            if t.bits >= 2 {
                                m.push(Obj { bits: 0, ..t });
                            } else {
                                if t.size <= *cap_g {
                                    while g.iter().map(|&(_, z)| z).sum::<u64>() + t.size > *cap_g {
                                        g.remove(0);
                                    }
                                    g.push((t.key, t.size));
                                }
                                break;
                            }
                        }
                    }
                }
                let new = Obj { key, size, bits: 0 };
                if from_ghost || (!*has_evicted && bytes(s) >= *cap_s) {
                    m.push(new);
                } else {
                    s.push(new);
                }
            }
        }
    }

    /// `Store::keys`: next candidate first.
    fn keys(&self) -> Vec<CacheKey> {
        match self {
            Model::Fifo { q } | Model::Sieve { q, .. } => {
                q.iter().map(|o| CacheKey(o.key)).collect()
            }
            Model::S3Fifo { s, m, .. } => s.iter().chain(m).map(|o| CacheKey(o.key)).collect(),
        }
    }
}

fn response(size: u64) -> Response {
    let mut r = Response::generated(Tier::Origin, 200, "");
    r.body_len = size;
    r
}

#[derive(Clone, Debug)]
enum Op {
    Get(u64),
    Insert(u64, u64),
    Remove(u64),
}

fn case() -> impl Strategy<Value = (Eviction, u64, Vec<Op>)> {
    let eviction = prop::sample::select(vec![Eviction::Fifo, Eviction::Sieve, Eviction::S3Fifo]);
    (eviction, 100u64..5_000).prop_flat_map(|(eviction, capacity)| {
        // Sizes up to a twelfth of the capacity: S3-FIFO admits below a tenth. Size 0 (a
        // Vary marker) included: it must not stall any eviction loop.
        let size = 0..=capacity / 12;
        let key = 0u64..40;
        let op = prop_oneof![
            5 => key.clone().prop_map(Op::Get),
            5 => (key.clone(), size).prop_map(|(k, s)| Op::Insert(k, s)),
            1 => key.prop_map(Op::Remove),
        ];
        (
            Just(eviction),
            Just(capacity),
            prop::collection::vec(op, 1..800),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// After every get, insert and remove, the store and the model hold the same keys in the
    /// same queue order, the same bytes, and answered the same.
    #[test]
    fn store_matches_the_naive_model((eviction, capacity, ops) in case()) {
        let mut store = Store::with_eviction(capacity, eviction);
        let mut model = Model::new(eviction, capacity);
        for op in ops {
            match op {
                Op::Get(k) => {
                    let got = store.get(CacheKey(k)).map(|e| e.response.body_len);
                    prop_assert_eq!(got, model.get(k));
                }
                Op::Insert(k, size) => {
                    let stored = store.insert(Instant::ZERO, CacheKey(k), response(size), Duration::from_secs(60));
                    prop_assert!(stored);
                    model.insert(capacity, k, size);
                }
                Op::Remove(k) => {
                    let removed = store.remove(CacheKey(k)).map(|e| e.response.body_len);
                    prop_assert_eq!(removed, model.remove(k));
                }
            }
            prop_assert_eq!(store.keys(), model.keys());
            prop_assert_eq!(store.used_bytes(), model.used());
        }
    }
}

/// SIEVE by hand (the walk of NSDI '24 Figure 2, shrunk): capacity 3 objects of 1 byte.
#[test]
fn sieve_keeps_visited_objects_in_place_and_moves_the_hand() {
    let mut store = Store::with_eviction(3, Eviction::Sieve);
    let put = |s: &mut Store, k: u64| {
        assert!(s.insert(
            Instant::ZERO,
            CacheKey(k),
            response(1),
            Duration::from_secs(1)
        ))
    };
    put(&mut store, 1);
    put(&mut store, 2);
    put(&mut store, 3); // queue, oldest first: 1 2 3
    store.get(CacheKey(1)); // 1 visited
    put(&mut store, 4); // hand at the tail: 1 visited → cleared, stays; 2 unvisited → out
    assert_eq!(store.keys(), [CacheKey(1), CacheKey(3), CacheKey(4)]);
    store.get(CacheKey(4)); // 4 visited
    put(&mut store, 5); // hand rests on 3 (2's newer neighbour): 3 unvisited → out
    assert_eq!(store.keys(), [CacheKey(1), CacheKey(4), CacheKey(5)]);
    put(&mut store, 6); // hand on 4: visited → cleared; 5 unvisited → out; hand off the head
    assert_eq!(store.keys(), [CacheKey(1), CacheKey(4), CacheKey(6)]);
    put(&mut store, 7); // hand restarts at the tail: 1 (cleared at the first eviction) → out
    assert_eq!(store.keys(), [CacheKey(4), CacheKey(6), CacheKey(7)]);
}

/// S3-FIFO by hand: capacity 100 B, objects of 1 B ⇒ S holds 10, M 90, G 90 keys.
#[test]
fn s3fifo_filters_one_hit_wonders_and_remembers_ghosts() {
    let mut store = Store::with_eviction(100, Eviction::S3Fifo);
    let put = |s: &mut Store, k: u64| {
        assert!(s.insert(
            Instant::ZERO,
            CacheKey(k),
            response(1),
            Duration::from_secs(1)
        ))
    };
    // Warm-up: keys 0..10 fill S; until the first eviction, later keys go straight to M.
    for k in 0..100 {
        put(&mut store, k);
    }
    let keys = store.keys();
    assert_eq!(keys[..10], (0..10).map(CacheKey).collect::<Vec<_>>()[..]);
    assert_eq!(store.len(), 100);
    // Key 0 hit twice in S, key 1 once.
    store.get(CacheKey(0));
    store.get(CacheKey(0));
    store.get(CacheKey(1));
    // Key 100: S is at its 10 B and M at its 90 B, so evict from S: 0 (hit twice) moves to
    // M's head; 1 (hit once, below the threshold of 2) goes to G; 100 enters S.
    put(&mut store, 100);
    assert!(store.peek(CacheKey(1)).is_none());
    assert!(store.peek(CacheKey(0)).is_some());
    let keys = store.keys();
    assert_eq!(keys.last(), Some(&CacheKey(0)), "0 is the newest in M");
    assert_eq!(
        keys[..9],
        (2..10).chain([100]).map(CacheKey).collect::<Vec<_>>()[..]
    );
    // Key 1 again: a ghost hit, so it skips S and enters M. Room comes from M, now over its
    // 90 B: its tail, key 10 (never hit), is evicted.
    put(&mut store, 1);
    assert!(store.peek(CacheKey(10)).is_none());
    assert_eq!(
        store.keys().last(),
        Some(&CacheKey(1)),
        "1 entered M at the head"
    );
    assert_eq!(
        store.keys()[..9],
        (2..10).chain([100]).map(CacheKey).collect::<Vec<_>>()[..]
    );
}
