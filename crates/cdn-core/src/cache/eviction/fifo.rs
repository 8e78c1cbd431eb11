//! First in, first out: one queue ordered by insertion; hits change nothing, eviction drops
//! the oldest object.

use super::{drop_tail, NewObject, Policy};
use crate::cache::slab::{List, Queue, Slab};

pub(super) struct Fifo {
    queue: List,
}

impl Default for Fifo {
    fn default() -> Fifo {
        Fifo { queue: List::EMPTY }
    }
}

impl Policy for Fifo {
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
    fn on_hit<V: Copy>(&mut self, _slab: &mut Slab<V>, _slot: u32) {}

    fn insert<V: Copy>(&mut self, slab: &mut Slab<V>, new: NewObject<V>) {
        while self.queue.bytes + new.size > new.capacity {
            drop_tail(slab, &mut self.queue);
        }
        let s = slab.alloc(new.key, new.size, new.value, Queue::Main);
        slab.push_head(&mut self.queue, s);
    }

    fn remove<V: Copy>(&mut self, slab: &mut Slab<V>, slot: u32) {
        slab.unlink(&mut self.queue, slot);
        slab.discard(slot);
    }

    fn keys<V: Copy>(&self, slab: &Slab<V>) -> Vec<u64> {
        slab.keys_from_tail(&self.queue).collect()
    }
}
