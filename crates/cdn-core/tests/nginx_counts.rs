//! Counts observed with real nginx, reproduced by the models.
//!
//! nginx configuration under test:
//!
//! ```nginx
//! limit_req_zone  $binary_remote_addr zone=req:1m  rate=10r/s;
//! limit_conn_zone $binary_remote_addr zone=conn:1m;
//! limit_req  zone=req burst=5 nodelay;   # or without nodelay
//! limit_conn conn 2;
//! ```

use std::net::Ipv4Addr;

use cdn_core::origin::limit_conn::{LimitConn, LimitConnConfig};
use cdn_core::origin::limit_req::{Delay, LimitReq, LimitReqConfig, LimitReqVerdict, NginxRate};
use cdn_core::Instant;

const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

fn ms(n: u64) -> Instant {
    Instant(n * 1_000_000)
}

fn ten_per_second_burst_5(delay: Delay) -> LimitReq {
    LimitReq::new(LimitReqConfig {
        burst: 5,
        delay,
        ..LimitReqConfig::new("10r/s".parse().unwrap())
    })
}

/// (accepted, rejected)
fn tally(verdicts: impl IntoIterator<Item = LimitReqVerdict>) -> (usize, usize) {
    let (mut accepted, mut rejected) = (0, 0);
    for v in verdicts {
        match v {
            LimitReqVerdict::Accept { delay_ms } => {
                assert_eq!(delay_ms, 0, "nodelay never delays");
                accepted += 1;
            }
            LimitReqVerdict::Reject => rejected += 1,
        }
    }
    (accepted, rejected)
}

#[test]
fn twenty_simultaneous_requests() {
    let mut lr = ten_per_second_burst_5(Delay::NoDelay);
    let counts = tally((0..20).map(|_| lr.check(ms(0), CLIENT)));
    assert_eq!(counts, (6, 14));
}

/// 100 req/s for 3 s from one client.
///
/// R = 10 000, so 10 ms drain 100 and each accepted request adds 1000: t=0 is
/// new (e=0), t=10..50 take e to 900, 1800, 2700, 3600, 4500 (6 accepted) and
/// t=60 would make 5400 > 5000. Rejections don't move `last`, so the next
/// accept needs `4500 - 10*ms + 1000 <= 5000`, i.e. t=100 (e=5000), and from
/// then on exactly every 100 ms: t=100, 200, ..., 2900 is 29 more. 6 + 29 = 35.
#[test]
fn hundred_per_second_for_three_seconds() {
    let mut lr = ten_per_second_burst_5(Delay::NoDelay);
    let verdicts: Vec<_> = (0..300).map(|i| lr.check(ms(i * 10), CLIENT)).collect();
    let accepted_at: Vec<u64> = (0..300u64)
        .filter(|&i| verdicts[i as usize].is_accept())
        .map(|i| i * 10)
        .collect();
    let expected: Vec<u64> = (0..=50)
        .step_by(10)
        .chain((100..3000).step_by(100))
        .collect();
    assert_eq!(accepted_at, expected);
    assert_eq!(tally(verdicts), (35, 265));
}

#[test]
fn hundred_per_second_round_robin_over_ten_clients() {
    let mut lr = ten_per_second_burst_5(Delay::NoDelay);
    let counts = tally((0..300u64).map(|i| {
        let client = Ipv4Addr::new(127, 0, 1, 1 + (i % 10) as u8);
        lr.check(ms(i * 10), client)
    }));
    assert_eq!(counts, (300, 0));
    assert_eq!(lr.tracked_keys(), 10);
}

#[test]
fn limit_conn_two_of_six_concurrent() {
    let mut lc = LimitConn::new(LimitConnConfig::new(2));
    let admitted = (0..6)
        .filter(|_| lc.try_admit(ms(0), CLIENT, ms(1000)))
        .count();
    assert_eq!(admitted, 2);
    assert_eq!(lc.in_flight(ms(999), CLIENT), 2);
    // After they finish, two more get in (and a third does not).
    let admitted = (0..3)
        .filter(|_| lc.try_admit(ms(1000), CLIENT, ms(2000)))
        .count();
    assert_eq!(admitted, 2);
}

#[test]
fn without_nodelay_six_simultaneous_are_delayed() {
    let mut lr = ten_per_second_burst_5(Delay::default());
    let verdicts: Vec<_> = (0..6).map(|_| lr.check(ms(0), CLIENT)).collect();
    let expected =
        [0, 100, 200, 300, 400, 500].map(|delay_ms| LimitReqVerdict::Accept { delay_ms });
    assert_eq!(verdicts, expected);
    assert_eq!(lr.check(ms(0), CLIENT), LimitReqVerdict::Reject);
    assert_eq!(lr.config().rate, NginxRate::per_second(10).unwrap());
}
