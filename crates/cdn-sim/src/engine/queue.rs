//! The event queue: a min-queue on (time, sequence number). The sequence number breaks ties in
//! insertion order, so two events at the same instant always run in the same order.
//!
//! Most events are scheduled a fixed delay after the (monotonic) current time, one delay per
//! kind of event, so events of one kind are usually pushed in time order. Such pushes go to a
//! FIFO *lane* per kind; anything out of order for its lane goes to a binary heap. Popping
//! takes the least (time, sequence) among the lane fronts and the heap top: exactly the order
//! a single heap would give, without a heap's O(log n) unpredictable sift per pop (the heap
//! pop was ~11% of the standard workload's time).

use cdn_core::Instant;
use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

struct Scheduled<E> {
    at: Instant,
    seq: u64,
    event: E,
}

impl<E> Scheduled<E> {
    fn key(&self) -> (Instant, u64) {
        (self.at, self.seq)
    }
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<E> Eq for Scheduled<E> {}
impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Scheduled<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest first.
        other.key().cmp(&self.key())
    }
}

/// An event's (time, sequence) as one integer that orders the same way: time in the high
/// half, sequence in the low.
fn packed((at, seq): (Instant, u64)) -> u128 {
    (u128::from(at.0) << 64) | u128::from(seq)
}

/// The (time, sequence) of a [`packed`] key.
fn unpacked(k: u128) -> (Instant, u64) {
    (Instant((k >> 64) as u64), k as u64)
}

/// Where the next event is.
#[derive(Clone, Copy)]
enum Source {
    Lane(usize),
    Heap,
}

/// Events ordered by time, then by the order they were scheduled.
pub struct EventQueue<E> {
    /// Each lane is sorted by (time, sequence): a push joins a lane only at or after its back.
    lanes: Vec<VecDeque<Scheduled<E>>>,
    heap: BinaryHeap<Scheduled<E>>,
    seq: u64,
    /// The key of each lane's front, then of the heap's top ([`packed`]), kept on every push
    /// and pop: finding the next event compares these adjacent words instead of reaching
    /// into each `VecDeque` (that scan ran once per event and cost ~200 instructions).
    fronts: Vec<u128>,
    /// Which entries of `fronts` hold an event (bit `i` for lane `i`, bit `lanes` for the
    /// heap): the scan visits only those, usually four or five of ten.
    nonempty: u32,
    /// The next event's source and key, once found: a push only compares itself with it, and
    /// only a pop makes the next look scan the lanes again (the scan was ~8 % of the
    /// standard workload's instructions when every peek and pop did it).
    next: Cell<Option<Next>>,
}

/// Where the least event is, and its (time, sequence); `None` inside: the queue is empty.
type Next = Option<(Source, (Instant, u64))>;

impl<E> EventQueue<E> {
    /// An empty queue with `lanes` FIFO lanes (see [`push_in_lane`](Self::push_in_lane)).
    pub fn new(lanes: usize) -> Self {
        assert!(lanes < 32, "one bit per lane and the heap in a u32");
        EventQueue {
            lanes: (0..lanes).map(|_| VecDeque::new()).collect(),
            heap: BinaryHeap::new(),
            seq: 0,
            fronts: vec![u128::MAX; lanes + 1],
            nonempty: 0,
            next: Cell::new(Some(None)),
        }
    }

    /// Schedules `event` at `at`.
    pub fn push(&mut self, at: Instant, event: E) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
        let h = self.lanes.len();
        let key = packed((at, self.seq));
        if self.nonempty & (1 << h) == 0 || key < self.fronts[h] {
            self.fronts[h] = key;
        }
        self.nonempty |= 1 << h;
        self.pushed(Source::Heap, (at, self.seq));
    }

    /// Keeps the known next event right after a push of `key` from `source`.
    fn pushed(&self, source: Source, key: (Instant, u64)) {
        if let Some(next) = self.next.get() {
            if next.is_none_or(|(_, k)| key < k) {
                self.next.set(Some(Some((source, key))));
            }
        }
    }

    /// Schedules `event` at `at`, in FIFO lane `i` if that keeps the lane in time order.
    /// Where it goes never changes the order events come out in; it only makes that cheap
    /// when a lane's events are pushed in time order.
    pub fn push_in_lane(&mut self, i: usize, at: Instant, event: E) {
        let lane = &mut self.lanes[i];
        if lane.back().is_some_and(|b| b.at > at) {
            self.push(at, event);
            return;
        }
        self.seq += 1;
        if lane.is_empty() {
            self.fronts[i] = packed((at, self.seq));
            self.nonempty |= 1 << i;
        }
        lane.push_back(Scheduled {
            at,
            seq: self.seq,
            event,
        });
        self.pushed(Source::Lane(i), (at, self.seq));
    }

    fn next_source(&self) -> Option<(Source, Instant)> {
        let next = match self.next.get() {
            Some(next) => next,
            None => {
                let next = self.scan();
                self.next.set(Some(next));
                next
            }
        };
        next.map(|(source, (at, _))| (source, at))
    }

    /// The least of the lane fronts and the heap top. Keys are unique (the sequence number
    /// is), so the least is the same whichever way ties of equal keys would be broken.
    fn scan(&self) -> Next {
        let mut bits = self.nonempty;
        if bits == 0 {
            return None;
        }
        let mut i = bits.trailing_zeros() as usize;
        let mut least = self.fronts[i];
        bits &= bits - 1;
        while bits != 0 {
            let j = bits.trailing_zeros() as usize;
            if self.fronts[j] < least {
                least = self.fronts[j];
                i = j;
            }
            bits &= bits - 1;
        }
        let source = if i == self.lanes.len() {
            Source::Heap
        } else {
            Source::Lane(i)
        };
        Some((source, unpacked(least)))
    }

    /// The time of the next event.
    pub fn peek_time(&self) -> Option<Instant> {
        self.next_source().map(|(_, at)| at)
    }

    /// Removes and returns the next event.
    pub fn pop(&mut self) -> Option<(Instant, E)> {
        let (source, _) = self.next_source()?;
        self.take(source)
    }

    /// Removes and returns the next event unless something due at `before` comes first: the
    /// event if it is due at or before `before` (or `before` is `None`), else `None` and the
    /// queue unchanged. One look at the lanes instead of a `peek_time` and a `pop`.
    // Inlined into the run loop: it is called once per event and once per arrival, and
    // about half of the calls return at once (an arrival comes first).
    #[inline]
    pub fn pop_unless_after(&mut self, before: Option<Instant>) -> Option<(Instant, E)> {
        let (source, at) = self.next_source()?;
        if before.is_some_and(|b| b < at) {
            return None;
        }
        self.take(source)
    }

    /// The `n`-th earliest event of lane `i` (`n` = 0: its front; not necessarily the next
    /// to pop): what a driver may prepare for while it handles the current one.
    pub fn nth_of_lane(&self, i: usize, n: usize) -> Option<&E> {
        self.lanes[i].get(n).map(|s| &s.event)
    }

    fn take(&mut self, source: Source) -> Option<(Instant, E)> {
        self.next.set(None);
        let (s, i, front) = match source {
            Source::Heap => {
                let s = self.heap.pop();
                (s, self.lanes.len(), self.heap.peek().map(Scheduled::key))
            }
            Source::Lane(i) => {
                let s = self.lanes[i].pop_front();
                (s, i, self.lanes[i].front().map(Scheduled::key))
            }
        };
        match front {
            Some(key) => self.fronts[i] = packed(key),
            None => self.nonempty &= !(1 << i),
        }
        s.map(|s| (s.at, s.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_due_after_the_limit_stays_queued() {
        let mut q = EventQueue::new(1);
        q.push_in_lane(0, Instant(5), "a");
        assert_eq!(q.pop_unless_after(Some(Instant(4))), None);
        assert_eq!(q.peek_time(), Some(Instant(5)), "still queued");
        // Due at the limit itself: the event runs first (queued events before arrivals).
        assert_eq!(
            q.pop_unless_after(Some(Instant(5))),
            Some((Instant(5), "a"))
        );
        q.push(Instant(7), "b");
        assert_eq!(q.pop_unless_after(None), Some((Instant(7), "b")));
        assert_eq!(q.pop_unless_after(None), None);
    }

    #[test]
    fn a_lanes_next_events_are_seen_in_the_order_they_will_run() {
        let mut q = EventQueue::new(2);
        q.push_in_lane(0, Instant(5), "a");
        q.push_in_lane(0, Instant(6), "b");
        q.push_in_lane(0, Instant(4), "early"); // out of order for the lane: the heap
        q.push_in_lane(1, Instant(1), "other lane");
        assert_eq!(q.nth_of_lane(0, 0), Some(&"a"));
        assert_eq!(q.nth_of_lane(0, 1), Some(&"b"));
        assert_eq!(q.nth_of_lane(0, 2), None);
        assert_eq!(q.pop_unless_after(None), Some((Instant(1), "other lane")));
        assert_eq!(q.pop_unless_after(None), Some((Instant(4), "early")));
        assert_eq!(q.pop_unless_after(None), Some((Instant(5), "a")));
        assert_eq!(q.nth_of_lane(0, 0), Some(&"b"));
    }

    #[test]
    fn ties_run_in_insertion_order() {
        let mut q = EventQueue::new(0);
        q.push(Instant(5), "b");
        q.push(Instant(1), "a");
        q.push(Instant(5), "c");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn lanes_and_heap_pop_in_time_then_push_order() {
        let mut q = EventQueue::new(2);
        q.push_in_lane(0, Instant(5), "b");
        q.push_in_lane(1, Instant(1), "a");
        q.push_in_lane(0, Instant(3), "x"); // out of order for lane 0: goes to the heap
        q.push(Instant(5), "c");
        q.push_in_lane(1, Instant(5), "d");
        q.push_in_lane(0, Instant(9), "e");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["a", "x", "b", "c", "d", "e"]);
    }
}
