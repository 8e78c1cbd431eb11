//! What a real nginx (from apt) does with two upstream replies the nginx profile has to model,
//! measured, and compared with the model:
//!
//! 1. A reply that is not HTTP, from cdn-net's own origin in `state = "garbage"`. nginx's
//!    source (`ngx_http_proxy_process_status_line`) sets `r->http_version =
//!    NGX_HTTP_VERSION_9; u->state->status = NGX_HTTP_OK;` — this test checks what that
//!    means on the wire: the client receives the origin's bytes verbatim, with no status line
//!    (an HTTP/0.9 response), and nginx logs status `009`. With `proxy_cache` on (the
//!    profile's setting) the same happens, without the error-log line. The nginx profile
//!    models it as status 9 (`profile::HTTP_09_RELAY`).
//! 2. Response headers larger than `proxy_buffer_size` (one memory page, 4 KiB here): 502
//!    "upstream sent too big header"; smaller ones pass. The profile's
//!    `response_header_limit` must predict both.

mod common;

use cdn_core::profile::{Profile, HTTP_09_RELAY};
use cdn_core::{CdnConfig, FailureKind, OriginConfig, OriginState};
use cdn_net::origin::GARBAGE;
use cdn_net::OriginServer;
use common::nginx::{free_port, Nginx};
use common::*;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One GET over a raw connection; returns the bytes received until `want` bytes arrived, the
/// peer closed, or 5 s passed (nginx keeps an HTTP/0.9 relay's connection open, so a reader
/// waiting for EOF would wait for keepalive_timeout).
async fn raw_get(to: SocketAddr, path: &str, want: usize) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(to).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while got.len() < want {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

/// The status line's code of an HTTP/1.x response, if it has one.
fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}

/// A response whose header block (status line to the blank line) is exactly `size` bytes.
fn response_with_header_block(size: usize) -> Vec<u8> {
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\nX-Pad: ";
    let tail = "\r\n\r\n";
    let pad = size - head.len() - tail.len();
    let mut r = format!("{head}{}{tail}", "a".repeat(pad)).into_bytes();
    assert_eq!(r.len(), size);
    r.extend_from_slice(b"ok");
    r
}

/// An upstream that answers `/big` with a `big`-byte header block and anything else with a
/// `small`-byte one.
async fn header_server(at: Ipv4Addr, big: usize, small: usize) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((at, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let big_one = buf[..n].starts_with(b"GET /big ");
                let reply = response_with_header_block(if big_one { big } else { small });
                let _ = s.write_all(&reply).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// Waits (at most 5 s) until the access log has `lines` lines: nginx writes a request's line
/// when it finishes it.
async fn access_lines(nginx: &Nginx, lines: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let log: Vec<String> = nginx.access_log().lines().map(str::to_string).collect();
        if log.len() >= lines || tokio::time::Instant::now() > deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_relays_garbage_as_http_09_and_refuses_big_headers() {
    let origin = OriginServer::start(
        OriginConfig {
            state: OriginState::Garbage,
            ..OriginConfig::default()
        },
        ip("127.0.0.22"),
        certs(),
    )
    .await
    .unwrap();
    let garbage_upstream = origin.http_addr();
    // nginx's proxy_buffer_size on this platform: one memory page.
    let page = 4096;
    let (big, small) = (page + 1000, 1024);
    let headers_upstream = header_server(ip("127.0.0.23"), big, small).await;

    let at = Ipv4Addr::new(127, 0, 0, 24);
    let (plain, cached, headers) = (free_port(at), free_port(at), free_port(at));
    let Some(nginx) = Nginx::start(
        "upstream",
        |d| {
            format!(
                "  proxy_cache_path {d}/cache keys_zone=c:1m;\n\
                 server {{ listen {at}:{plain}; location / {{ proxy_pass http://{garbage_upstream}; }} }}\n\
                 server {{ listen {at}:{cached}; location / {{ proxy_cache c; proxy_cache_valid 200 1m; \
                 proxy_pass http://{garbage_upstream}; }} }}\n\
                 server {{ listen {at}:{headers}; location / {{ proxy_pass http://{headers_upstream}; }} }}",
                d = d.display()
            )
        },
        &[
            SocketAddr::from((at, plain)),
            SocketAddr::from((at, cached)),
            SocketAddr::from((at, headers)),
        ],
    ) else {
        origin.shutdown().await;
        return;
    };

    // 1. Garbage, without and with proxy_cache: the bytes themselves, no status line.
    let uncached_reply = raw_get((at, plain).into(), "/a.png", GARBAGE.len()).await;
    let cached_reply = raw_get((at, cached).into(), "/b.png", GARBAGE.len()).await;
    // 2. Headers over and under proxy_buffer_size.
    let big_reply = raw_get((at, headers).into(), "/big", 12).await;
    let small_reply = raw_get((at, headers).into(), "/small", 12).await;
    let log = access_lines(&nginx, 4).await;
    let errors = nginx.error_log();
    drop(nginx);
    origin.shutdown().await;

    assert_eq!(uncached_reply, GARBAGE, "relayed verbatim, no status line");
    assert_eq!(status_of(&uncached_reply), None);
    assert_eq!(cached_reply, GARBAGE, "the same with proxy_cache on");
    // nginx's own log: status 009 (HTTP/0.9), the upstream's taken as 200 (or "-" when the
    // cache path skips it), the garbage's length as the body.
    let len = GARBAGE.len();
    assert_eq!(log[0], format!("009 200 {len}"), "{log:?}");
    assert_eq!(log[1], format!("009 - {len}"), "{log:?}");
    assert!(
        errors.contains("upstream sent no valid HTTP/1.0 header while reading response header"),
        "{errors}"
    );
    // The model says exactly this: no 502, a relay it reports as status 9.
    let nginx_profile = Profile::Nginx.error_for(FailureKind::InvalidResponse);
    assert_eq!(nginx_profile.status, HTTP_09_RELAY);
    assert_eq!(
        log[0].split(' ').next().unwrap().parse::<u16>().ok(),
        Some(HTTP_09_RELAY)
    );

    assert_eq!(status_of(&big_reply), Some(502));
    assert!(errors.contains("upstream sent too big header"), "{errors}");
    assert_eq!(status_of(&small_reply), Some(200));
    // The profile predicts both from its response_header_limit.
    let t = CdnConfig::for_profile(Profile::Nginx).timeouts(Profile::Nginx);
    let predict = |bytes: usize| {
        t.header_failure(bytes as u64)
            .map_or(200, |k| Profile::Nginx.error_for(k).status)
    };
    assert_eq!(predict(big), 502);
    assert_eq!(predict(small), 200);
}
