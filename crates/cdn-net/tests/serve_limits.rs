//! A `serve` that holds up against careless and hostile clients: a request head sent too
//! slowly and an idle keep-alive connection are closed after their own timeouts (nginx's
//! `client_header_timeout` and `keepalive_timeout`, scaled down here), a connection over
//! the cap gets a clear `503` (idle connections to the next tier: `tests/upstream_idle.rs`,
//! alone in its process because it counts the process's descriptors).
//!
//! Tolerances: a timeout may fire late (a busy 2-core machine schedules the task late) but
//! never early; "late" is bounded by 1.5 s, far below the next event each test tells apart.

use cdn_core::{CdnConfig, OriginConfig, Profile};
use cdn_net::{NetCdn, NetSpec, NetworkAccess, ServeLimits};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const LATE: Duration = Duration::from_millis(1500);

async fn cdn(limits: ServeLimits) -> NetCdn {
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
    net.set_limits(limits);
    net
}

/// Reads until the peer closes; returns what came and when it closed.
fn until_closed(s: &mut TcpStream) -> (Vec<u8>, Instant) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (all, Instant::now()),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (all, Instant::now())
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Reads one whole response (head and `content-length` body).
fn one_response(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = s.read(&mut buf).expect("a response");
        assert!(n > 0, "closed before a whole response");
        all.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&all).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if all.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

const GET: &[u8] = b"GET /assets/1.png HTTP/1.1\r\nHost: www.example.com\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_head_and_an_idle_connection_each_get_their_own_timeout() {
    let header = Duration::from_millis(400);
    let keepalive = Duration::from_millis(1200);
    let net = cdn(ServeLimits {
        header_timeout: Some(header),
        keepalive_timeout: Some(keepalive),
        ..ServeLimits::default()
    })
    .await;
    let addr = net.l1_addrs()[0];
    let (slow, idle) = tokio::task::spawn_blocking(move || {
        // Slowloris: half a head, then nothing.
        let mut s = TcpStream::connect(addr).unwrap();
        let opened = Instant::now();
        s.write_all(b"GET /assets/1.png HTTP/1.1\r\nHost: www.exa")
            .unwrap();
        let (got, closed) = until_closed(&mut s);
        assert!(got.is_empty(), "no reply to a half head, as nginx");
        let slow = closed - opened;

        // A keep-alive connection: one whole exchange, then idle.
        // The server's keep-alive clock starts when it has sent the reply: after the
        // request left here, before the reply was read here. So the idle time it allowed
        // lies between (close − reply read) and (close − request sent).
        let mut s = TcpStream::connect(addr).unwrap();
        let sent = Instant::now();
        s.write_all(GET).unwrap();
        let first = one_response(&mut s);
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        let read = Instant::now();
        let (got, closed) = until_closed(&mut s);
        assert!(got.is_empty());
        (slow, (closed - read, closed - sent))
    })
    .await
    .unwrap();
    let (idle_at_least, idle_at_most) = idle;
    assert!(
        slow >= header && slow < header + LATE,
        "half head closed after {slow:?}"
    );
    // The idle connection outlives the header timeout: it has the keep-alive one.
    assert!(
        idle_at_most >= keepalive && idle_at_least < keepalive + LATE,
        "idle connection closed {idle_at_least:?}..{idle_at_most:?} after its reply"
    );
    net.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_over_the_cap_gets_a_clear_503_and_the_cap_frees_up() {
    let net = cdn(ServeLimits {
        max_connections: 3,
        ..ServeLimits::default()
    })
    .await;
    let addr = net.l1_addrs()[0];
    let counted = tokio::task::spawn_blocking(move || {
        let held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        // The accept loop counts them as they are accepted.
        std::thread::sleep(Duration::from_millis(200));
        let mut over = TcpStream::connect(addr).unwrap();
        over.write_all(GET).unwrap();
        let (reply, _) = until_closed(&mut over);
        let reply = String::from_utf8_lossy(&reply).to_string();
        assert!(
            reply.starts_with("HTTP/1.1 503 Service Unavailable"),
            "{reply}"
        );
        assert!(reply.contains("too many connections"), "{reply}");
        assert!(reply.to_ascii_lowercase().contains("connection: close"));
        drop(held);
        std::thread::sleep(Duration::from_millis(200));
        let mut again = TcpStream::connect(addr).unwrap();
        again.write_all(GET).unwrap();
        let ok = one_response(&mut again);
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    });
    counted.await.unwrap();
    net.shutdown(Duration::from_secs(1)).await;
}
