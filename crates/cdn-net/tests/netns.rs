//! Faults that need the kernel's packet filter or routing table: a firewall REJECT for some
//! sources only (nftables `reject with tcp reset`), nftables DROP in front of a closed port,
//! and an unreachable origin (an `unreachable` route). Each outer test re-runs this binary's
//! matching `inner_*` test under `unshare --net`, in a network namespace of its own, so the
//! host's firewall and routes are never touched. Without root (or nft, or namespaces) the
//! outer test prints `SKIPPED: ...` past the output capture and returns.

mod common;

use cdn_core::origin::{FirewallAction, FirewallRule};
use cdn_core::{OriginConfig, OriginState};
use cdn_net::{netns, NetworkAccess, OriginOptions, OriginServer};
use common::*;
use std::io::ErrorKind;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const INSIDE: &str = "CDN_NET_TEST_INSIDE_NETNS";
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the ignored test `name` of this binary inside a new network namespace; `false` when
/// it had to be skipped.
fn in_new_namespace(name: &str) -> bool {
    if !netns::is_root() {
        skipped(&format!(
            "needs root ({name}: creates a network namespace and nftables rules)"
        ));
        return false;
    }
    for tool in ["unshare", "nft", "ip"] {
        if netns::tool(tool).is_none() {
            skipped(&format!(
                "needs `{tool}` ({name}; run crates/cdn-net/tests/setup.sh)"
            ));
            return false;
        }
    }
    let unshare = netns::tool("unshare").unwrap();
    let probe = Command::new(&unshare)
        .args(["--net", "--", "true"])
        .output()
        .unwrap();
    if !probe.status.success() {
        skipped(&format!(
            "cannot create a network namespace ({name}): {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
        return false;
    }
    let mut child = Command::new(&unshare)
        .arg("--net")
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INSIDE, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- {name} inside its namespace ---\n{stdout}\n{stderr}");
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} failed inside its namespace:\n{stdout}\n{stderr}"
    );
    assert!(
        !stderr.contains("SKIPPED"),
        "{name} skipped inside its namespace"
    );
    true
}

/// Inside the namespace: brings `lo` up and runs `body` on a runtime; `false` elsewhere.
fn inside(body: impl std::future::Future<Output = ()>) -> bool {
    if std::env::var_os(INSIDE).is_none() || !netns::in_private_namespace() {
        skipped("runs only inside the namespace its outer test creates");
        return false;
    }
    netns::loopback_up().unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(body);
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
    in_new_namespace("inner_firewall_reject_and_drop");
}

#[test]
#[ignore = "run inside its own network namespace by firewall_reject_and_drop_per_source_are_kernel_real"]
fn inner_firewall_reject_and_drop() {
    inside(async {
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
    in_new_namespace("inner_unreachable");
}

#[test]
#[ignore = "run inside its own network namespace by unreachable_is_a_real_no_route_to_host"]
fn inner_unreachable() {
    inside(async {
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
