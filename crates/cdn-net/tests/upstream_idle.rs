//! Idle connections to the next tier are closed after their timeout: the process's open
//! descriptors go back to what they were before a burst filled the pools. Alone in its
//! test binary: it counts the whole process's descriptors.

use cdn_core::{CdnConfig, OriginConfig, Profile};
use cdn_net::{NetCdn, NetSpec, NetworkAccess, ServeLimits};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How late a busy 2-core machine may run the sweeper.
const LATE: Duration = Duration::from_millis(1500);

fn until_closed(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 16384];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_upstream_connections_are_closed_after_their_timeout() {
    let idle = Duration::from_millis(300);
    let net = NetCdn::start(NetSpec {
        profile: Profile::Cloudflare,
        cdn: CdnConfig::default(),
        origin: OriginConfig::default(),
        network: cdn_core::NetworkConfig::default(),
        seed: 0,
        time_scale: 0.01,
        access: NetworkAccess::Unprivileged,
    })
    .await
    .expect("CDN starts");
    net.set_limits(ServeLimits {
        upstream_idle: Some(idle),
        ..ServeLimits::default()
    });
    let addr = net.l1_addrs()[0];
    let before = open_fds();
    let during = tokio::task::spawn_blocking(move || {
        // Ten requests at once: the edge and the shield each pool several connections.
        let clients: Vec<_> = (0..10)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    let req = format!(
                        "GET /assets/{i}.png HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n"
                    );
                    s.write_all(req.as_bytes()).unwrap();
                    until_closed(&mut s)
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        open_fds()
    })
    .await
    .unwrap();
    assert!(
        during > before,
        "pooled connections hold descriptors: {before} → {during}"
    );
    // The sweeper runs four times per limit: every idle connection is gone 1.25 × the limit
    // after it became idle; allow for a late machine.
    tokio::time::sleep(idle + idle / 4 + LATE).await;
    let after = open_fds();
    assert_eq!(
        after, before,
        "descriptors: {before} before, {during} with the pools, {after} after"
    );
    net.shutdown(Duration::from_secs(1)).await;
}
