//! Running a scenario's traffic through a [`NetCdn`] with real HTTP clients.
//!
//! Arrivals and events come from the caller (the simulator's workload generators and
//! scenario events: this crate does not depend on `cdn-sim`), in virtual time. Each arrival
//! becomes a real HTTP/1.1 request from its client address (`127.1.x.y`) to its L1, sent at
//! the real moment its virtual time comes (plus half the client's round trip, which the
//! simulator also puts between a client and its edge); the answer's status, `x-generated-by`
//! and `x-cache` headers and its latency (scaled back to virtual time) are the outcome. A
//! traced arrival carries the trace header, and its story is assembled from what every tier
//! recorded.

use crate::error::NetError;
use crate::timing::DUE_HEADER;
use crate::topology::NetCdn;
use crate::trace_sink::TRACE_HEADER;
use crate::wire::{self, GENERATED_BY, X_CACHE};
use bytes::Bytes;
use cdn_core::message::Encoding;
use cdn_core::{
    CacheStatus, CdnConfig, Instant, Method, NetworkConfig, OriginConfig, Scheme, Tier, Trace,
    TraceEvent,
};
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
    /// Record its hop-by-hop story.
    pub traced: bool,
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
    /// The `[network]` section from then on.
    pub network: NetworkConfig,
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
    /// The `Age` header the client got.
    pub age_s: Option<u64>,
    /// Time to the response head, in virtual time.
    pub latency: Duration,
}

impl NetOutcome {
    fn failed(latency: Duration) -> NetOutcome {
        NetOutcome {
            status: 0,
            generated_by: Tier::L1,
            l1_status: CacheStatus::Miss,
            age_s: None,
            latency,
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct NetRun {
    /// Per arrival, in arrival order.
    pub outcomes: Vec<NetOutcome>,
    /// The stories of the traced arrivals, in arrival order.
    pub traces: Vec<Trace>,
}

/// Sends every arrival at its time, applies events at theirs, waits for every answer (each
/// bounded by `request_cap` of virtual time) and returns the outcomes in arrival order.
/// `network` is `[network]` at the start of the run.
pub async fn run(
    cdn: &mut NetCdn,
    arrivals: Vec<NetArrival>,
    mut events: Vec<NetEvent>,
    network: NetworkConfig,
    request_cap: Duration,
) -> Result<NetRun, NetError> {
    let timers = cdn.timers().clone();
    let clock = timers.clock();
    // The run's virtual zero is the next whole second: the clock started before the servers
    // (certificates, listeners), and none of that is the scenario's time; and HTTP dates
    // have whole seconds, so the scenario's seconds must be the clock's (as in the model).
    let base = timers.now().http_date() + Duration::from_secs(1);
    events.sort_by_key(|e| e.at);
    let mut events = events.into_iter().peekable();
    let mut client_rtt = network.client_rtt;
    let mut tasks = Vec::with_capacity(arrivals.len());
    let traced: Vec<(u64, NetArrival)> = arrivals
        .iter()
        .enumerate()
        .filter(|(_, a)| a.traced)
        .map(|(i, a)| (i as u64, a.clone()))
        .collect();
    for (number, a) in arrivals.into_iter().enumerate() {
        // The request reaches the edge half a client round trip after the client sends it.
        let reaches_edge = base + (a.at - Instant::ZERO) + client_rtt / 2;
        while let Some(e) = events.next_if(|e| base + (e.at - Instant::ZERO) <= reaches_edge) {
            timers.sleep_until(base + (e.at - Instant::ZERO)).await;
            cdn.apply(&e.cdn, &e.origin, &e.network).await?;
            client_rtt = e.network.client_rtt;
        }
        timers.sleep_until(reaches_edge).await;
        let l1 = cdn.l1_for(a.client);
        let host = cdn.site().to_string();
        let cap = clock.real_duration(request_cap);
        let rtt = client_rtt;
        // One span per client request: the client's event below, and anything a subscriber
        // records while it waits, carry the request's number, path and address.
        let span = tracing::debug_span!("request", n = number, path = %a.path, client = %a.client);
        tasks.push(tokio::spawn(tracing::Instrument::instrument(
            async move {
                let started = std::time::Instant::now();
                let outcome =
                    tokio::time::timeout(cap, request(l1, &host, &a, number as u64, reaches_edge))
                        .await;
                let real = started.elapsed();
                let latency =
                    Duration::from_secs_f64(real.as_secs_f64() / clock.time_scale()) + rtt;
                let o = match outcome {
                    Ok(Some(mut o)) => {
                        o.latency = latency;
                        o
                    }
                    _ => NetOutcome::failed(latency),
                };
                tracing::debug!(
                    status = o.status,
                    generated_by = o.generated_by.as_str(),
                    l1 = o.l1_status.as_str(),
                    virtual_ms = o.latency.as_secs_f64() * 1e3,
                    "client answered"
                );
                o
            },
            span,
        )));
    }
    for e in events {
        timers.sleep_until(base + (e.at - Instant::ZERO)).await;
        cdn.apply(&e.cdn, &e.origin, &e.network).await?;
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await.unwrap_or(NetOutcome::failed(Duration::ZERO)));
    }
    cdn.settle(request_cap).await;
    let traces = traced
        .into_iter()
        .map(|(number, a)| assemble(cdn, base, number, &a, &outcomes[number as usize]))
        .collect();
    Ok(NetRun { outcomes, traces })
}

/// The story of a traced request from what the tiers recorded.
fn assemble(cdn: &NetCdn, base: Instant, number: u64, a: &NetArrival, o: &NetOutcome) -> Trace {
    // Steps were recorded on the run's clock, whose zero is `base` earlier than the
    // scenario's.
    let sent = base + (a.at - Instant::ZERO);
    let mut t = Trace::new(number, a.path.clone(), a.client, sent);
    for step in cdn.traces().take(number) {
        t.push(step.at, &step.node, step.event);
    }
    t.status = o.status;
    t.generated_by = o.generated_by;
    t.latency = o.latency;
    t.age_s = o.age_s;
    t.cache_status = o.l1_status;
    let event = TraceEvent::Responded {
        status: o.status,
        generated_by: o.generated_by,
    };
    t.push(sent + o.latency, "client", event);
    t.sent = a.at;
    t
}

/// One real request: status, generating tier, L1 cache status and Age.
async fn request(
    l1: SocketAddr,
    host: &str,
    a: &NetArrival,
    number: u64,
    due: Instant,
) -> Option<NetOutcome> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((a.client, 0))).ok()?;
    let stream = socket.connect(l1).await.ok()?;
    // Browsers and curl set TCP_NODELAY too.
    let _ = stream.set_nodelay(true);
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
    // The site the scenario's origin serves (a CDN answers other hosts itself).
    h.insert(http::header::HOST, http::HeaderValue::from_str(host).ok()?);
    h.insert(
        http::header::ACCEPT_ENCODING,
        http::HeaderValue::from_static(wire::accept_encoding(a.encoding)),
    );
    h.insert(
        "x-forwarded-proto",
        http::HeaderValue::from_static(a.scheme.as_str()),
    );
    if a.traced {
        h.insert(TRACE_HEADER, http::HeaderValue::from(number));
    }
    h.insert(DUE_HEADER, http::HeaderValue::from(due.as_nanos()));
    let resp = sender.send_request(req).await.ok()?;
    let status = wire::model_status(resp.status().as_u16(), resp.headers());
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
    let age_s = header("age").and_then(|v| v.trim().parse().ok());
    let _ = resp.into_body().collect().await;
    Some(NetOutcome {
        status,
        generated_by,
        l1_status,
        age_s,
        latency: Duration::ZERO,
    })
}
