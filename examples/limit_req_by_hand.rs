//! nginx `limit_req` from `cdn-core`, with no simulator around it.
//!
//! ```text
//! cargo run --example limit_req_by_hand
//! ```
//! Feeds the exact algorithm (rate=10r/s burst=5 nodelay) a schedule of 100 requests per
//! second for 3 s, first from one address — the CDN's single egress IP — then spread over ten.
//! You will see 35 accepted / 265 rejected, then 300 / 0: the counts real nginx gives, and
//! why a per-IP limit at an origin behind a CDN limits the CDN, not the visitors.

use cdn_core::origin::{Delay, LimitReq, LimitReqConfig, LimitReqVerdict};
use cdn_core::Instant;
use std::net::Ipv4Addr;

fn main() {
    for ips in [1u8, 10] {
        let mut limit = LimitReq::new(LimitReqConfig {
            rate: "10r/s".parse().expect("valid rate"),
            burst: 5,
            delay: Delay::NoDelay,
            reject_status: 503,
        });
        let (mut ok, mut rejected) = (0, 0);
        for i in 0..300u64 {
            let now = Instant(i * 10_000_000); // every 10 ms
            let ip = Ipv4Addr::new(127, 0, 1, 1 + (i % u64::from(ips)) as u8);
            match limit.check(now, ip) {
                LimitReqVerdict::Accept { .. } => ok += 1,
                LimitReqVerdict::Reject => rejected += 1,
            }
        }
        println!("{ips:>2} egress IP(s): {ok:>3} × 200, {rejected:>3} × 503");
    }
}
