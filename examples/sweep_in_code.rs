//! Lesson: build a scenario in code and sweep one parameter — how many back-to-origin
//! addresses does the CDN need before a per-IP rate limit stops turning visitors away?
//!
//! ```text
//! cargo run --example sweep_in_code
//! ```
//! The origin runs nginx `limit_req` at 10 r/s per client address (burst 5, nodelay); the
//! CDN fetches 100 new URLs per second over fresh connections (keepalive off), rotating its
//! L2's egress addresses. The origin sees 100/N requests per second from each of N
//! addresses, so you will see the 503s fall as N grows and reach 0 at N = 10:
//!
//! ```text
//!  egress IPs   requests   503   origin sees per IP
//!           1        300   265        100/s
//!           2        300   230         50/s
//!           5        300   125         20/s
//!          10        300     0         10/s
//! ```
//! `cdn-sim sweep` does the same from the command line (`--set`); in code the swept value can
//! be anything you can compute.

use cdn_core::origin::LimitReqSpec;
use cdn_core::{CdnConfig, NodeConfig, OriginConfig, Profile};
use cdn_sim::scenario::Workload;
use cdn_sim::{simulate, Scenario, SimOptions};
use std::time::Duration;

/// The scenario with an L2 egress pool of `ips` addresses (127.0.1.1 onwards).
fn scenario(ips: u8) -> Scenario {
    let shield = NodeConfig {
        egress: vec![format!("127.0.1.1-127.0.1.{ips}").parse().expect("a range")],
        ..NodeConfig::named("shield-1")
    };
    let origin = OriginConfig {
        limit_req: Some(LimitReqSpec {
            rate: "10r/s".parse().expect("an nginx rate"),
            burst: 5,
            nodelay: true,
            delay: None,
            status: 503,
        }),
        ..OriginConfig::default()
    };
    Scenario::builder(format!("limit-req-{ips}-ips"))
        .profile(Profile::Cloudflare)
        .duration(Duration::from_secs(3))
        .cdn(CdnConfig {
            keepalive: false,
            ..CdnConfig::for_profile(Profile::Cloudflare)
        })
        .l2(shield)
        .origin(origin)
        .workload(Workload {
            rate: "100/s".parse().expect("a rate"),
            ..Workload::default()
        })
        .build()
        .expect("a valid scenario")
}

fn main() {
    println!(" egress IPs   requests   503   origin sees per IP");
    let mut rejected = Vec::new();
    for ips in [1, 2, 5, 10] {
        let report = simulate(&scenario(ips), SimOptions::default())
            .expect("runs")
            .report;
        let per_ip = 100 / u32::from(ips);
        println!(
            "{ips:>11} {:>10} {:>5} {per_ip:>10}/s",
            report.requests,
            report.count(503)
        );
        rejected.push(report.count(503));
    }
    // More addresses, fewer rejections; none once each address stays within its limit.
    assert!(rejected.windows(2).all(|w| w[0] >= w[1]), "{rejected:?}");
    assert_eq!(rejected.last(), Some(&0));
}

// `cargo test` runs the lesson, so it cannot rot.
#[test]
fn lesson_runs() {
    main();
}
