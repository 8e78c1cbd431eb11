//! One request's task: hand it to the node, then carry out the node's actions for its
//! ticket — connect, send, wait — with real timers, and report each outcome back, until the
//! node answers.

use super::shared::{Registered, Shared};
use super::upstream::{Conn, HopError};
use crate::trace_sink::TRACE_HEADER;
use crate::wire;
use bytes::Bytes;
use cdn_core::node::Action;
use cdn_core::{CacheKey, CacheStatus, Method, Request, Response, Scheme, TraceEvent};
use http_body_util::Full;
use hyper::body::Incoming;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

impl Shared {
    /// Serves one downstream request.
    pub(super) async fn handle(
        self: Arc<Self>,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> hyper::Response<Full<Bytes>> {
        let started = std::time::Instant::now();
        let method = req.method().clone();
        let path: Arc<str> = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .into();
        let scheme = match req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
        {
            Some("http") => Scheme::Http,
            _ => Scheme::Https,
        };
        let client = match peer.ip() {
            std::net::IpAddr::V4(ip) => ip,
            std::net::IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
        };
        let trace = req
            .headers()
            .get(TRACE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let json = req
            .headers()
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(crate::error_page::wants_json);
        let downstream = wire::validators(req.headers(), &self.timers.clock());
        if let Some(due) = crate::timing::stamp(req.headers(), crate::timing::DUE_HEADER) {
            self.timers.arrived(due);
        }
        self.trace(trace, TraceEvent::Received);
        let (reg, model) = {
            let mut slot = self.node();
            let eligible = slot.node.settings().policy.eligibility.allows(&path);
            let model = Request {
                method: Method::from(req.method()),
                scheme,
                key: CacheKey::for_url(&self.origin_host, &path),
                client,
                encoding: wire::encoding(req.headers()),
                eligible,
                object: cdn_core::message::ObjectHint::default(),
            };
            let reg = self.register(&mut slot, trace);
            let mut out = Vec::new();
            let now = self.timers.now();
            slot.node.receive(
                now,
                reg.ticket,
                &model,
                downstream,
                trace.is_some(),
                &mut out,
            );
            self.dispatch(&mut slot, &mut out, &path);
            (reg, model)
        };
        // The request runs to its end in a task of its own: if the downstream goes away (an
        // L1 that gave up, a client that hung up), this node still finishes the exchange —
        // fills its cache, releases the requests collapsed behind it — as the model does.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let logged_path = path.clone();
        let s = self.clone();
        self.uncounted
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.tasks.spawn(async move {
            let trace = reg.trace;
            let (response, status) = match s.carry_out(reg, model, path).await {
                Some(answer) => answer,
                None => {
                    let r = Response::generated(s.tier, 503, "proxy shutting down");
                    (r, CacheStatus::Miss)
                }
            };
            s.count_answer(status);
            if s.tier != cdn_core::Tier::L1 {
                let event = TraceEvent::Responded {
                    status: response.status,
                    generated_by: response.generated_by,
                };
                s.trace(trace, event);
            }
            s.uncounted
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            let _ = tx.send((response, status));
        });
        let (response, status) = match rx.await {
            Ok(answer) => answer,
            Err(_) => (
                Response::generated(self.tier, 503, "proxy shutting down"),
                CacheStatus::Miss,
            ),
        };
        // The access log: one line per request this proxy answered (an L2's lines are the
        // L1s' misses). `cdn-sim serve` shows them with `--log info` or `RUST_LOG=info`.
        tracing::info!(
            target: "cdn_net::access",
            proxy = %self.name,
            tier = self.tier.as_str(),
            %method,
            path = &*logged_path,
            status = response.status,
            generated_by = response.generated_by.as_str(),
            cache = status.as_str(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "{method} {logged_path} {} {}",
            response.status,
            status.as_str(),
        );
        self.to_http(&response, status, json)
    }

    /// Carries out the node's actions for `reg`'s ticket until it is answered; `None` if the
    /// proxy is aborted first.
    pub(super) async fn carry_out(
        self: &Arc<Self>,
        mut reg: Registered,
        req: Request,
        path: Arc<str>,
    ) -> Option<(Response, CacheStatus)> {
        let ticket = reg.ticket;
        let mut deadline: Option<cdn_core::Instant> = None;
        // The connection of the current hop, between its Connect and its Send.
        let mut conn: Option<Conn> = None;
        loop {
            let action = tokio::select! {
                a = reg.rx.recv() => a,
                now = self.timers.sleep_until(deadline.unwrap_or(cdn_core::Instant::ZERO)),
                    if deadline.is_some() => {
                    deadline = None;
                    self.input(&path, |node, out| node.timer(now, ticket, out));
                    continue;
                }
                _ = self.abort.cancelled() => None,
            };
            let Some(action) = action else {
                self.unregister(ticket);
                return None;
            };
            match action {
                Action::Answer {
                    response, status, ..
                } => {
                    self.unregister(ticket);
                    return Some((response, status));
                }
                Action::Wait { until, .. } => deadline = Some(until),
                Action::Connect(c) => {
                    deadline = None;
                    conn = None;
                    match self.open(&c, reg.trace).await {
                        Ok(opened) => {
                            conn = Some(opened);
                            let now = self.timers.now();
                            self.input(&path, |node, out| node.connected(now, ticket, c.hop, out));
                        }
                        Err(e) => self.hop_ended(&path, ticket, c.hop, e),
                    }
                }
                Action::Send {
                    hop,
                    conditional,
                    until,
                    ..
                } => {
                    let Some(mut c) = conn.take() else {
                        // The node only sends on a connection it was told is open.
                        continue;
                    };
                    if let Some(v) = conditional {
                        let etag = v.etag.map(|e| e.0);
                        self.trace(reg.trace, TraceEvent::Conditional { etag });
                    }
                    let to_origin = c.to_origin();
                    if to_origin {
                        self.trace(reg.trace, TraceEvent::RequestSent);
                    }
                    let upstream_req = self.upstream_request(&req, &path, conditional, reg.trace);
                    match self.exchange(&mut c, upstream_req, until).await {
                        Ok(resp) => {
                            // Connections between tiers stay warm; to the origin, as configured.
                            let keep = !to_origin || self.keepalive();
                            if keep {
                                self.give_back(c);
                            }
                            let now = self.timers.now();
                            self.input(&path, |node, out| {
                                node.answered(now, ticket, hop, &resp, out)
                            });
                        }
                        Err(e) => self.hop_ended(&path, ticket, hop, e),
                    }
                }
                // Notes and revalidations are handled when actions are delivered.
                Action::Note { .. } | Action::Revalidate { .. } => {}
            }
        }
    }

    /// Reports a hop that ended without an answer.
    fn hop_ended(self: &Arc<Self>, path: &Arc<str>, ticket: u64, hop: u32, e: HopError) {
        match e {
            HopError::Failed(kind) => {
                let now = self.timers.now();
                self.input(path, |node, out| {
                    node.hop_failed(now, ticket, hop, kind, out)
                });
            }
            HopError::Deadline(now) => self.input(path, |node, out| node.timer(now, ticket, out)),
        }
    }

    /// Gives the node an input and delivers the actions it returns.
    fn input(
        self: &Arc<Self>,
        path: &Arc<str>,
        f: impl FnOnce(&mut cdn_core::CacheNode, &mut Vec<Action>),
    ) {
        let mut slot = self.node();
        let mut out = Vec::new();
        f(&mut slot.node, &mut out);
        self.dispatch(&mut slot, &mut out, path);
    }
}
