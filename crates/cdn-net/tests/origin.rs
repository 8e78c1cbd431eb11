//! Each origin fault, observed by a plain client at the kernel level: what `connect()`,
//! `read()` and an HTTP parser really return. Sources bind 127.0.1.x (no root needed).

mod common;

use cdn_core::origin::{FirewallAction, FirewallRule};
use cdn_core::{HttpsListener, OriginConfig, OriginState};
use cdn_net::{NetError, OriginOptions, OriginServer};
use common::*;
use std::io::ErrorKind;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n";

async fn start(config: OriginConfig, at: &str) -> OriginServer {
    OriginServer::start(config, ip(at), certs()).await.unwrap()
}

fn state(state: OriginState) -> OriginConfig {
    OriginConfig {
        state,
        service_time: Duration::from_millis(1),
        ..Default::default()
    }
}

/// Sends a request on a fresh connection and reads until EOF, error or `wait`.
async fn send_and_read(
    addr: std::net::SocketAddr,
    wait: Duration,
) -> (Result<usize, std::io::Error>, Vec<u8>, bool) {
    let mut s = connect_from(ip("127.0.1.1"), addr).await.unwrap();
    s.write_all(REQUEST).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return (Ok(got.len()), got, true),
            Ok(Ok(0)) => return (Ok(0), got, false),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return (Err(e), got, false),
        }
    }
}

#[tokio::test]
async fn serves_content_with_the_core_headers_and_answers_304() {
    let config = OriginConfig {
        object_size: 100_000,
        cache_control: "public, max-age=60, stale-if-error=300".into(),
        expires: Some(Duration::from_secs(120)),
        vary: cdn_core::message::Vary::AcceptEncoding,
        set_cookie: true,
        service_time: Duration::from_millis(20),
        ..Default::default()
    };
    let origin = start(config, "127.0.0.10").await;
    let t = Instant::now();
    let got = get(ip("127.0.1.1"), origin.http_addr(), "/a.png")
        .await
        .unwrap();
    let took = t.elapsed();
    assert_eq!(got.status, 200);
    assert_eq!(got.body.len(), 100_000);
    assert!(
        took >= Duration::from_millis(19),
        "service time is slept: {took:?}"
    );
    let h = |n: &str| got.headers.get(n).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(
        h("cache-control").as_deref(),
        Some("public, max-age=60, stale-if-error=300")
    );
    assert_eq!(h("etag").as_deref(), Some("\"v1\""));
    assert_eq!(h("vary").as_deref(), Some("Accept-Encoding"));
    assert!(h("set-cookie").is_some());
    assert_eq!(
        got.headers.get_all("date").iter().count(),
        1,
        "one Date: ours"
    );
    let date = httpdate::parse_http_date(&h("date").unwrap()).unwrap();
    let expires = httpdate::parse_http_date(&h("expires").unwrap()).unwrap();
    assert_eq!(expires.duration_since(date).unwrap().as_secs(), 120);
    assert!(h("last-modified").is_some());
    assert_eq!(h("content-length").as_deref(), Some("100000"));

    // If-None-Match with the current ETag → 304, no body.
    let tcp = connect_from(ip("127.0.1.1"), origin.http_addr())
        .await
        .unwrap();
    let mut req = get_request("/a.png");
    req.headers_mut()
        .insert("if-none-match", "\"v1\"".parse().unwrap());
    let got = request_over(tcp, req).await.unwrap();
    assert_eq!(got.status, 304);
    assert!(got.body.is_empty());
    assert_eq!(got.headers["etag"], "\"v1\"");

    // If-Modified-Since = Last-Modified → 304; a stale ETag → 200.
    let tcp = connect_from(ip("127.0.1.1"), origin.http_addr())
        .await
        .unwrap();
    let mut req = get_request("/a.png");
    req.headers_mut().insert(
        "if-modified-since",
        h("last-modified").unwrap().parse().unwrap(),
    );
    assert_eq!(request_over(tcp, req).await.unwrap().status, 304);
    let tcp = connect_from(ip("127.0.1.1"), origin.http_addr())
        .await
        .unwrap();
    let mut req = get_request("/a.png");
    req.headers_mut()
        .insert("if-none-match", "\"v0\"".parse().unwrap());
    assert_eq!(request_over(tcp, req).await.unwrap().status, 200);
    assert_eq!(origin.requests_received(), 4);
    origin.shutdown().await;
}

#[tokio::test]
async fn down_refuses_on_both_ports_and_a_closed_443_refuses() {
    let origin = start(state(OriginState::Down), "127.0.0.11").await;
    for addr in [origin.http_addr(), origin.https_addr()] {
        let t = Instant::now();
        let e = connect_from(ip("127.0.1.1"), addr).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{addr}");
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "RST comes at once"
        );
    }
    origin.shutdown().await;

    let no443 = OriginConfig {
        https: HttpsListener::None,
        ..state(OriginState::Up)
    };
    let origin = start(no443, "127.0.0.11").await;
    let e = connect_from(ip("127.0.1.1"), origin.https_addr())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(status(ip("127.0.1.1"), origin.http_addr()).await, 200);
    origin.shutdown().await;
}

#[tokio::test]
async fn accept_queue_full_times_out_the_connect() {
    let origin = start(state(OriginState::AcceptQueueFull), "127.0.0.12").await;
    let t = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_millis(300),
        connect_from(ip("127.0.1.1"), origin.http_addr()),
    )
    .await;
    assert!(r.is_err(), "the SYN must go unanswered, got {r:?}");
    assert!(t.elapsed() >= Duration::from_millis(300));
    origin.shutdown().await;
}

#[tokio::test]
async fn bpf_drop_times_out_one_source_while_another_connects() {
    let config = OriginConfig {
        firewall: vec![FirewallRule {
            source: "127.0.1.2".parse().unwrap(),
            action: FirewallAction::Drop,
        }],
        ..state(OriginState::Up)
    };
    let origin = start(config, "127.0.0.13").await;
    let dropped = tokio::time::timeout(
        Duration::from_millis(300),
        connect_from(ip("127.0.1.2"), origin.http_addr()),
    )
    .await;
    assert!(dropped.is_err(), "127.0.1.2 must time out, got {dropped:?}");
    assert_eq!(status(ip("127.0.1.1"), origin.http_addr()).await, 200);
    assert_eq!(status(ip("127.0.1.3"), origin.http_addr()).await, 200);
    origin.shutdown().await;
}

#[tokio::test]
async fn hung_is_a_read_timeout_on_an_open_connection() {
    let origin = start(state(OriginState::Hung), "127.0.0.14").await;
    let (r, got, timed_out) = send_and_read(origin.http_addr(), Duration::from_millis(300)).await;
    assert!(timed_out, "{r:?}");
    assert!(got.is_empty());
    assert_eq!(origin.requests_received(), 1, "the request was read");
    origin.shutdown().await;
}

#[tokio::test]
async fn reset_is_econnreset() {
    let origin = start(state(OriginState::Reset), "127.0.0.15").await;
    let (r, got, _) = send_and_read(origin.http_addr(), Duration::from_secs(2)).await;
    assert_eq!(r.unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert!(got.is_empty());
    origin.shutdown().await;
}

#[tokio::test]
async fn close_is_eof_without_a_byte() {
    let origin = start(state(OriginState::Close), "127.0.0.16").await;
    let (r, got, timed_out) = send_and_read(origin.http_addr(), Duration::from_secs(2)).await;
    assert!(!timed_out);
    assert_eq!(r.unwrap(), 0, "EOF");
    assert!(got.is_empty());
    origin.shutdown().await;
}

#[tokio::test]
async fn garbage_is_not_http() {
    let origin = start(state(OriginState::Garbage), "127.0.0.17").await;
    let (r, got, _) = send_and_read(origin.http_addr(), Duration::from_secs(2)).await;
    assert_eq!(r.unwrap(), 0);
    assert_eq!(got, cdn_net::origin::GARBAGE);
    let e = get(ip("127.0.1.1"), origin.http_addr(), "/")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("invalid"),
        "hyper cannot parse it: {e}"
    );
    origin.shutdown().await;
}

#[tokio::test]
async fn tls_client_against_plain_http_on_443_fails_the_handshake() {
    let config = OriginConfig {
        https: HttpsListener::Plain,
        ..state(OriginState::Up)
    };
    let origin = start(config, "127.0.0.18").await;
    let tcp = connect_from(ip("127.0.1.1"), origin.https_addr())
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(certs().client_config(false, false));
    let name = rustls::pki_types::ServerName::try_from("www.example.com").unwrap();
    let e = connector.connect(name, tcp).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
    // The same port speaks plain HTTP.
    assert_eq!(status(ip("127.0.1.1"), origin.https_addr()).await, 200);
    origin.shutdown().await;
}

#[tokio::test]
async fn https_serves_over_tls() {
    let origin = start(state(OriginState::Up), "127.0.0.19").await;
    let tcp = connect_from(ip("127.0.1.1"), origin.https_addr())
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(certs().client_config(true, false));
    let name = rustls::pki_types::ServerName::try_from("www.example.com").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let got = request_over(tls, get_request("/")).await.unwrap();
    assert_eq!((got.status, got.body.len()), (200, 10 * 1024));
    origin.shutdown().await;
}

#[tokio::test]
async fn reconfigure_switches_faults_on_the_same_ports() {
    let mut origin = start(state(OriginState::Up), "127.0.0.20").await;
    let (http, https) = (origin.http_addr(), origin.https_addr());
    let src = ip("127.0.1.1");
    assert_eq!(status(src, http).await, 200);

    // A connection held by a hung request must not stop the port from being re-bound.
    origin.reconfigure(state(OriginState::Hung)).await.unwrap();
    let mut held = connect_from(src, http).await.unwrap();
    held.write_all(REQUEST).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    origin.reconfigure(state(OriginState::Down)).await.unwrap();
    let e = connect_from(src, http).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);

    origin
        .reconfigure(state(OriginState::AcceptQueueFull))
        .await
        .unwrap();
    let r = tokio::time::timeout(Duration::from_millis(200), connect_from(src, http)).await;
    assert!(r.is_err(), "queue full: {r:?}");

    origin.reconfigure(state(OriginState::Up)).await.unwrap();
    assert_eq!(status(src, http).await, 200);
    assert_eq!(
        status(src, https).await,
        0,
        "443 speaks TLS, not plain HTTP"
    );
    assert_eq!((origin.http_addr(), origin.https_addr()), (http, https));
    drop(held);
    origin.shutdown().await;
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_then_the_port_refuses() {
    let config = OriginConfig {
        service_time: Duration::from_millis(300),
        ..Default::default()
    };
    let origin = start(config, "127.0.0.21").await;
    let addr = origin.http_addr();
    let in_flight = tokio::spawn(async move { status(ip("127.0.1.1"), addr).await });
    // A hung connection on a second origin-side request would block a naive drain: the
    // server must close it at once.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    let report = origin.shutdown().await;
    assert!(report.drained, "{report:?}");
    assert_eq!(report.tasks_left, 0);
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the in-flight request finished"
    );
    let e = connect_from(ip("127.0.1.1"), addr).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn shutdown_closes_hung_connections_at_once() {
    let origin = start(state(OriginState::Hung), "127.0.0.22").await;
    let mut s = connect_from(ip("127.0.1.1"), origin.http_addr())
        .await
        .unwrap();
    s.write_all(REQUEST).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    let report = origin.shutdown().await;
    assert!(report.drained && report.tasks_left == 0, "{report:?}");
    assert!(t.elapsed() < Duration::from_millis(500));
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the hung connection was closed");
}

#[tokio::test]
async fn dns_failure_removes_the_name() {
    let mut origin = start(state(OriginState::Up), "127.0.0.23").await;
    let dns = origin.resolver().clone();
    assert_eq!(
        dns.resolve("www.example.com", 80).unwrap(),
        origin.http_addr()
    );
    assert_eq!(
        dns.resolve("WWW.example.com", 443).unwrap(),
        origin.https_addr()
    );
    origin
        .reconfigure(state(OriginState::DnsFailure))
        .await
        .unwrap();
    assert!(matches!(
        dns.resolve("www.example.com", 80),
        Err(cdn_net::ResolveError::NoSuchHost(_))
    ));
    origin.reconfigure(state(OriginState::Up)).await.unwrap();
    assert!(dns.resolve("www.example.com", 80).is_ok());
    origin.shutdown().await;
    assert!(
        dns.resolve("www.example.com", 80).is_err(),
        "shutdown unpublishes"
    );
}

#[tokio::test]
async fn without_privileges_partial_reject_and_unreachable_are_errors_not_approximations() {
    let partial = OriginConfig {
        firewall: vec![
            FirewallRule {
                source: "127.0.1.0/29".parse().unwrap(),
                action: FirewallAction::Allow,
            },
            FirewallRule {
                source: "any".parse().unwrap(),
                action: FirewallAction::Reject,
            },
        ],
        ..Default::default()
    };
    for c in [partial, state(OriginState::Unreachable)] {
        let e = OriginServer::start(c, ip("127.0.0.24"), certs())
            .await
            .unwrap_err();
        assert!(matches!(e, NetError::NeedsPrivateNamespace { .. }), "{e}");
    }
    // Rejecting every source is exact without privileges: nothing listens.
    let all = OriginConfig {
        firewall: vec![FirewallRule {
            source: "any".parse().unwrap(),
            action: FirewallAction::Reject,
        }],
        ..Default::default()
    };
    let origin = start(all, "127.0.0.24").await;
    let e = connect_from(ip("127.0.1.1"), origin.http_addr())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    origin.shutdown().await;
    // Non-loopback addresses are refused.
    let e = OriginServer::start(OriginConfig::default(), ip("10.0.0.1"), certs())
        .await
        .unwrap_err();
    assert!(matches!(e, NetError::NotLoopback(_)));
    // So are nonsense time scales.
    let e = OriginServer::start_with(
        OriginConfig::default(),
        ip("127.0.0.24"),
        certs(),
        OriginOptions {
            time_scale: 0.0,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, NetError::TimeScale(_)));
}

#[tokio::test]
async fn a_fault_after_a_good_response_hits_the_same_keep_alive_connection() {
    let mut origin = start(state(OriginState::Up), "127.0.0.25").await;
    let tcp = connect_from(ip("127.0.1.1"), origin.http_addr())
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    let driver = tokio::spawn(conn);
    let first = send.send_request(get_request("/")).await.unwrap();
    assert_eq!(first.status(), 200);
    http_body_util::BodyExt::collect(first.into_body())
        .await
        .unwrap();
    origin.reconfigure(state(OriginState::Reset)).await.unwrap();
    let e = send.send_request(get_request("/")).await.unwrap_err();
    let io = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .map(|e| e.kind());
    assert_eq!(io, Some(ErrorKind::ConnectionReset), "{e:?}");
    driver.abort();
    origin.shutdown().await;
}

#[tokio::test]
async fn garbage_on_a_tls_port_is_sent_inside_tls() {
    let origin = start(state(OriginState::Garbage), "127.0.0.26").await;
    let tcp = connect_from(ip("127.0.1.1"), origin.https_addr())
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(certs().client_config(true, false));
    let name = rustls::pki_types::ServerName::try_from("www.example.com").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(REQUEST).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), tls.read_to_end(&mut got)).await;
    assert_eq!(got, cdn_net::origin::GARBAGE, "decrypted reply");
    origin.shutdown().await;
}

#[tokio::test]
async fn shutdown_cancels_what_outlives_the_grace_period() {
    let config = OriginConfig {
        service_time: Duration::from_secs(30),
        ..Default::default()
    };
    let options = OriginOptions {
        shutdown_grace: Duration::from_millis(200),
        ..Default::default()
    };
    let origin = OriginServer::start_with(config, ip("127.0.0.27"), certs(), options)
        .await
        .unwrap();
    let addr = origin.http_addr();
    let slow = tokio::spawn(async move { get(ip("127.0.1.1"), addr, "/").await.map(|g| g.status) });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    let report = origin.shutdown().await;
    assert!(
        !report.drained && report.forced == 1 && report.tasks_left == 0,
        "{report:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(
        slow.await.unwrap().is_err(),
        "the cancelled request got no response"
    );
}
