//! nginx `limit_req` (rate=10r/s burst=5 nodelay) enforced by the real server through the
//! core, with the numbers real nginx gives (FAILURES.md §4), and `limit_conn`.
//!
//! Each request is a new connection from a 127.0.1.x source, so the limiter's key is the
//! source address the kernel reports for the connection.

mod common;

use cdn_core::origin::{LimitConnSpec, LimitReqSpec};
use cdn_core::OriginConfig;
use cdn_net::{OriginOptions, OriginServer};
use common::*;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn limited() -> OriginConfig {
    OriginConfig {
        limit_req: Some(LimitReqSpec {
            rate: "10r/s".parse().unwrap(),
            burst: 5,
            nodelay: true,
            delay: None,
            status: 503,
        }),
        // Enough workers and queue that only limit_req turns requests away.
        workers: 64,
        queue: 1024,
        service_time: Duration::from_millis(20),
        ..Default::default()
    }
}

/// `n` requests, request `i` sent at `i * every` from `source(i)`; in order.
async fn paced_timed(
    origin: &OriginServer,
    n: usize,
    every: Duration,
    source: impl Fn(usize) -> Ipv4Addr,
) -> Vec<Timed> {
    let addr = origin.http_addr();
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let src = source(i);
            let at = start + every * i as u32;
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                let sent = start.elapsed();
                let status = status(src, addr).await;
                Timed {
                    status,
                    sent,
                    answered: start.elapsed(),
                }
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// [`paced_timed`]'s statuses.
async fn paced(
    origin: &OriginServer,
    n: usize,
    every: Duration,
    source: impl Fn(usize) -> Ipv4Addr,
) -> Vec<u16> {
    let sent = paced_timed(origin, n, every, source).await;
    sent.iter().map(|s| s.status).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_simultaneous_requests_from_one_ip_give_6_ok_and_14_limited() {
    let origin = OriginServer::start(limited(), ip("127.0.0.40"), certs())
        .await
        .unwrap();
    let statuses = paced(&origin, 20, Duration::ZERO, |_| ip("127.0.1.1")).await;
    assert_eq!(tally(&statuses), (6, 14, 0), "{statuses:?}");
    origin.shutdown().await;
}

/// Real timers: requests leave at `i × 10 ms` as the machine allows (on time nginx's
/// arithmetic admits 35 of 300, the simulator's exact figure), and the server decides each
/// one when it reads it: the count is checked against what the measured times allow
/// ([`limit_req_admits`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_requests_at_100_per_second_from_one_ip_give_35_ok_on_time() {
    let origin = OriginServer::start(limited(), ip("127.0.0.41"), certs())
        .await
        .unwrap();
    let every = Duration::from_millis(10);
    let spec = limited().limit_req.unwrap();
    let on_time: Vec<Timed> = (0..300)
        .map(|i| Timed {
            status: 0,
            sent: every * i,
            answered: every * i,
        })
        .collect();
    // Within the millisecond either side the bounds allow.
    assert_eq!(limit_req_admits(&spec, &on_time), (35, 35));
    let t = Instant::now();
    let sent = paced_timed(&origin, 300, every, |_| ip("127.0.1.2")).await;
    let statuses: Vec<u16> = sent.iter().map(|s| s.status).collect();
    let (ok, limited, other) = tally(&statuses);
    assert_eq!(other, 0, "{statuses:?}");
    assert_eq!(ok + limited, 300);
    let (fewest, most) = limit_req_admits(&spec, &sent);
    eprintln!(
        "300 at 100/s from one IP: {ok} × 200, {limited} × 503 in {:?}; timing allows {fewest}..={most}",
        t.elapsed()
    );
    assert!(
        (fewest..=most).contains(&ok),
        "{ok} × 200, timing allows {fewest}..={most}"
    );
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_load_round_robin_over_ten_ips_is_never_limited() {
    let origin = OriginServer::start(limited(), ip("127.0.0.42"), certs())
        .await
        .unwrap();
    let statuses = paced(&origin, 300, Duration::from_millis(10), |i| {
        Ipv4Addr::new(127, 0, 1, 11 + (i % 10) as u8)
    })
    .await;
    assert_eq!(tally(&statuses), (300, 0, 0));
    origin.shutdown().await;
}

/// nginx `limit_conn addr 2`, a 1 s handler, 6 concurrent requests from one IP → 2 × 200,
/// 4 × 503 (FAILURES.md §4). Virtual time runs 5× faster (time_scale 0.2): the handler takes
/// 200 ms of real time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_conn_2_admits_two_of_six_concurrent_requests() {
    let config = OriginConfig {
        limit_conn: Some(LimitConnSpec {
            max: 2,
            status: 503,
        }),
        service_time: Duration::from_secs(1),
        ..Default::default()
    };
    let origin = OriginServer::start_with(
        config,
        ip("127.0.0.43"),
        certs(),
        OriginOptions {
            time_scale: 0.2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let t = Instant::now();
    let statuses = paced(&origin, 6, Duration::ZERO, |_| ip("127.0.1.3")).await;
    assert_eq!(tally(&statuses), (2, 4, 0), "{statuses:?}");
    assert!(
        t.elapsed() >= Duration::from_millis(195),
        "{:?}",
        t.elapsed()
    );
    origin.shutdown().await;
}

#[tokio::test]
async fn a_rejection_names_its_defence_and_has_the_cores_length() {
    let config = OriginConfig {
        limit_req: Some(LimitReqSpec {
            rate: "1r/m".parse().unwrap(),
            burst: 0,
            nodelay: true,
            delay: None,
            status: 429,
        }),
        ..Default::default()
    };
    let origin = OriginServer::start(config, ip("127.0.0.44"), certs())
        .await
        .unwrap();
    let src = ip("127.0.1.4");
    assert_eq!(status(src, origin.http_addr()).await, 200);
    let got = get(src, origin.http_addr(), "/").await.unwrap();
    assert_eq!(got.status, 429);
    assert_eq!(got.headers[cdn_net::origin::DEFENCE_HEADER], "limit_req");
    assert_eq!(got.body.len(), 197);
    assert!(got.headers.get("cache-control").is_none());
    origin.shutdown().await;
}
