//! The origin's workers and wait queue: FIFO, `workers` requests served at once, `queue`
//! more waiting, anything beyond refused (503).
//!
//! Service times are known when a request is admitted, so each admission computes its start
//! and finish exactly without scheduling anything: the earliest-free worker takes it.

use crate::time::Instant;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// Workers plus a bounded FIFO queue.
///
/// Memory is proportional to the requests in service or waiting, never to `workers` or
/// `queue`: only busy workers are stored (`workers = 4294967295` costs nothing until that
/// many requests are in flight, which the engine's in-flight limit prevents).
///
/// ```
/// use cdn_core::origin::WorkerPool;
/// use cdn_core::Instant;
/// use std::time::Duration;
/// let mut pool = WorkerPool::new(1, 1);
/// let s = Duration::from_millis(100);
/// assert_eq!(pool.admit(Instant::ZERO, Instant::ZERO, s), Some(Instant::ZERO + s));
/// assert_eq!(pool.admit(Instant::ZERO, Instant::ZERO, s), Some(Instant::ZERO + s * 2)); // queued
/// assert_eq!(pool.admit(Instant::ZERO, Instant::ZERO, s), None); // queue full
/// ```
#[derive(Clone, Debug)]
pub struct WorkerPool {
    /// When each busy worker becomes free (a worker free by `now` is idle and not stored).
    busy: BinaryHeap<Reverse<Instant>>,
    /// How many workers there are.
    workers: usize,
    /// Start times of admitted requests that have not started yet.
    waiting: BinaryHeap<Reverse<Instant>>,
    queue_capacity: usize,
}

impl WorkerPool {
    /// `workers` workers (at least one) and room for `queue` waiting requests.
    pub fn new(workers: u32, queue: u32) -> WorkerPool {
        WorkerPool {
            busy: BinaryHeap::new(),
            workers: workers.max(1) as usize,
            waiting: BinaryHeap::new(),
            queue_capacity: queue as usize,
        }
    }

    /// Forgets workers and waiting requests whose time has come: calls come with a `now`
    /// that never goes back, and a request is never ready before `now`, so a worker free at
    /// or before `now` is as good as one that was never used.
    fn settle(&mut self, now: Instant) {
        while self.waiting.peek().is_some_and(|Reverse(t)| *t <= now) {
            self.waiting.pop();
        }
        while self.busy.peek().is_some_and(|Reverse(t)| *t <= now) {
            self.busy.pop();
        }
    }

    /// When the earliest worker is free: at `now` if one is idle.
    fn earliest_free(&self, now: Instant) -> Instant {
        match self.busy.peek() {
            Some(Reverse(t)) if self.busy.len() >= self.workers => *t,
            _ => now,
        }
    }

    /// When a request that is ready at `ready` (≥ `now`) would start, without admitting it;
    /// `None` if it would have to wait and the queue is full.
    pub fn start_time(&mut self, now: Instant, ready: Instant) -> Option<Instant> {
        self.settle(now);
        let start = self.earliest_free(now).max(ready);
        if start > now && self.waiting.len() >= self.queue_capacity {
            return None;
        }
        Some(start)
    }

    /// Admits a request ready at `ready` that takes `service`; returns when it finishes, or
    /// `None` when the queue is full.
    pub fn admit(&mut self, now: Instant, ready: Instant, service: Duration) -> Option<Instant> {
        let start = self.start_time(now, ready)?;
        self.commit(now, start, service)
    }

    /// Commits an admission whose start came from [`start_time`](Self::start_time).
    pub fn commit(&mut self, now: Instant, start: Instant, service: Duration) -> Option<Instant> {
        self.settle(now);
        // The worker that frees first takes it: a busy one only when none is idle.
        if self.busy.len() >= self.workers {
            self.busy.pop();
        }
        let done = start + service;
        self.busy.push(Reverse(done));
        if start > now {
            self.waiting.push(Reverse(start));
        }
        Some(done)
    }

    /// Requests admitted but not yet started at the last call.
    pub fn queued(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(n)
    }

    #[test]
    fn a_huge_pool_stores_only_busy_workers() {
        let mut pool = WorkerPool::new(u32::MAX, u32::MAX);
        let s = Duration::from_millis(10);
        for i in 0..1000 {
            assert_eq!(pool.admit(ms(0), ms(i), s), Some(ms(i + 10)));
        }
        assert_eq!(pool.busy.len(), 1000);
        // Once they are done, nothing is kept.
        assert_eq!(pool.admit(ms(2000), ms(2000), s), Some(ms(2010)));
        assert_eq!(pool.busy.len(), 1);
    }

    #[test]
    fn requests_wait_for_the_earliest_free_worker() {
        let mut pool = WorkerPool::new(2, 10);
        let s = Duration::from_millis(100);
        assert_eq!(pool.admit(ms(0), ms(0), s), Some(ms(100)));
        assert_eq!(pool.admit(ms(0), ms(50), s), Some(ms(150)));
        // Both busy: the third starts when the first frees, at 100.
        assert_eq!(pool.admit(ms(60), ms(60), s), Some(ms(200)));
        assert_eq!(pool.queued(), 1);
        // At 120 the queued one has started; the next waits for the worker free at 150.
        assert_eq!(pool.admit(ms(120), ms(120), s), Some(ms(250)));
    }
}
