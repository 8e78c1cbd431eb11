//! A real server behind the CDN (`[origin] upstream`): a tiny hyper origin in the test, the
//! two tiers in front of it, and a plain HTTP/1.1 client. What a person putting their own
//! app behind `cdn-sim proxy` relies on: MISS then HIT with `Age`; every method passes with
//! its body; headers pass but for hop-by-hop ones; the shield connects from its egress
//! address; a 100 MiB body streams through without being held; and the security-relevant
//! HTTP rules (host-keyed cache, 400 without Host, CONNECT refused, If-None-Match lists).

mod common;

use bytes::Bytes;
use cdn_core::{CdnConfig, OriginConfig, Profile};
use cdn_net::{NetCdn, RealOptions};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};

/// 100 MiB, sent in 64 KiB chunks.
const BIG: u64 = 100 << 20;
const CHUNK: usize = 64 << 10;

/// A stored body large enough to be sent from a sealed memory file (`cdn_net::sealed`).
const LARGE: usize = 300 << 10;

/// Bytes that depend on their position, so a shifted or torn body shows.
fn patterned(len: usize) -> Bytes {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// What the origin saw.
#[derive(Default)]
struct Seen {
    /// (method, path, Host, source address, x-client header, connection-named header present)
    requests: Vec<(String, String, String, IpAddr, Option<String>, bool)>,
    /// The connection (source address and port) each request came on.
    connections: Vec<SocketAddr>,
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn answer(
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    seen: Arc<Mutex<Seen>>,
) -> hyper::Response<Body> {
    let (parts, body) = req.into_parts();
    let h = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    seen.lock().unwrap().connections.push(peer);
    seen.lock().unwrap().requests.push((
        parts.method.to_string(),
        parts.uri.path().to_string(),
        h("host").unwrap_or_default(),
        peer.ip(),
        h("x-client"),
        parts.headers.contains_key("x-hop"),
    ));
    // The how-manieth request for this path (this one included).
    let nth = sent(&seen, parts.uri.path());
    let body_in = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut r = hyper::Response::builder()
        .header("x-app", "kept")
        .header("x-method", parts.method.as_str());
    let body: Body = match parts.uri.path() {
        "/cached" => {
            r = r
                .header("cache-control", "max-age=60")
                .header("etag", "\"a1\"");
            Full::new(Bytes::from_static(b"hello")).boxed()
        }
        // Fresh for a second (then usable if the upstream fails), then `private` (a shared
        // cache must not store it), then failing.
        "/turns-private" if nth == 1 => {
            r = r.header("cache-control", "max-age=1, stale-if-error=60");
            Full::new(Bytes::from_static(b"public")).boxed()
        }
        "/turns-private" if nth == 2 => {
            r = r.header("cache-control", "private, max-age=60");
            Full::new(Bytes::from_static(b"for one user")).boxed()
        }
        "/turns-private" => {
            r = r.status(503);
            Full::new(Bytes::from_static(b"down")).boxed()
        }
        "/large" => {
            r = r.header("cache-control", "max-age=60");
            Full::new(patterned(LARGE)).boxed()
        }
        "/big" => {
            r = r
                .header("cache-control", "max-age=60")
                .header("content-length", BIG.to_string());
            let chunk = Bytes::from(vec![b'z'; CHUNK]);
            let n = (BIG as usize) / CHUNK;
            Repeat { chunk, left: n }.boxed()
        }
        _ => {
            r = r
                .header("cache-control", "no-store")
                .header("connection", "x-hop")
                .header("x-hop", "1");
            Full::new(body_in).boxed()
        }
    };
    r.body(body).unwrap()
}

/// `n` copies of `chunk`, produced as they are read.
struct Repeat {
    chunk: Bytes,
    left: usize,
}

impl hyper::body::Body for Repeat {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
}

async fn origin() -> (SocketAddr, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let s = s.clone();
                    async move { Ok::<_, Infallible>(answer(req, peer, s).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

async fn cdn(upstream: SocketAddr) -> NetCdn {
    // Varnish: every URL cacheable by default, and Age on every answer.
    cdn_with(upstream, Profile::Varnish, CdnConfig::default()).await
}

async fn cdn_with(upstream: SocketAddr, profile: Profile, cdn: CdnConfig) -> NetCdn {
    cdn_on(upstream, profile, cdn, RealOptions::default()).await
}

async fn cdn_on(
    upstream: SocketAddr,
    profile: Profile,
    cdn: CdnConfig,
    options: RealOptions,
) -> NetCdn {
    let origin = OriginConfig {
        upstream: Some(format!("http://{upstream}")),
        ..OriginConfig::default()
    };
    common::real_cdn_with(profile, cdn, origin, options)
        .await
        .expect("CDN starts")
}

/// How many requests for `path` the origin saw.
fn sent(seen: &Mutex<Seen>, path: &str) -> usize {
    seen.lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.1 == path)
        .count()
}

/// One request through the edge with hyper's client: status, headers, body.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &'static [u8],
) -> (u16, http::HeaderMap, Bytes) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let resp = tx
        .send_request(b.body(Full::new(Bytes::from_static(body))).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status.as_u16(), parts.headers, bytes)
}

fn header<'a>(h: &'a http::HeaderMap, n: &str) -> &'a str {
    h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miss_then_hit_with_age_and_headers_pass_through() {
    let (up, seen) = origin().await;
    let net = cdn(up).await;
    let edge = net.l1_addrs()[0];
    let (s, h, b) = send(
        edge,
        "GET",
        "/cached",
        "site.test",
        &[("x-client", "1")],
        b"",
    )
    .await;
    assert_eq!((s, b.as_ref()), (200, &b"hello"[..]));
    assert_eq!(header(&h, "x-cache"), "MISS from edge-1");
    assert_eq!(
        header(&h, "x-app"),
        "kept",
        "the upstream's own headers pass"
    );
    let (s, h, b) = send(edge, "GET", "/cached", "site.test", &[], b"").await;
    assert_eq!((s, b.as_ref()), (200, &b"hello"[..]));
    assert_eq!(header(&h, "x-cache"), "HIT from edge-1");
    assert!(h.contains_key("age"), "a hit carries Age: {h:?}");
    assert_eq!(header(&h, "etag"), "\"a1\"");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.requests.len(), 1, "the hit never reached the upstream");
    let (_, _, host, source, client, _) = &seen.requests[0];
    assert_eq!(host, "site.test", "Host passes unchanged");
    assert_eq!(client.as_deref(), Some("1"), "request headers pass");
    match source {
        IpAddr::V4(ip) => assert_eq!(
            ip.octets()[..3],
            [127, 0, 1],
            "from the shield's egress pool, got {ip}"
        ),
        other => panic!("{other}"),
    }
}

/// `cdn-sim proxy`'s event loops (`RealOptions::event_loops`): client connections are
/// served on loops of their own, in turn, and answers are what the shared runtime gives —
/// one node per tier whichever loop serves a connection, idle connections to the next tier
/// reused by the loop that drives them, and a shutdown that waits for every loop's tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_event_loops_every_loop_serves_the_same_cache() {
    const LOOPS: usize = 3;
    let (up, seen) = origin().await;
    let options = RealOptions {
        event_loops: LOOPS,
        ..RealOptions::default()
    };
    let net = cdn_on(up, Profile::Varnish, CdnConfig::default(), options).await;
    let edge = net.l1_addrs()[0];
    let (s, h, _) = send(edge, "GET", "/cached", "site.test", &[], b"").await;
    assert_eq!((s, header(&h, "x-cache")), (200, "MISS from edge-1"));
    // `send` opens a new connection each time: these land on every loop in turn.
    for i in 0..2 * LOOPS {
        let (s, h, b) = send(edge, "GET", "/cached", "site.test", &[], b"").await;
        assert_eq!((s, b.as_ref()), (200, &b"hello"[..]), "request {i}");
        assert_eq!(header(&h, "x-cache"), "HIT from edge-1", "request {i}");
    }
    assert_eq!(
        sent(&seen, "/cached"),
        1,
        "every loop serves the one stored copy"
    );
    // Requests that always go upstream (POST), one after another, each on a new client
    // connection: a loop reuses the connections to the next tier its earlier request left
    // idle, so the origin sees at most one connection per loop (the shield's requests
    // land on the loops in turn too), not one per request.
    let posts = 4 * LOOPS;
    for i in 0..posts {
        let (s, _, b) = send(edge, "POST", "/echo", "site.test", &[], b"data").await;
        assert_eq!((s, b.as_ref()), (200, &b"data"[..]), "POST {i}");
    }
    let origin_conns: std::collections::HashSet<SocketAddr> = {
        let seen = seen.lock().unwrap();
        let n = seen.requests.len();
        seen.connections[n - posts..].iter().copied().collect()
    };
    assert!(
        origin_conns.len() <= LOOPS,
        "{} origin connections for {posts} sequential requests over {LOOPS} loops",
        origin_conns.len()
    );
    let cut = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        net.shutdown(std::time::Duration::from_secs(2)),
    )
    .await
    .expect("a shutdown waits for the loops' tasks and ends");
    assert_eq!(cut, 0, "nothing was in flight");
}

/// What the node stores, the proxy can serve: an edge with a 1 MiB cache keeps a 300 KiB
/// body (larger than a sixteenth of its capacity, a store shard's share) and serves it as
/// hits, and filling the cache past its capacity with other URLs leaves what the node
/// still holds servable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_copy_the_node_holds_is_served_from_a_small_cache() {
    let (up, seen) = origin().await;
    let mut cdn = CdnConfig::default();
    cdn.l1[0].cache = Some(1 << 20);
    let net = cdn_with(up, Profile::Varnish, cdn).await;
    let edge = net.l1_addrs()[0];
    let x_cache = |h: &http::HeaderMap| header(h, "x-cache").to_string();
    let (s, h, b) = send(edge, "GET", "/large", "site.test", &[], b"").await;
    assert_eq!(
        (s, b.len(), x_cache(&h)),
        (200, LARGE, "MISS from edge-1".into())
    );
    let (s, h, b) = send(edge, "GET", "/large", "site.test", &[], b"").await;
    assert_eq!(
        (s, b.len(), x_cache(&h)),
        (200, LARGE, "HIT from edge-1".into())
    );
    // 200 small URLs (a few hundred bytes each with their headers) through the same edge:
    // its store goes over its budget, and only copies the node no longer holds may go.
    for i in 0..200 {
        let (s, _, _) = send(edge, "GET", &format!("/cached?{i}"), "site.test", &[], b"").await;
        assert_eq!(s, 200);
    }
    let (s, h, b) = send(edge, "GET", "/large", "site.test", &[], b"").await;
    assert_eq!(s, 200);
    assert!(b == patterned(LARGE), "the body arrives byte for byte");
    assert_eq!(x_cache(&h), "HIT from edge-1", "the node still holds it");
    assert_eq!(
        sent(&seen, "/large"),
        1,
        "every hit was served from the edge"
    );
}

/// A response the cache does not store (here `private`) never takes the place of the
/// copy it holds: when the upstream then fails, the stale copy served is the stored
/// public one — the private answer is never served to anyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_not_stored_never_replaces_the_stored_copy() {
    let (up, seen) = origin().await;
    let net = cdn_with(up, Profile::Rfc9111, CdnConfig::default()).await;
    let edge = net.l1_addrs()[0];
    let get = || send(edge, "GET", "/turns-private", "site.test", &[], b"");
    let (s, h, b) = get().await;
    assert_eq!((s, b.as_ref()), (200, &b"public"[..]));
    assert_eq!(header(&h, "x-cache"), "MISS from edge-1");
    // Past its second of freshness: both tiers go to the upstream, whose answer is now
    // private — passed to this client, stored by neither tier.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s, _, b) = get().await;
    assert_eq!((s, b.as_ref()), (200, &b"for one user"[..]));
    // The upstream fails: stale-if-error serves the copy the cache holds.
    let (s, h, b) = get().await;
    assert_eq!(
        (s, b.as_ref()),
        (200, &b"public"[..]),
        "the stored copy serves, never the private answer: {h:?}"
    );
    assert_eq!(sent(&seen, "/turns-private"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_passes_with_its_body() {
    let (up, seen) = origin().await;
    let net = cdn(up).await;
    let edge = net.l1_addrs()[0];
    for method in ["POST", "PUT", "DELETE", "PATCH", "M-SEARCH"] {
        let (s, h, b) = send(edge, method, "/echo", "site.test", &[], b"payload-123").await;
        assert_eq!(s, 200, "{method}");
        assert_eq!(
            b.as_ref(),
            b"payload-123",
            "{method}: the body reached the upstream and came back"
        );
        assert_eq!(header(&h, "x-method"), method);
        assert!(
            !h.contains_key("x-hop"),
            "{method}: a header named by Connection is hop-by-hop"
        );
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.requests.len(), 5);
    assert!(
        seen.requests.iter().all(|r| !r.5),
        "hop-by-hop request headers are not forwarded"
    );
}

/// Memory files holding sealed bodies, among this process's descriptors.
fn sealed_files() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.to_string_lossy().contains("memfd:cdn-net-body"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_stored_body_is_served_byte_exact_from_its_sealed_copy() {
    let (up, seen) = origin().await;
    let net = cdn(up).await;
    let edge = net.l1_addrs()[0];
    let want = patterned(LARGE);
    let mut caches = Vec::new();
    for _ in 0..4 {
        let (s, h, b) = send(edge, "GET", "/large", "site.test", &[], b"").await;
        assert_eq!(s, 200);
        assert_eq!(b.len(), LARGE);
        assert!(b == want, "the body arrives byte for byte");
        caches.push(header(&h, "x-cache").to_string());
    }
    assert_eq!(
        caches,
        [
            "MISS from edge-1",
            "HIT from edge-1",
            "HIT from edge-1",
            "HIT from edge-1"
        ]
    );
    assert_eq!(seen.lock().unwrap().requests.len(), 1);
    // The first hit moved the edge's copy into a sealed memory file (the shield's copy was
    // never hit): later hits were sent from it by sendfile.
    assert!(sealed_files() >= 1, "no sealed body in this process");
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_body_streams_through_without_being_held() {
    let (up, _) = origin().await;
    let net = cdn(up).await;
    let edge = net.l1_addrs()[0];
    let before = peak_rss_kib();
    let stream = TcpStream::connect(edge).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("/big")
        .header("host", "site.test")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(resp.headers(), "content-length"), BIG.to_string());
    let mut body = resp.into_body();
    let mut got = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame.unwrap().into_data() {
            assert!(d.iter().all(|&b| b == b'z'));
            got += d.len() as u64;
        }
    }
    assert_eq!(got, BIG, "byte-exact length");
    let grown_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    // Each tier reads at most `max_stored` (8 MiB) before it starts streaming, and hyper
    // buffers a few hundred KiB per connection: 2 × 8 MiB + slack. Holding the body would
    // be ≥ 100 MiB (twice that with two tiers).
    assert!(
        grown_mib < 48,
        "peak RSS grew by {grown_mib} MiB while streaming 100 MiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_rules_that_are_security_matters() {
    let (up, seen) = origin().await;
    let net = cdn(up).await;
    let edge = net.l1_addrs()[0];
    // Host is part of the key: b.example does not get a.example's copy.
    send(edge, "GET", "/cached", "a.example", &[], b"").await;
    let (_, h, _) = send(edge, "GET", "/cached", "b.example", &[], b"").await;
    assert_eq!(header(&h, "x-cache"), "MISS from edge-1");
    // An absolute-form request names its own host: it does not fill /cached for a.example.
    let (s, _) = common::raw_exchange(
        edge,
        "GET http://evil.example/cached HTTP/1.1\r\nHost: a.example\r\n\r\n",
    )
    .await;
    assert_eq!(s, 200);
    let (_, h, _) = send(edge, "GET", "/cached", "evil.example", &[], b"").await;
    assert_eq!(
        header(&h, "x-cache"),
        "HIT from edge-1",
        "keyed by evil.example"
    );
    assert_eq!(seen.lock().unwrap().requests.len(), 3);
    // HTTP/1.1 without Host: 400 (RFC 9112 §3.2).
    let (s, _) = common::raw_exchange(edge, "GET /cached HTTP/1.1\r\n\r\n").await;
    assert_eq!(s, 400);
    // CONNECT is not tunnelled.
    let (s, _) = common::raw_exchange(
        edge,
        "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
    )
    .await;
    assert_eq!(s, 501);
    // If-None-Match: a list holding the current tag, and `*`, get 304 (RFC 9110 §13.1.2).
    let (s, _, _) = send(
        edge,
        "GET",
        "/cached",
        "a.example",
        &[("if-none-match", "\"zz\", \"a1\"")],
        b"",
    )
    .await;
    assert_eq!(s, 304);
    let (s, _, _) = send(
        edge,
        "GET",
        "/cached",
        "a.example",
        &[("if-none-match", "*")],
        b"",
    )
    .await;
    assert_eq!(s, 304);
    let (s, _, b) = send(
        edge,
        "GET",
        "/cached",
        "a.example",
        &[("if-none-match", "\"zz\", \"yy\"")],
        b"",
    )
    .await;
    assert_eq!((s, b.as_ref()), (200, &b"hello"[..]));
}
