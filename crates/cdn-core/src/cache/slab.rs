//! The slots of a store: keys, sizes, values and queue links in one flat array, beside the
//! [`KeyIndex`] that finds them, with intrusive doubly linked [`List`]s threaded through the
//! slots by index.
//!
//! One slot is one cache line (64 bytes for the simulator's packed entries): a hit reads the
//! index bucket and the slot, and an LRU touch then writes its two neighbours. Freed slots go
//! on a free list and are reused by the next insert — usually the slot just evicted, still
//! in cache — so a full store allocates nothing per insert.

use super::key_index::KeyIndex;

/// "No slot": the end of a list, an empty hand.
pub(crate) const NIL: u32 = u32::MAX;

/// Which queue a slot is on. Single-queue policies use `Main` only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Queue {
    /// The one queue of LRU, FIFO and SIEVE; S3-FIFO's main queue M.
    Main,
    /// S3-FIFO's small queue S.
    Small,
    /// S3-FIFO's ghost queue G: the key and size of an object evicted from S, no value.
    Ghost,
    /// On the free list.
    Free,
}

/// One object: its key, size, value, links and policy bits.
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
pub(crate) struct Slot<V> {
    pub(crate) key: u64,
    pub(crate) size: u64,
    pub(crate) value: V,
    /// Toward the head (the newer neighbour); `NIL` at the head. On the free list: unused.
    pub(crate) prev: u32,
    /// Toward the tail (the older neighbour); `NIL` at the tail. On the free list: the next
    /// free slot.
    pub(crate) next: u32,
    pub(crate) queue: Queue,
    /// The policy's access bits: SIEVE's visited bit, S3-FIFO's 2-bit frequency.
    pub(crate) bits: u8,
}

/// A queue threaded through the slab: head = newest insertion, tail = next to leave.
#[derive(Clone, Copy, Debug)]
pub(crate) struct List {
    pub(crate) head: u32,
    pub(crate) tail: u32,
    /// Sum of the members' sizes.
    pub(crate) bytes: u64,
    /// Number of members.
    pub(crate) len: usize,
}

impl List {
    pub(crate) const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        bytes: 0,
        len: 0,
    };
}

/// Slots, their free list and their index.
pub(crate) struct Slab<V> {
    slots: Vec<Slot<V>>,
    free: u32,
    index: KeyIndex,
}

impl<V: Copy> Slab<V> {
    pub(crate) fn new() -> Slab<V> {
        Slab {
            slots: Vec::new(),
            free: NIL,
            index: KeyIndex::new(),
        }
    }

    /// The slot holding `key` (cached or ghost).
    #[inline]
    pub(crate) fn find(&self, key: u64) -> Option<u32> {
        self.index.find(key, |s| self.slots[s as usize].key == key)
    }

    #[inline]
    pub(crate) fn get(&self, slot: u32) -> &Slot<V> {
        &self.slots[slot as usize]
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, slot: u32) -> &mut Slot<V> {
        &mut self.slots[slot as usize]
    }

    /// A slot for `key` (which must be absent), indexed, on no list yet.
    pub(crate) fn alloc(&mut self, key: u64, size: u64, value: V, queue: Queue) -> u32 {
        let slot = Slot {
            key,
            size,
            value,
            prev: NIL,
            next: NIL,
            queue,
            bits: 0,
        };
        let s = if self.free != NIL {
            let s = self.free;
            self.free = self.slots[s as usize].next;
            self.slots[s as usize] = slot;
            s
        } else {
            let s = u32::try_from(self.slots.len())
                .ok()
                .filter(|&s| s != NIL)
                .expect("a store holds fewer than 2³² - 1 objects");
            self.slots.push(slot);
            s
        };
        self.index.insert(key, s);
        s
    }

    /// Unindexes `slot` (already off its list) and puts it on the free list.
    pub(crate) fn discard(&mut self, slot: u32) {
        let key = self.slots[slot as usize].key;
        self.index.remove(key, slot);
        let free = self.free;
        let s = &mut self.slots[slot as usize];
        s.queue = Queue::Free;
        s.next = free;
        self.free = slot;
    }

    /// Puts `slot` (on no list) at the head of `list`.
    #[inline]
    pub(crate) fn push_head(&mut self, list: &mut List, slot: u32) {
        let old = list.head;
        let s = &mut self.slots[slot as usize];
        s.prev = NIL;
        s.next = old;
        let size = s.size;
        if old == NIL {
            list.tail = slot;
        } else {
            self.slots[old as usize].prev = slot;
        }
        list.head = slot;
        list.bytes += size;
        list.len += 1;
    }

    /// Takes `slot` off `list`, which it must be on.
    #[inline]
    pub(crate) fn unlink(&mut self, list: &mut List, slot: u32) {
        let Slot {
            prev, next, size, ..
        } = self.slots[slot as usize];
        if prev == NIL {
            list.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            list.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        list.bytes -= size;
        list.len -= 1;
    }

    /// Moves `slot` (on `list`) to the head of `list`.
    #[inline]
    pub(crate) fn move_to_head(&mut self, list: &mut List, slot: u32) {
        if list.head != slot {
            self.unlink(list, slot);
            self.push_head(list, slot);
        }
    }

    /// The keys on `list`, tail (next to leave) first.
    pub(crate) fn keys_from_tail(&self, list: &List) -> impl Iterator<Item = u64> + '_ {
        let mut s = list.tail;
        std::iter::from_fn(move || {
            (s != NIL).then(|| {
                let slot = &self.slots[s as usize];
                s = slot.prev;
                slot.key
            })
        })
    }
}
