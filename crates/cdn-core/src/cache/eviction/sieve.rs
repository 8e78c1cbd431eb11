//! SIEVE (Yuchen Zhang, Juncheng Yang, Yazhuo Zhang, Shuyi Zhang, Yao Yue, K. V. Rashmi,
//! "SIEVE is Simpler than LRU: an Efficient Turn-Key Eviction Algorithm for Web Caches",
//! NSDI '24, §3 and Figure 2).
//!
//! One queue in insertion order (new objects at the head) and a *hand*. A hit only sets the
//! object's visited bit. To evict, the hand starts where it stopped last time (at the tail
//! the first time, or after it ran off the head), and walks toward the head: a visited object
//! has its bit cleared and stays where it is; the first unvisited object is evicted, and the
//! hand rests on its newer neighbour. Objects that survive keep their position, so new
//! objects behind the hand are judged quickly and popular ones are passed over cheaply —
//! the "lazy promotion and quick demotion" the paper argues for.

use super::{NewObject, Policy};
use crate::cache::slab::{List, Queue, Slab, NIL};

pub(super) struct Sieve {
    queue: List,
    /// The next object the hand examines; `NIL`: start at the tail.
    hand: u32,
}

impl Default for Sieve {
    fn default() -> Sieve {
        Sieve {
            queue: List::EMPTY,
            hand: NIL,
        }
    }
}

impl Sieve {
    fn evict<V: Copy>(&mut self, slab: &mut Slab<V>) {
        let mut o = if self.hand == NIL {
            self.queue.tail
        } else {
            self.hand
        };
        while slab.get(o).bits != 0 {
            let slot = slab.get_mut(o);
            slot.bits = 0;
            o = if slot.prev == NIL {
                self.queue.tail
            } else {
                slot.prev
            };
        }
        self.hand = slab.get(o).prev;
        slab.unlink(&mut self.queue, o);
        slab.discard(o);
    }
}

impl Policy for Sieve {
    fn used(&self) -> u64 {
        self.queue.bytes
    }

    fn len(&self) -> usize {
        self.queue.len
    }

    fn list(&mut self, _queue: Queue) -> &mut List {
        &mut self.queue
    }

    #[inline]
    fn on_hit<V: Copy>(&mut self, slab: &mut Slab<V>, slot: u32) {
        slab.get_mut(slot).bits = 1;
    }

    fn insert<V: Copy>(&mut self, slab: &mut Slab<V>, new: NewObject<V>) {
        while self.queue.bytes + new.size > new.capacity {
            self.evict(slab);
        }
        let s = slab.alloc(new.key, new.size, new.value, Queue::Main);
        slab.push_head(&mut self.queue, s);
    }

    fn remove<V: Copy>(&mut self, slab: &mut Slab<V>, slot: u32) {
        if self.hand == slot {
            self.hand = slab.get(slot).prev;
        }
        slab.unlink(&mut self.queue, slot);
        slab.discard(slot);
    }

    fn keys<V: Copy>(&self, slab: &Slab<V>) -> Vec<u64> {
        slab.keys_from_tail(&self.queue).collect()
    }
}
