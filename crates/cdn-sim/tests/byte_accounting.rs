//! Per-tier object and byte hit ratios and origin offload, on runs whose counts can be
//! derived by hand.

use cdn_core::Tier;
use cdn_sim::engine::{simulate, SimOptions};
use cdn_sim::scenario::Scenario;

fn run(src: &str) -> cdn_sim::report::Report {
    let s = Scenario::from_toml(src, "test.toml").expect("valid scenario");
    simulate(&s, SimOptions::default()).unwrap().report
}

#[test]
fn one_url_ten_times_is_one_origin_fetch() {
    // 10 requests for one URL, 100 ms apart (no collapsing: the first answer is back after
    // ~70 ms of RTTs and 20 ms service time). Request 1 misses at L1 and L2 and is fetched
    // from the origin; requests 2..10 are L1 hits of the 1000-byte object.
    let r = run(r#"
name = "one-url"
[origin]
object_size = "1000B"
[[workload]]
urls = "one"
rate = "10/s"
count = 10
"#);
    let l1 = &r.cache[&Tier::L1];
    assert_eq!((l1.hit, l1.miss), (9, 1));
    assert_eq!((l1.byte_hit, l1.byte_miss), (Some(9000), Some(1000)));
    assert_eq!(l1.hit_ratio, Some(0.9));
    assert_eq!(l1.byte_hit_ratio, Some(0.9));
    let l2 = &r.cache[&Tier::L2];
    assert_eq!(
        (l2.hit, l2.miss, l2.byte_hit, l2.byte_miss),
        (0, 1, Some(0), Some(1000))
    );
    let bytes = r.bytes.as_ref().expect("sim mode counts bytes");
    assert_eq!((bytes.served, bytes.from_origin), (10_000, 1000));
    assert_eq!(r.origin_offload.requests, Some(0.9));
    assert_eq!(r.origin_offload.bytes, Some(0.9));
}

#[test]
fn l2_hits_count_at_l2_and_bytes_follow_the_object_size() {
    // Two L1s, one L2; client i goes to an L1 by address hash. 2 clients ask for one URL in
    // turn, 4 requests 500 ms apart, objects of 4 KiB: the first miss is fetched from the
    // origin; if the other client uses the other L1, its miss is an L2 hit.
    let r = run(r#"
name = "two-edges"
[[cdn.l1]]
name = "a"
[[cdn.l1]]
name = "b"
[[cdn.l2]]
name = "p"
[origin]
object_size = "4KiB"
[[workload]]
urls = "one"
rate = "2/s"
count = 4
clients = 2
"#);
    let (l1, l2) = (&r.cache[&Tier::L1], &r.cache[&Tier::L2]);
    // Each L1 that a client maps to misses once.
    let edge = |i| cdn_core::topology::l1_for_client(cdn_sim::workload::client_addr(i), 2);
    let l1_misses = if edge(0) == edge(1) { 1 } else { 2 };
    assert_eq!(l1.miss, l1_misses);
    assert_eq!(l1.byte_miss, Some(4096 * l1_misses));
    assert_eq!(l1.byte_hit, Some(4096 * (4 - l1_misses)));
    assert_eq!((l2.hit, l2.miss), (l1_misses - 1, 1));
    assert_eq!(l2.byte_hit, Some(4096 * (l1_misses - 1)));
    assert_eq!(r.bytes.as_ref().unwrap().from_origin, 4096);
    assert_eq!(r.origin_offload.bytes, Some(0.75));
}

#[test]
fn errors_without_body_leave_byte_ratios_undefined() {
    // The origin is down: every request gets a generated 521 with no body.
    let r = run(r#"
name = "down"
[origin]
state = "down"
[[workload]]
count = 3
"#);
    assert_eq!(r.cache[&Tier::L1].hit_ratio, Some(0.0));
    assert_eq!(r.cache[&Tier::L1].byte_hit_ratio, None);
    assert_eq!(r.bytes.as_ref().unwrap().served, 0);
    assert_eq!(r.origin_offload.requests, Some(1.0));
    assert_eq!(r.origin_offload.bytes, None);
    let json = r.to_json();
    assert!(json.contains("\"byte_hit_ratio\": null"), "{json}");
}
