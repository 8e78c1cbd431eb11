//! Workload generators hold what is in flight, never what is configured: memory does not
//! grow with `count`, `rate` or a trace's length (issue 8), and a trace's records are read
//! without an allocation per record.
//!
//! A counting global allocator tracks, per thread, the bytes live and the number of
//! allocations, so each test measures exactly what its own thread allocated while it drew
//! arrivals; nothing timed, nothing shared between tests.

use cdn_sim::replay::oracle::encode;
use cdn_sim::replay::{TraceFormat, TraceSpec};
use cdn_sim::scenario::{Arrival as ArrivalKind, Popularity, Urls, Workload, MAX_BURST};
use cdn_sim::workload::WorkloadGen;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::time::Duration;

struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note(delta: i64, allocation: bool) {
    // `try_with`: the thread-local may be gone while a thread exits.
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
    if allocation {
        let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as i64, true);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as i64), false);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as i64 - layout.size() as i64, true);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What this thread allocated while `f` ran: (peak live bytes above the start, allocations).
fn measure(f: impl FnOnce()) -> (i64, u64) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let allocations = ALLOCATIONS.with(Cell::get);
    f();
    (
        PEAK.with(Cell::get) - start,
        ALLOCATIONS.with(Cell::get) - allocations,
    )
}

/// Draws every arrival; returns how many there were.
fn drain(g: &mut WorkloadGen) -> u64 {
    let mut n = 0;
    while g.next_arrival().is_some() {
        n += 1;
    }
    n
}

#[test]
fn the_largest_burst_allocates_nothing_per_request() {
    // Issue 8's reproducer was a burst of 10M; the largest burst allowed now is MAX_BURST.
    // Whatever the count, drawing the arrivals allocates nothing: the generator holds one
    // arrival at a time.
    for count in [1_000, MAX_BURST] {
        let w = Workload {
            arrival: ArrivalKind::Burst,
            count: Some(count),
            ..Workload::default()
        };
        let mut g = WorkloadGen::new(&w, 0, Duration::from_secs(10), 0);
        let (peak, allocations) = measure(|| assert_eq!(drain(&mut g), count));
        assert_eq!((peak, allocations), (0, 0), "burst of {count}");
    }
}

#[test]
fn a_high_rate_allocates_nothing_per_request() {
    // 10M/s (the highest rate allowed) for 0.2 s of zipf keys over 1M keys: 2M arrivals,
    // none allocated.
    let w = Workload {
        rate: cdn_core::units::Rate::per_second_f64(cdn_sim::scenario::MAX_RATE_PER_S),
        urls: Urls::Keys(1_000_000),
        popularity: Popularity::Zipf(1.0),
        ..Workload::default()
    };
    let mut g = WorkloadGen::new(&w, 0, Duration::from_millis(200), 0);
    let (peak, allocations) = measure(|| assert_eq!(drain(&mut g), 2_000_000));
    assert_eq!((peak, allocations), (0, 0));
}

/// An oracleGeneral trace of `n` records (100 per second), compressed with zstd.
fn oracle_trace(dir: &std::path::Path, n: u32) -> std::path::PathBuf {
    let mut raw = Vec::with_capacity(n as usize * 24);
    for i in 0..n {
        raw.extend_from_slice(&encode(i / 100, u64::from(i % 1000), 4096, -1));
    }
    // Names of one length, so the paths the readers keep are the same size.
    let p = dir.join(format!("t{n:07}.oracleGeneral.zst"));
    let mut f = zstd::Encoder::new(std::fs::File::create(&p).unwrap(), 3).unwrap();
    f.write_all(&raw).unwrap();
    f.finish().unwrap();
    p
}

#[test]
fn replaying_a_trace_holds_the_same_memory_whatever_its_length() {
    let dir = std::env::temp_dir().join(format!("cdn-sim-mem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut peaks = Vec::new();
    for n in [10_000u32, 400_000] {
        let f = oracle_trace(&dir, n);
        let w = Workload {
            trace: Some(TraceSpec::new(&f, TraceFormat::OracleGeneral)),
            ..Workload::default()
        };
        // Opening allocates the readers' buffers (two readers: one counts ahead).
        let (open_peak, _) =
            measure(|| drop(WorkloadGen::new(&w, 0, Duration::from_secs(100_000), 0)));
        let mut g = WorkloadGen::new(&w, 0, Duration::from_secs(100_000), 0);
        let (peak, allocations) = measure(|| assert_eq!(drain(&mut g), u64::from(n)));
        assert_eq!(g.error(), None);
        assert_eq!(allocations, 0, "{n} records: no allocation per record");
        assert_eq!(peak, 0, "{n} records");
        peaks.push(open_peak);
    }
    // The buffers do not depend on the trace's length.
    assert_eq!(peaks[0], peaks[1]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_text_trace_allocates_nothing_per_record_after_the_first() {
    let dir = std::env::temp_dir().join(format!("cdn-sim-mem-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("time,key,size,client\n");
    for i in 0..200_000u32 {
        text.push_str(&format!(
            "{},{},{},{}\n",
            i / 50,
            i % 777,
            100 + i % 5000,
            i % 13
        ));
    }
    let f = dir.join("t.csv");
    std::fs::write(&f, text).unwrap();
    let w = Workload {
        trace: Some(TraceSpec::new(&f, TraceFormat::Native)),
        ..Workload::default()
    };
    let mut g = WorkloadGen::new(&w, 0, Duration::from_secs(100_000), 0);
    // The csv crate sizes its record buffer on the first records.
    for _ in 0..10 {
        g.next_arrival().unwrap();
    }
    let (peak, allocations) = measure(|| assert_eq!(drain(&mut g), 199_990));
    assert_eq!((peak, allocations), (0, 0));
    std::fs::remove_dir_all(&dir).unwrap();
}
