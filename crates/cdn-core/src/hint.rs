//! Hints to the CPU: they change how long things take, never what happens.
//!
//! A lookup in a large store costs two dependent cache misses (the index bucket, then the
//! slot it names); on the simulator's standard workload they were a fifth of its time, and
//! reading an event's slot after it had waited in the queue another tenth. A driver that
//! knows what it will read before it reads it (the simulator draws arrivals ahead; an event
//! queue knows which event of a kind comes next) asks for it early, and the miss overlaps
//! with other work.

/// Asks the CPU to bring the cache line holding `value` closer. Nothing observable but time
/// changes; on targets without a stable prefetch instruction it does nothing at all.
///
/// ```
/// let slots = vec![0u64; 1024];
/// cdn_core::hint::prefetch(&slots[700]);
/// assert_eq!(slots[700], 0);
/// ```
#[inline(always)]
#[allow(unsafe_code)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` only hints the cache hierarchy: it never faults, reads no
    // value into the program and writes nothing, whatever the address (here a valid
    // reference anyway). It needs SSE, which every x86_64 CPU has (the target's baseline).
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
