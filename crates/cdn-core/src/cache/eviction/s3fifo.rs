//! S3-FIFO (Juncheng Yang, Yazhuo Zhang, Ziyue Qiu, Yao Yue, K. V. Rashmi, "FIFO queues are
//! all you need for cache eviction", SOSP '23, §4 and Algorithm 1), with the details the
//! paper leaves open taken from its authors' reference implementation, libCacheSim's
//! `S3FIFO.c` — the code the cross-check compares against (`docs/caching.md` lists each).
//!
//! Three FIFO queues:
//! - **S**, small, 10 % of the bytes (rounded down): every new object enters here, so a
//!   one-hit wonder leaves after a short stay.
//! - **M**, main, the other 90 %: objects that were hit at least twice while in S, and
//!   objects whose key is in G. Eviction from M is a 2-bit CLOCK: an object at the tail whose
//!   frequency is positive goes back to the head with its frequency minus one.
//! - **G**, ghost: keys (and sizes) of objects evicted from S without a second hit, in a FIFO
//!   holding at most 90 % of the cache's bytes worth of them. A miss on a key in G admits the
//!   object straight into M.
//!
//! A hit adds one to the object's frequency, capped at 3 (two bits).

use super::{NewObject, Policy};
use crate::cache::slab::{List, Queue, Slab};

/// The frequency cap: two bits.
const FREQ_MAX: u8 = 3;
/// An object leaves S for M if it was hit at least this often while in S (Algorithm 1:
/// `t.freq > 1`; libCacheSim: `move-to-main-threshold=2`).
const MOVE_TO_MAIN: u8 = 2;

pub(super) struct S3Fifo {
    small: List,
    main: List,
    ghost: List,
    small_capacity: u64,
    main_capacity: u64,
    ghost_capacity: u64,
    /// Whether anything was evicted yet. Until then, once S is full, new objects go to M
    /// (libCacheSim's refinement: objects admitted while the cache warms up are not pushed
    /// through a full S).
    has_evicted: bool,
}

impl S3Fifo {
    pub(super) fn new(capacity: u64) -> S3Fifo {
        let small_capacity = capacity / 10;
        S3Fifo {
            small: List::EMPTY,
            main: List::EMPTY,
            ghost: List::EMPTY,
            small_capacity,
            main_capacity: capacity - small_capacity,
            // 90 % rounded down, without overflow for any u64 capacity.
            ghost_capacity: (u128::from(capacity) * 9 / 10) as u64,
            has_evicted: false,
        }
    }

    /// Frees room for one object (Algorithm 1's `evict`): from M if M is over its share or S
    /// is empty, else from S.
    fn evict<V: Copy>(&mut self, slab: &mut Slab<V>) {
        self.has_evicted = true;
        if self.main.bytes > self.main_capacity || self.small.bytes == 0 {
            self.evict_main(slab);
        } else {
            self.evict_small(slab);
        }
    }

    /// Algorithm 1's `evictS`: objects hit twice move to M (which may then exceed its share
    /// until the next `evict`); the first other object leaves for G.
    fn evict_small<V: Copy>(&mut self, slab: &mut Slab<V>) {
        while self.small.bytes > 0 {
            let t = self.small.tail;
            slab.unlink(&mut self.small, t);
            let slot = slab.get_mut(t);
            if slot.bits >= MOVE_TO_MAIN {
                slot.bits = 0;
                slot.queue = Queue::Main;
                slab.push_head(&mut self.main, t);
            } else {
                self.remember(slab, t);
                return;
            }
        }
    }

    /// Algorithm 1's `evictM`: a 2-bit CLOCK over M.
    fn evict_main<V: Copy>(&mut self, slab: &mut Slab<V>) {
        while self.main.bytes > 0 {
            let t = self.main.tail;
            let freq = slab.get(t).bits;
            if freq == 0 {
                slab.unlink(&mut self.main, t);
                slab.discard(t);
                return;
            }
            slab.get_mut(t).bits = freq - 1;
            slab.move_to_head(&mut self.main, t);
        }
    }

    /// Turns slot `t`, just taken off S, into a ghost entry at the head of G, dropping G's
    /// oldest entries to keep it within its byte budget.
    fn remember<V: Copy>(&mut self, slab: &mut Slab<V>, t: u32) {
        let size = slab.get(t).size;
        if size > self.ghost_capacity {
            slab.discard(t);
            return;
        }
        while self.ghost.bytes + size > self.ghost_capacity {
            let oldest = self.ghost.tail;
            slab.unlink(&mut self.ghost, oldest);
            slab.discard(oldest);
        }
        let slot = slab.get_mut(t);
        slot.queue = Queue::Ghost;
        slot.bits = 0;
        slab.push_head(&mut self.ghost, t);
    }
}

impl Policy for S3Fifo {
    fn used(&self) -> u64 {
        self.small.bytes + self.main.bytes
    }

    fn len(&self) -> usize {
        self.small.len + self.main.len
    }

    fn list(&mut self, queue: Queue) -> &mut List {
        match queue {
            Queue::Small => &mut self.small,
            Queue::Main => &mut self.main,
            Queue::Ghost => &mut self.ghost,
            Queue::Free => unreachable!("a free slot is on no list"),
        }
    }

    #[inline]
    fn on_hit<V: Copy>(&mut self, slab: &mut Slab<V>, slot: u32) {
        let s = slab.get_mut(slot);
        s.bits = (s.bits + 1).min(FREQ_MAX);
    }

    /// An object as large as S would flush all of S on entering it: not admitted (libCacheSim
    /// admits one exactly as large as S only through G, which never holds one).
    fn admits(&self, size: u64) -> bool {
        size < self.small_capacity
    }

    fn insert<V: Copy>(&mut self, slab: &mut Slab<V>, new: NewObject<V>) {
        // A miss consumes the key's ghost entry whether or not the object is then admitted,
        // and before evicting (eviction adds to G and could push the entry out).
        let from_ghost = new.ghost.is_some();
        if let Some(g) = new.ghost {
            self.remove(slab, g);
        }
        while self.used() + new.size > new.capacity {
            self.evict(slab);
        }
        let queue = if from_ghost || (!self.has_evicted && self.small.bytes >= self.small_capacity)
        {
            Queue::Main
        } else {
            Queue::Small
        };
        let s = slab.alloc(new.key, new.size, new.value, queue);
        let list = self.list(queue);
        slab.push_head(list, s);
    }

    fn remove<V: Copy>(&mut self, slab: &mut Slab<V>, slot: u32) {
        let queue = slab.get(slot).queue;
        slab.unlink(self.list(queue), slot);
        slab.discard(slot);
    }

    fn keys<V: Copy>(&self, slab: &Slab<V>) -> Vec<u64> {
        slab.keys_from_tail(&self.small)
            .chain(slab.keys_from_tail(&self.main))
            .collect()
    }
}
