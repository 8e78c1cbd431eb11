//! One request's task: hand it to the node, then carry out the node's actions for its
//! ticket — connect, send, wait — with real timers, and report each outcome back, until the
//! node answers.

use super::passthrough::{full, full_of, Body, RealCtx};
use super::shared::{Registered, Shared, Submitted};
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
    /// Serves one downstream request: refuses what no reverse proxy serves, then passes it
    /// through to a real upstream or answers it as the model says.
    pub(super) async fn handle(
        self: Arc<Self>,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> hyper::Response<Body> {
        if let Some(refused) = self.refuse(&req) {
            return refused;
        }
        if self.real_spec().is_some() {
            return self.handle_real(req, peer).await;
        }
        self.handle_model(req, peer).await.map(full_of)
    }

    /// Answers what a reverse proxy answers itself (RFC 9112 §3.2: HTTP/1.1 without `Host`
    /// is 400; `CONNECT` is not tunnelled: 501; `TRACE` is refused: 405) and a request for
    /// a host this CDN does not serve (the vendor's answer), or `None`.
    fn refuse(&self, req: &hyper::Request<Incoming>) -> Option<hyper::Response<Body>> {
        let plain = |code: u16, text: &'static str| {
            let mut r = hyper::Response::new(full(Bytes::from_static(text.as_bytes())));
            *r.status_mut() = http::StatusCode::from_u16(code).unwrap_or_default();
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain"),
            );
            r
        };
        let has_host =
            req.headers().contains_key(http::header::HOST) || req.uri().authority().is_some();
        if req.version() == http::Version::HTTP_11 && !has_host {
            return Some(plain(400, "400 Bad Request: HTTP/1.1 requires Host\n"));
        }
        if req.method() == http::Method::CONNECT {
            let mut r = plain(501, "501 Not Implemented: CONNECT is not tunnelled\n");
            r.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            return Some(r);
        }
        if req.method() == http::Method::TRACE {
            return Some(plain(405, "405 Method Not Allowed\n"));
        }
        if self.real_spec().is_some() {
            // In front of a real server every host passes (each is its own cache key).
            return None;
        }
        let host = req
            .uri()
            .authority()
            .map(|a| a.host().to_ascii_lowercase())
            .or_else(|| {
                let h = req.headers().get(http::header::HOST)?.to_str().ok()?;
                let h = h.trim().to_ascii_lowercase();
                Some(match h.rsplit_once(':') {
                    Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
                        name.to_string()
                    }
                    _ => h,
                })
            })?;
        let addressed_directly = host == "localhost"
            || host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<std::net::IpAddr>()
                .is_ok();
        if host == self.origin_host || addressed_directly {
            return None;
        }
        let (code, reason) = self.profile.unknown_host()?;
        let mut r = Response::generated(self.tier, code, reason);
        r.date = self.timers.now().http_date();
        let json = req
            .headers()
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(crate::error_page::wants_json);
        Some(
            self.to_http(&r, CacheStatus::Miss, json)
                .map(super::passthrough::full_of),
        )
    }

    /// Serves one downstream request from the modelled origin.
    async fn handle_model(
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
        let mut downstream = wire::validators(req.headers(), &self.timers.clock());
        let tags = wire::etag_list(req.headers());
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
                // The modelled site is one host (a request for another is refused above,
                // or, as nginx's default server does, served as this one) and the key is the
                // simulator's, so both pick the same parent and egress address.
                key: CacheKey::for_url(&self.origin_host, &path),
                client,
                encoding: wire::encoding(req.headers()),
                eligible,
                object: cdn_core::message::ObjectHint::default(),
            };
            if tags.len() > 1 {
                // A list: the condition is about whichever listed tag the copy has.
                let stored = slot.node.stored_etag(&model);
                let etag = stored.filter(|s| tags.contains(s)).unwrap_or(tags[0]);
                downstream = Some(cdn_core::node::Validators {
                    etag: Some(etag),
                    last_modified: None,
                });
            }
            let reg = self.submit(&mut slot, &model, downstream, trace, &path);
            (reg, model)
        };
        let logged_path = path.clone();
        let (response, status) = match self.answer(reg, model, path, None).await {
            Some((response, status, _)) => (response, status),
            None => (
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
    /// Carries a submitted request to its answer (with the real messages `real`, given back):
    /// at once when the node answered at once, otherwise in a task of its own — if the
    /// downstream goes away (an L1 that gave up, a client that hung up), this node still
    /// finishes the exchange (fills its cache, releases the requests collapsed behind it), as
    /// the model does. `None`: the proxy is shutting down.
    pub(super) async fn answer(
        self: &Arc<Self>,
        submitted: Submitted,
        model: Request,
        path: Arc<str>,
        real: Option<RealCtx>,
    ) -> Option<(Response, CacheStatus, Option<RealCtx>)> {
        let reg = match submitted {
            Submitted::Answered(response, status) => {
                self.count_answer(status);
                return Some((response, status, real));
            }
            Submitted::Pending(reg) => reg,
            Submitted::Held => {
                // Held until the downstream gives up (dropping this future) or the proxy
                // stops.
                self.abort.cancelled().await;
                return None;
            }
        };
        let s = self.clone();
        self.start_answering();
        // The task's own handle carries the answer back (no oneshot to allocate); dropping
        // it, when the downstream goes away, detaches the task, which finishes regardless.
        // Boxed where it is made: the task's state machine is a few kilobytes, and spawning
        // it by value copied it at every layer (tracker, spawn, task cell).
        let task = self.tasks.spawn(Box::pin(async move {
            let trace = reg.trace;
            let mut real = real;
            let (response, status) = match s.carry_out(reg, model, path, &mut real).await {
                Some(answer) => answer,
                None => {
                    let r = Response::generated(s.tier, 503, "proxy shutting down");
                    (r, CacheStatus::Miss)
                }
            };
            s.answered_with(trace, &response, status);
            (response, status, real)
        }));
        task.await.ok()
    }

    pub(super) async fn carry_out(
        self: &Arc<Self>,
        mut reg: Registered,
        req: Request,
        path: Arc<str>,
        real: &mut Option<RealCtx>,
    ) -> Option<(Response, CacheStatus)> {
        let ticket = reg.ticket;
        let mut deadline: Option<cdn_core::Instant> = None;
        // The connection of the current hop, between its Connect and its Send.
        let mut conn: Option<Conn> = None;
        loop {
            // Nearly always the next action is in the mailbox already (this task's own
            // report to the node produced it): take it without building the wait below,
            // whose timer and wait on the abort token take shared locks each time.
            let queued = if self.aborting() {
                None
            } else {
                reg.rx.try_recv().ok()
            };
            let action = match queued {
                Some(a) => Some(a),
                None => tokio::select! {
                    a = reg.rx.recv() => a,
                    now = self.timers.sleep_until(deadline.unwrap_or(cdn_core::Instant::ZERO)),
                        if deadline.is_some() => {
                        deadline = None;
                        self.input(&path, |node, out| node.timer(now, ticket, out));
                        continue;
                    }
                    _ = self.abort.cancelled() => None,
                },
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
                    if let Some(ctx) = real.as_mut() {
                        let r =
                            self.real_request(ctx, req.scheme, conditional, reg.trace, to_origin);
                        match self.real_exchange(&mut c, r, ctx, &req, until).await {
                            Ok((resp, free)) => {
                                // A body still streaming keeps its connection busy.
                                if free && (!to_origin || self.keepalive()) {
                                    self.give_back(c);
                                }
                                let now = self.timers.now();
                                let rekey = ctx.rekey.take();
                                self.input(&path, |node, out| {
                                    node.answered(now, ticket, hop, &resp, out);
                                    if let Some((from, to)) = rekey {
                                        node.rekey(from, to);
                                    }
                                    self.keep_if_stored(node, now, ctx);
                                });
                            }
                            Err(e) => self.hop_ended(&path, ticket, hop, e),
                        }
                        continue;
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
