//! Faults that need the kernel's packet filter or routing table: a firewall REJECT for some
//! sources only (nftables `reject with tcp reset`), nftables DROP in front of a closed port,
//! a black hole (nothing after the handshake acknowledged), and an unreachable origin (an
//! `unreachable` route). Each test runs in a thread that enters a network namespace of its own
//! (`netns::enter_private`), so the host's firewall and routes are never touched. Without root
//! (or nft, or ip) a test prints `SKIPPED: ...` past the output capture and returns.

mod common;

use cdn_core::origin::{FirewallAction, FirewallRule};
use cdn_core::{OriginConfig, OriginState};
use cdn_net::ack_watch::AckWatch;
use cdn_net::{netns, NetworkAccess, OriginOptions, OriginServer};
use common::*;
use std::io::ErrorKind;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `body` on a runtime in a thread inside a new network namespace; `false` when it had
/// to be skipped.
fn in_own_namespace<F>(name: &str, body: impl FnOnce() -> F + Send + 'static) -> bool
where
    F: std::future::Future<Output = ()>,
{
    if !netns::is_root() {
        skipped(&format!(
            "needs root ({name}: creates a network namespace and nftables rules)"
        ));
        return false;
    }
    for tool in ["nft", "ip"] {
        if netns::tool(tool).is_none() {
            skipped(&format!(
                "needs `{tool}` ({name}; run crates/cdn-net/tests/setup.sh)"
            ));
            return false;
        }
    }
    let outcome = std::thread::spawn(move || {
        netns::enter_private().expect("a private network namespace");
        assert!(netns::in_private_namespace());
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(body());
    })
    .join();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    true
}

async fn start_private(config: OriginConfig, at: &str) -> OriginServer {
    let options = OriginOptions {
        access: NetworkAccess::PrivateNamespace,
        ..Default::default()
    };
    OriginServer::start_with(config, ip(at), certs(), options)
        .await
        .unwrap()
}

fn rule(source: &str, action: FirewallAction) -> FirewallRule {
    FirewallRule {
        source: source.parse().unwrap(),
        action,
    }
}

fn nft_ruleset() -> String {
    let out = Command::new(netns::tool("nft").unwrap())
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn connect_outcome(src: &str, addr: std::net::SocketAddr) -> Result<(), ErrorKind> {
    match tokio::time::timeout(Duration::from_millis(300), connect_from(ip(src), addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.kind()),
        Err(_) => Err(ErrorKind::TimedOut),
    }
}

#[test]
fn firewall_reject_and_drop_per_source_are_kernel_real() {
    in_own_namespace("firewall_reject_and_drop", || async {
        // A whitelist taken from a stale snapshot: .1 allowed, .2 dropped, the rest rejected.
        let config = OriginConfig {
            firewall: vec![
                rule("127.0.1.1", FirewallAction::Allow),
                rule("127.0.1.2", FirewallAction::Drop),
                rule("any", FirewallAction::Reject),
            ],
            ..Default::default()
        };
        let mut origin = start_private(config, "127.0.0.50").await;
        assert!(nft_ruleset().contains("reject with tcp reset"));
        for addr in [origin.http_addr(), origin.https_addr()] {
            assert_eq!(connect_outcome("127.0.1.1", addr).await, Ok(()));
            assert_eq!(
                connect_outcome("127.0.1.2", addr).await,
                Err(ErrorKind::TimedOut)
            );
            let t = Instant::now();
            assert_eq!(
                connect_outcome("127.0.1.3", addr).await,
                Err(ErrorKind::ConnectionRefused)
            );
            assert!(t.elapsed() < Duration::from_millis(100), "RST at once");
        }
        assert_eq!(status(ip("127.0.1.1"), origin.http_addr()).await, 200);

        // A DROP in front of a closed port: dropped, not refused (firewall first).
        origin
            .reconfigure(OriginConfig {
                state: OriginState::Down,
                firewall: vec![rule("127.0.1.2", FirewallAction::Drop)],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            connect_outcome("127.0.1.2", origin.http_addr()).await,
            Err(ErrorKind::TimedOut)
        );
        assert_eq!(
            connect_outcome("127.0.1.3", origin.http_addr()).await,
            Err(ErrorKind::ConnectionRefused)
        );

        // Firewall lifted: everyone gets content.
        origin.reconfigure(OriginConfig::default()).await.unwrap();
        assert_eq!(status(ip("127.0.1.3"), origin.http_addr()).await, 200);
        origin.shutdown().await;
        assert!(
            !nft_ruleset().contains("cdn_net_"),
            "shutdown removes the table"
        );
    });
}

#[test]
fn unreachable_is_a_real_no_route_to_host() {
    in_own_namespace("unreachable", || async {
        let mut origin = start_private(OriginConfig::default(), "127.0.0.51").await;
        assert_eq!(status(ip("127.0.1.1"), origin.http_addr()).await, 200);
        origin
            .reconfigure(OriginConfig {
                state: OriginState::Unreachable,
                ..Default::default()
            })
            .await
            .unwrap();
        let t = Instant::now();
        let e = connect_from(ip("127.0.1.1"), origin.https_addr())
            .await
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(113), "EHOSTUNREACH, got {e}");
        assert_eq!(e.kind(), ErrorKind::HostUnreachable);
        assert!(t.elapsed() < Duration::from_millis(100));
        origin.reconfigure(OriginConfig::default()).await.unwrap();
        assert_eq!(status(ip("127.0.1.1"), origin.http_addr()).await, 200);
        origin.shutdown().await;
    });
}

#[test]
fn a_black_hole_completes_the_handshake_and_acknowledges_nothing_after_it() {
    in_own_namespace("blackhole", || async {
        let config = OriginConfig {
            state: OriginState::Blackhole,
            ..Default::default()
        };
        let mut origin = start_private(config, "127.0.0.52").await;
        assert!(nft_ruleset().contains("ct state established drop"));
        // The handshake completes...
        let stream = connect_from(ip("127.0.1.1"), origin.http_addr())
            .await
            .expect("SYN and SYN-ACK pass");
        // ...and what is sent is never acknowledged: the ACK timeout (here 300 ms at real
        // time) fails the stream with TimedOut, as a CDN with an ACK timeout gives up.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let clock = cdn_net::clock::VirtualClock::start(1.0).unwrap();
        let timers = cdn_net::timing::Timers::new(clock, Default::default());
        let timeout = Duration::from_millis(300);
        let mut stream = AckWatch::new(stream, Some((timers, timeout)));
        let t = Instant::now();
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: www.example.com\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
        let err = read
            .expect("the ACK timeout fires before 10 s")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(t.elapsed() >= timeout);
        drop(stream);
        // The hole clears: had the socket merely been closed, the kernel would go on
        // retransmitting the request (after 0.2, 0.6, 1.4, 3.0 s: RTO from 200 ms, doubling)
        // and deliver it now. It was reset instead, so nothing arrives.
        origin
            .reconfigure(OriginConfig {
                state: OriginState::Hung,
                ..Default::default()
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(3200).saturating_sub(t.elapsed())).await;
        assert_eq!(
            origin.requests_received(),
            0,
            "the request never reached it"
        );
        origin.shutdown().await;
    });
}
