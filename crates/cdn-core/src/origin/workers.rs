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
    /// When each worker becomes free.
    free_at: BinaryHeap<Reverse<Instant>>,
    /// Start times of admitted requests that have not started yet.
    waiting: BinaryHeap<Reverse<Instant>>,
    queue_capacity: usize,
}

impl WorkerPool {
    /// `workers` workers (at least one) and room for `queue` waiting requests.
    pub fn new(workers: u32, queue: u32) -> WorkerPool {
        WorkerPool {
            free_at: (0..workers.max(1))
                .map(|_| Reverse(Instant::ZERO))
                .collect(),
            waiting: BinaryHeap::new(),
            queue_capacity: queue as usize,
        }
    }

    /// When a request that is ready at `ready` (≥ `now`) would start, without admitting it;
    /// `None` if it would have to wait and the queue is full.
    pub fn start_time(&mut self, now: Instant, ready: Instant) -> Option<Instant> {
        while self.waiting.peek().is_some_and(|Reverse(t)| *t <= now) {
            self.waiting.pop();
        }
        let Reverse(earliest) = *self.free_at.peek().expect("at least one worker");
        let start = earliest.max(ready);
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
        self.free_at.pop();
        let done = start + service;
        self.free_at.push(Reverse(done));
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
