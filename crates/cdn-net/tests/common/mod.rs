//! Helpers shared by the integration tests: clients that bind a source address in
//! 127.0.1.0/24 (any 127.x source works without root), one request per connection.
#![allow(dead_code)]

pub mod nginx;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// One set of certificates per test binary.
pub fn certs() -> Arc<cdn_net::Certificates> {
    static CERTS: OnceLock<Arc<cdn_net::Certificates>> = OnceLock::new();
    CERTS
        .get_or_init(|| Arc::new(cdn_net::Certificates::generate("www.example.com").unwrap()))
        .clone()
}

/// Prints past the test harness's output capture, so a skip is always visible.
pub fn skipped(reason: &str) {
    let _ = writeln!(io::stderr(), "SKIPPED: {reason}");
}

/// A TCP connection from `src`.
pub async fn connect_from(src: Ipv4Addr, to: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::from((src, 0)))?;
    s.connect(to).await
}

/// A response as a client saw it.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// One HTTP/1.1 request over `io`.
pub async fn request_over<S>(io: S, req: http::Request<Empty<Bytes>>) -> Result<Got, hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io)).await?;
    let driver = tokio::spawn(conn);
    let resp = send.send_request(req).await;
    let out = match resp {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok(Got {
                status,
                headers,
                body,
            })
        }
        Err(e) => Err(e),
    };
    driver.abort();
    out
}

pub fn get_request(path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(path)
        .header(http::header::HOST, "www.example.com")
        .body(Empty::new())
        .unwrap()
}

/// GET `path` from `src` to `to` on a new connection.
pub async fn get(src: Ipv4Addr, to: SocketAddr, path: &str) -> io::Result<Got> {
    let tcp = connect_from(src, to).await?;
    request_over(tcp, get_request(path))
        .await
        .map_err(io::Error::other)
}

/// Status of a GET with a 5 s bound (0 on any failure).
pub async fn status(src: Ipv4Addr, to: SocketAddr) -> u16 {
    match tokio::time::timeout(Duration::from_secs(5), get(src, to, "/")).await {
        Ok(Ok(g)) => g.status,
        _ => 0,
    }
}

/// Counts statuses: (200s, 503s, others).
pub fn tally(statuses: &[u16]) -> (usize, usize, usize) {
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let limited = statuses.iter().filter(|&&s| s == 503).count();
    (ok, limited, statuses.len() - ok - limited)
}

/// A raw HTTP/1.1 exchange (so requests hyper's client would refuse can be sent): returns
/// the status and the head's lines, lower-cased, reading the body only as far as the head.
pub async fn raw_exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut tmp))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            return (status, head);
        }
    }
    (0, String::from_utf8_lossy(&buf).to_string())
}

/// A request and when it was sent and its answer read (real time since a common start): the
/// server read it, and decided, somewhere in between.
pub struct Timed {
    pub status: u16,
    pub sent: Duration,
    pub answered: Duration,
}

/// The fewest and the most of `timed` (all from one address, in the order sent) that nginx's
/// `limit_req` as `spec` says can have admitted, computed with the core's copy of nginx's
/// arithmetic from the measured times: each request arrived after it was sent and before its
/// answer was read (widened by a millisecond each way, the limiter's resolution). The
/// fewest come when the first arrives as late and the others as early as that allows (the
/// span the bucket refills over is shortest), the most in the opposite case. On time, both
/// are nginx's exact figure.
pub fn limit_req_admits(spec: &cdn_core::origin::LimitReqSpec, timed: &[Timed]) -> (usize, usize) {
    let admitted = |mut times: Vec<Duration>| {
        times.sort();
        let mut limiter = cdn_core::origin::LimitReq::new(spec.config());
        let (from, t0) = (
            Ipv4Addr::LOCALHOST,
            cdn_core::Instant::ZERO + Duration::from_secs(1),
        );
        times
            .into_iter()
            .filter(|t| limiter.check(t0 + *t, from).is_accept())
            .count()
    };
    let ms = Duration::from_millis(1);
    let earliest = |t: &Timed| t.sent.saturating_sub(ms);
    let latest = |t: &Timed| t.answered + ms;
    let Some((first, rest)) = timed.split_first() else {
        return (0, 0);
    };
    let fewest = admitted(
        std::iter::once(latest(first))
            .chain(rest.iter().map(earliest))
            .collect(),
    );
    let most = admitted(
        std::iter::once(earliest(first))
            .chain(rest.iter().map(latest))
            .collect(),
    );
    (fewest, most)
}

/// Starts an L1 → L2 CDN with no emulated latency, in real time, in front of the real
/// server `origin.upstream` names.
pub async fn real_cdn(
    profile: cdn_core::Profile,
    cdn: cdn_core::CdnConfig,
    origin: cdn_core::OriginConfig,
) -> Result<cdn_net::NetCdn, cdn_net::NetError> {
    real_cdn_with(profile, cdn, origin, cdn_net::RealOptions::default()).await
}

/// [`real_cdn`] with the given options (event loops, stored body size).
pub async fn real_cdn_with(
    profile: cdn_core::Profile,
    cdn: cdn_core::CdnConfig,
    origin: cdn_core::OriginConfig,
    options: cdn_net::RealOptions,
) -> Result<cdn_net::NetCdn, cdn_net::NetError> {
    let network = cdn_core::NetworkConfig {
        client_rtt: Duration::ZERO,
        l1_l2_rtt: Duration::ZERO,
        l2_origin_rtt: Duration::ZERO,
    };
    let spec = cdn_net::NetSpec {
        profile,
        cdn,
        origin,
        network,
        seed: 0,
        time_scale: 1.0,
        access: cdn_net::origin::NetworkAccess::Unprivileged,
    };
    cdn_net::NetCdn::start_with(spec, options).await
}
