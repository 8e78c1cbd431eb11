//! Running a scenario's traffic through a [`NetCdn`] with real HTTP clients.
//!
//! Arrivals and events come from the caller (the simulator's workload generators and
//! scenario events: this crate does not depend on `cdn-sim`), in virtual time. Each arrival
//! becomes a real HTTP/1.1 request from its client address (`127.1.x.y`) to its L1, sent at
//! the real moment its virtual time comes; the answer's status, `x-generated-by` and
//! `x-cache` headers and its latency (scaled back to virtual time) are the outcome.

use crate::error::NetError;
use crate::topology::NetCdn;
use crate::wire::{self, GENERATED_BY, X_CACHE};
use bytes::Bytes;
use cdn_core::message::Encoding;
use cdn_core::{CacheStatus, CdnConfig, Instant, Method, OriginConfig, Scheme, Tier};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpSocket;

/// One client request to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetArrival {
    /// When the client sends it (virtual).
    pub at: Instant,
    /// The URL path.
    pub path: String,
    /// The client's address (loopback).
    pub client: Ipv4Addr,
    /// Its normalised `Accept-Encoding`.
    pub encoding: Encoding,
    /// GET, HEAD or another method.
    pub method: Method,
    /// The scheme the visitor uses.
    pub scheme: Scheme,
}

/// A mid-run change of configuration.
#[derive(Clone, Debug)]
pub struct NetEvent {
    /// When (virtual).
    pub at: Instant,
    /// The `[cdn]` section from then on.
    pub cdn: CdnConfig,
    /// The `[origin]` section from then on.
    pub origin: OriginConfig,
}

/// What one client got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetOutcome {
    /// The status code (0 if the request itself failed at the client).
    pub status: u16,
    /// The tier the `x-generated-by` header names.
    pub generated_by: Tier,
    /// The edge's cache status from `x-cache`.
    pub l1_status: CacheStatus,
    /// Time to the response head, in virtual time.
    pub latency: Duration,
}

/// Sends every arrival at its time, applies events at theirs, waits for every answer (each
/// bounded by `request_cap` of virtual time) and returns the outcomes in arrival order.
pub async fn run(
    cdn: &mut NetCdn,
    arrivals: Vec<NetArrival>,
    mut events: Vec<NetEvent>,
    request_cap: Duration,
) -> Result<Vec<NetOutcome>, NetError> {
    let clock = cdn.clock();
    events.sort_by_key(|e| e.at);
    let mut events = events.into_iter().peekable();
    let mut tasks = Vec::with_capacity(arrivals.len());
    for a in arrivals {
        while let Some(e) = events.next_if(|e| e.at <= a.at) {
            tokio::time::sleep_until(clock.deadline(e.at)).await;
            cdn.apply(&e.cdn, &e.origin).await?;
        }
        tokio::time::sleep_until(clock.deadline(a.at)).await;
        let l1 = cdn.l1_for(a.client);
        let cap = clock.real_duration(request_cap);
        tasks.push(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let outcome = tokio::time::timeout(cap, request(l1, &a)).await;
            let real = started.elapsed();
            let latency = Duration::from_secs_f64(real.as_secs_f64() / clock.time_scale());
            match outcome {
                Ok(Some((status, generated_by, l1_status))) => NetOutcome {
                    status,
                    generated_by,
                    l1_status,
                    latency,
                },
                _ => NetOutcome {
                    status: 0,
                    generated_by: Tier::L1,
                    l1_status: CacheStatus::Miss,
                    latency,
                },
            }
        }));
    }
    for e in events {
        tokio::time::sleep_until(clock.deadline(e.at)).await;
        cdn.apply(&e.cdn, &e.origin).await?;
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await.unwrap_or(NetOutcome {
            status: 0,
            generated_by: Tier::L1,
            l1_status: CacheStatus::Miss,
            latency: Duration::ZERO,
        }));
    }
    Ok(outcomes)
}

/// One real request: (status, generated_by, L1 cache status).
async fn request(l1: SocketAddr, a: &NetArrival) -> Option<(u16, Tier, CacheStatus)> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((a.client, 0))).ok()?;
    let stream = socket.connect(l1).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = hyper::Request::new(Empty::<Bytes>::new());
    *req.uri_mut() = a.path.parse().ok()?;
    *req.method_mut() = match a.method {
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Other => http::Method::POST,
    };
    let h = req.headers_mut();
    h.insert(
        http::header::HOST,
        http::HeaderValue::from_static("www.example.com"),
    );
    h.insert(
        http::header::ACCEPT_ENCODING,
        http::HeaderValue::from_static(wire::accept_encoding(a.encoding)),
    );
    h.insert(
        "x-forwarded-proto",
        http::HeaderValue::from_static(a.scheme.as_str()),
    );
    let resp = sender.send_request(req).await.ok()?;
    let status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let generated_by = match header(GENERATED_BY).as_deref() {
        Some("l1") => Tier::L1,
        Some("l2") => Tier::L2,
        _ => Tier::Origin,
    };
    let l1_status = header(X_CACHE)
        .and_then(|v| v.split_whitespace().next().map(str::to_string))
        .and_then(|s| CacheStatus::ALL.into_iter().find(|c| c.as_str() == s))
        .unwrap_or(CacheStatus::Miss);
    let _ = resp.into_body().collect().await;
    Some((status, generated_by, l1_status))
}
