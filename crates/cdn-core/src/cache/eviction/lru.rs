//! Least recently used: one queue ordered by last use; a hit moves the object to the head,
//! eviction drops the tail.

use super::{drop_tail, NewObject, Policy};
use crate::cache::slab::{List, Queue, Slab};

pub(super) struct Lru {
    queue: List,
}

impl Default for Lru {
    fn default() -> Lru {
        Lru { queue: List::EMPTY }
    }
}

impl Policy for Lru {
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
        slab.move_to_head(&mut self.queue, slot);
    }

    fn on_rewrite<V: Copy>(&mut self, slab: &mut Slab<V>, slot: u32) {
        slab.move_to_head(&mut self.queue, slot);
    }

    fn insert<V: Copy>(&mut self, slab: &mut Slab<V>, new: NewObject<V>) {
        while self.queue.bytes + new.size > new.capacity {
            drop_tail(slab, &mut self.queue);
        }
        let s = slab.alloc(new.key, new.size, new.value, Queue::Main);
        slab.push_head(&mut self.queue, s);
        slab.prefetch_victims(&self.queue);
    }

    fn remove<V: Copy>(&mut self, slab: &mut Slab<V>, slot: u32) {
        slab.unlink(&mut self.queue, slot);
        slab.discard(slot);
    }

    fn keys<V: Copy>(&self, slab: &Slab<V>) -> Vec<u64> {
        slab.keys_from_tail(&self.queue).collect()
    }
}
