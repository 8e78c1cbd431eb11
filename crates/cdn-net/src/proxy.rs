//! Real L1 and L2 cache proxies: hyper servers on loopback whose every caching decision is
//! made by a `cdn-core` [`CacheNode`] — the same state machine the simulator drives.
//!
//! Each request gets a ticket and a mailbox. The node (behind a mutex) returns
//! [`Action`]s; each is delivered to the mailbox of the request it names, so a request that
//! finishes can release requests collapsed behind it that other tasks are holding. A request
//! task carries out its own actions: forward upstream (without holding the lock), wait for
//! a collapse deadline, or answer.
//!
//! Upstream, an L1 talks plain HTTP to its parent L2 (chosen by rendezvous hashing, as in the
//! model); an L2 resolves the origin through the in-process [`Resolver`], picks an egress
//! address with the model's [`CacheNode::take_connection`] (so keepalive reuse and egress
//! selection match the simulator), binds it as the source address, connects with the
//! profile's connect timeout, speaks TLS per the SSL mode (no verification in `full`, full
//! verification in `strict`), and classifies what the kernel and the peer did into a
//! [`FailureKind`] that the profile turns into a status code.

use crate::certs::{cert_problem_io, Certificates};
use crate::clock::VirtualClock;
use crate::resolver::Resolver;
use crate::wire::{self, Stamp};
use bytes::Bytes;
use cdn_core::cache::CachePolicy;
use cdn_core::node::{Action, Ticket, Validators};
use cdn_core::topology::nth_parent;
use cdn_core::{
    CacheKey, CacheNode, CacheStatus, CdnConfig, FailureKind, Method, NodeState, ParentErrorPolicy,
    Profile, Request, Response, Scheme, Tier, Timeouts,
};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a proxy forwards to.
#[derive(Clone, Debug)]
pub enum Upstream {
    /// An L1: its L2 parents, in configuration order (name, address).
    Parents(Vec<(String, SocketAddr)>),
    /// An L2: the origin, by hostname through the resolver.
    Origin,
}

/// Settings an `[[event]]` may change while the proxy runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `[cdn]` section.
    pub cdn: CdnConfig,
    /// Caching choices resolved for the profile.
    pub policy: CachePolicy,
    /// Timeouts resolved for the profile.
    pub timeouts: Timeouts,
    /// This node's state (an L2 may be `down` or `hung`).
    pub state: NodeState,
}

/// Everything a proxy needs to start.
pub struct ProxySpec {
    /// L1 or L2.
    pub tier: Tier,
    /// The model node (its name, cache, egress pool).
    pub node: CacheNode,
    /// The loopback address to listen on.
    pub listen: Ipv4Addr,
    /// The vendor profile.
    pub profile: Profile,
    /// Initial settings.
    pub settings: Settings,
    /// What it forwards to.
    pub upstream: Upstream,
    /// The origin's hostname (cache keys and TLS server name).
    pub origin_host: String,
    /// Where the origin lives.
    pub resolver: Resolver,
    /// Certificates and the trust the proxies have.
    pub certs: Arc<Certificates>,
    /// Virtual time.
    pub clock: VirtualClock,
}

type Sender = SendRequest<Full<Bytes>>;

struct NodeSlot {
    node: CacheNode,
    mailboxes: HashMap<Ticket, UnboundedSender<Action>>,
    next_ticket: Ticket,
    /// Idle upstream connections by (source address, destination port), most recent last.
    idle: HashMap<(Ipv4Addr, u16), Vec<Sender>>,
}

struct Shared {
    tier: Tier,
    name: String,
    profile: Profile,
    clock: VirtualClock,
    settings: RwLock<Settings>,
    slot: Mutex<NodeSlot>,
    upstream: Upstream,
    origin_host: String,
    resolver: Resolver,
    certs: Arc<Certificates>,
    /// Stop accepting; connections finish their in-flight request, then close.
    shutdown: CancellationToken,
    /// The grace period is over: abort whatever still waits.
    abort: CancellationToken,
    tasks: TaskTracker,
    /// Answers sent downstream, by cache status (`CacheStatus::index`).
    answered: Mutex<[u64; 8]>,
}

/// A running proxy.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Binds `spec.listen:0` and starts serving.
    pub async fn start(spec: ProxySpec) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind((spec.listen, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            tier: spec.tier,
            name: spec.node.name().to_string(),
            profile: spec.profile,
            clock: spec.clock,
            settings: RwLock::new(spec.settings),
            slot: Mutex::new(NodeSlot {
                node: spec.node,
                mailboxes: HashMap::new(),
                next_ticket: 0,
                idle: HashMap::new(),
            }),
            upstream: spec.upstream,
            origin_host: spec.origin_host,
            resolver: spec.resolver,
            certs: spec.certs,
            shutdown: CancellationToken::new(),
            abort: CancellationToken::new(),
            tasks: TaskTracker::new(),
            answered: Mutex::new([0; 8]),
        });
        let s = shared.clone();
        shared.tasks.spawn(accept_loop(s, listener));
        Ok(Proxy { addr, shared })
    }

    /// The address clients (or the L1 tier) connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// How many requests this proxy answered with each cache status, indexed by
    /// [`CacheStatus::index`].
    pub fn answered(&self) -> [u64; 8] {
        *lock(&self.shared.answered)
    }

    /// Applies new settings (an `[[event]]`).
    pub fn update(&self, settings: Settings) {
        let mut slot = lock(&self.shared.slot);
        slot.node.set_state(settings.state);
        slot.idle.clear();
        *self
            .shared
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner()) = settings;
    }

    /// Forgets pooled upstream connections (the origin restarted).
    pub fn drop_connections(&self) {
        let mut slot = lock(&self.shared.slot);
        slot.node.drop_connections();
        slot.idle.clear();
    }

    /// Stops accepting, lets in-flight requests finish for up to `grace`, then aborts what
    /// is left and closes everything. Returns how many requests were cut off.
    pub async fn shutdown(self, grace: Duration) -> usize {
        self.shared.shutdown.cancel();
        self.shared.tasks.close();
        // Idle upstream connections would keep their driver tasks alive: close them now
        // (requests in flight keep theirs, and their connections are closed when they end).
        lock(&self.shared.slot).idle.clear();
        let mut cut = 0;
        if tokio::time::timeout(grace, self.shared.tasks.wait())
            .await
            .is_err()
        {
            cut = self.shared.tasks.len();
            tracing::warn!(proxy = %self.shared.name, cut, "requests cut off at shutdown");
            self.shared.abort.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(1), self.shared.tasks.wait()).await;
        }
        lock(&self.shared.slot).idle.clear();
        cut
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        if shared.settings().state == NodeState::Down {
            // A node that is down does not answer; drop the connection at once.
            drop(stream);
            continue;
        }
        let s = shared.clone();
        let s_shutdown = shared.shutdown.clone();
        shared.tasks.spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let s = s.clone();
                async move { Ok::<_, hyper::Error>(s.handle(req, peer).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            let soft = s_shutdown.clone();
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = soft.cancelled() => {
                    // Finish the request in flight on this connection, then close it.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

impl Shared {
    fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Delivers actions to the requests they name; starts background revalidations (which
    /// always concern `path`: the URL whose lookup asked for them).
    fn dispatch(self: &Arc<Self>, slot: &mut NodeSlot, out: &mut Vec<Action>, path: &Arc<str>) {
        for action in out.drain(..) {
            let ticket = match &action {
                Action::Answer { ticket, .. }
                | Action::Forward { ticket, .. }
                | Action::Wait { ticket, .. } => *ticket,
                Action::Note { .. } => continue,
                Action::Revalidate { req, conditional } => {
                    let (req, conditional) = (*req, *conditional);
                    let (tx, rx) = unbounded_channel();
                    let ticket = slot.next_ticket;
                    slot.next_ticket += 1;
                    slot.mailboxes.insert(ticket, tx);
                    let mut more = Vec::new();
                    let now = self.clock.now();
                    slot.node
                        .receive_background(now, ticket, &req, conditional, &mut more);
                    let s = self.clone();
                    let p = path.clone();
                    self.tasks.spawn(async move {
                        let _ = s.run_request(ticket, req, p, rx).await;
                    });
                    self.dispatch(slot, &mut more, path);
                    continue;
                }
            };
            if let Some(tx) = slot.mailboxes.get(&ticket) {
                let _ = tx.send(action);
            }
        }
    }

    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> hyper::Response<Full<Bytes>> {
        let settings = self.settings();
        if settings.state == NodeState::Hung {
            // Accepts and reads the request, never answers (until shutdown ends).
            self.abort.cancelled().await;
        }
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
        let model = Request {
            method: Method::from(req.method()),
            scheme,
            key: CacheKey::for_url(&self.origin_host, &path),
            client,
            encoding: wire::encoding(req.headers()),
            eligible: settings.policy.eligibility.allows(&path),
        };
        let downstream = wire::validators(req.headers(), &self.clock);
        let (tx, rx) = unbounded_channel();
        let ticket = {
            let mut slot = lock(&self.slot);
            let ticket = slot.next_ticket;
            slot.next_ticket += 1;
            slot.mailboxes.insert(ticket, tx);
            let mut out = Vec::new();
            let now = self.clock.now();
            let collapse = settings.cdn.collapse;
            slot.node.receive(
                now,
                &settings.policy,
                collapse,
                ticket,
                &model,
                downstream,
                false,
                &mut out,
            );
            self.dispatch(&mut slot, &mut out, &path);
            ticket
        };
        let (response, status) = match self.run_request(ticket, model, path, rx).await {
            Some(answer) => answer,
            None => {
                let r = Response::generated(self.tier, 503, "proxy shutting down");
                (r, CacheStatus::Miss)
            }
        };
        lock(&self.answered)[status.index()] += 1;
        self.to_http(&response, status)
    }

    /// Carries out the node's actions for `ticket` until it is answered.
    async fn run_request(
        self: &Arc<Self>,
        ticket: Ticket,
        req: Request,
        path: Arc<str>,
        mut rx: UnboundedReceiver<Action>,
    ) -> Option<(Response, CacheStatus)> {
        let mut deadline: Option<cdn_core::Instant> = None;
        loop {
            let action = match deadline {
                Some(until) => tokio::select! {
                    a = rx.recv() => a,
                    _ = tokio::time::sleep_until(self.clock.deadline(until)) => {
                        deadline = None;
                        let mut slot = lock(&self.slot);
                        let mut out = Vec::new();
                        slot.node.collapse_timeout(self.clock.now(), ticket, &mut out);
                        self.dispatch(&mut slot, &mut out, &path);
                        continue;
                    }
                    _ = self.abort.cancelled() => None,
                },
                None => tokio::select! {
                    a = rx.recv() => a,
                    _ = self.abort.cancelled() => None,
                },
            };
            let Some(action) = action else {
                lock(&self.slot).mailboxes.remove(&ticket);
                return None;
            };
            match action {
                Action::Answer {
                    response, status, ..
                } => {
                    lock(&self.slot).mailboxes.remove(&ticket);
                    return Some((response, status));
                }
                Action::Wait { until, .. } => deadline = Some(until),
                Action::Forward { conditional, .. } => {
                    deadline = None;
                    let settings = self.settings();
                    let result = self.fetch(&req, &path, conditional, &settings).await;
                    let now = self.clock.now();
                    let mut slot = lock(&self.slot);
                    let mut out = Vec::new();
                    match result {
                        Ok(resp) => {
                            slot.node
                                .answered(now, &settings.policy, ticket, &resp, &mut out)
                        }
                        Err(kind) => {
                            let generated = self.generated_error(kind, &settings).dated(now);
                            slot.node
                                .failed(now, &settings.policy, ticket, &generated, &mut out)
                        }
                    }
                    self.dispatch(&mut slot, &mut out, &path);
                }
                Action::Note { .. } | Action::Revalidate { .. } => {}
            }
        }
    }

    fn generated_error(&self, kind: FailureKind, settings: &Settings) -> Response {
        let mut e = self.profile.error_for(kind);
        if let (FailureKind::Certificate(_), Some(s)) = (kind, settings.cdn.cert_error_status) {
            e.status = s;
        }
        Response::generated(self.tier, e.status, e.reason)
    }

    fn to_http(&self, resp: &Response, status: CacheStatus) -> hyper::Response<Full<Bytes>> {
        let age = match self.tier {
            // To clients: the vendor's rule. Between tiers: always, as RFC 9111 requires.
            Tier::L1 => self.profile.age_header(status, resp),
            _ => resp.age_header(),
        };
        let stamp = Stamp {
            node: &self.name,
            status: Some(status),
            age,
        };
        let headers = wire::headers_for(resp, &stamp, &self.clock);
        let body = if resp.status == 304 {
            Bytes::new()
        } else {
            wire::body(resp.body_len)
        };
        let mut r = hyper::Response::new(Full::new(body));
        *r.status_mut() =
            http::StatusCode::from_u16(resp.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
        *r.headers_mut() = headers;
        r
    }

    // ----- upstream ---------------------------------------------------------------------------

    async fn fetch(
        self: &Arc<Self>,
        req: &Request,
        path: &str,
        conditional: Option<Validators>,
        settings: &Settings,
    ) -> Result<Response, FailureKind> {
        match &self.upstream {
            Upstream::Origin => self.fetch_origin(req, path, conditional, settings).await,
            Upstream::Parents(parents) => {
                let first = nth_parent(req.key, parents.len(), 0);
                let answer = self
                    .fetch_parent(&parents[first], req, path, conditional, settings)
                    .await;
                let parent_failed = match &answer {
                    Err(_) => true,
                    Ok(r) => r.generated_by == Tier::L2 && r.is_server_error(),
                };
                if !parent_failed {
                    return answer;
                }
                match settings.cdn.on_parent_error {
                    ParentErrorPolicy::Relay => answer,
                    ParentErrorPolicy::NextParent if parents.len() > 1 => {
                        let next = nth_parent(req.key, parents.len(), 1);
                        self.fetch_parent(&parents[next], req, path, conditional, settings)
                            .await
                    }
                    ParentErrorPolicy::NextParent => answer,
                    ParentErrorPolicy::GoDirect => {
                        self.fetch_origin(req, path, conditional, settings).await
                    }
                }
            }
        }
    }

    fn scaled(&self, d: Duration) -> Duration {
        self.clock.real_duration(d)
    }

    async fn fetch_parent(
        &self,
        (_, addr): &(String, SocketAddr),
        req: &Request,
        path: &str,
        conditional: Option<Validators>,
        settings: &Settings,
    ) -> Result<Response, FailureKind> {
        let t = &settings.timeouts;
        let SocketAddr::V4(v4) = addr else {
            return Err(FailureKind::Refused);
        };
        // Connections between tiers are kept warm, as the model assumes: reuse an idle one.
        let key = (*v4.ip(), v4.port());
        let pooled = lock(&self.slot)
            .idle
            .get_mut(&key)
            .and_then(|v| v.pop())
            .filter(|s| !s.is_closed());
        let mut sender = match pooled {
            Some(s) => s,
            None => {
                let socket = TcpSocket::new_v4().map_err(|e| wire::connect_failure(&e))?;
                let stream =
                    match tokio::time::timeout(self.scaled(t.connect), socket.connect(*addr)).await
                    {
                        Err(_) => return Err(FailureKind::ConnectTimeout),
                        Ok(Err(e)) => return Err(wire::connect_failure(&e)),
                        Ok(Ok(s)) => s,
                    };
                self.http1(stream).await?
            }
        };
        let upstream_req = self.upstream_request(req, path, conditional);
        let result = self
            .exchange(&mut sender, upstream_req, t.parent_read)
            .await;
        if result.is_ok() && !sender.is_closed() && !self.shutdown.is_cancelled() {
            lock(&self.slot).idle.entry(key).or_default().push(sender);
        }
        result
    }

    fn upstream_request(
        &self,
        req: &Request,
        path: &str,
        conditional: Option<Validators>,
    ) -> hyper::Request<Full<Bytes>> {
        let mut r = hyper::Request::new(Full::new(Bytes::new()));
        *r.uri_mut() = path.parse().unwrap_or_else(|_| "/".parse().expect("valid"));
        *r.method_mut() = match req.method {
            Method::Get => http::Method::GET,
            Method::Head => http::Method::HEAD,
            Method::Other => http::Method::POST,
        };
        let h = r.headers_mut();
        if let Ok(v) = http::HeaderValue::from_str(&self.origin_host) {
            h.insert(http::header::HOST, v);
        }
        h.insert(
            http::header::ACCEPT_ENCODING,
            http::HeaderValue::from_static(wire::accept_encoding(req.encoding)),
        );
        h.insert(
            "x-forwarded-proto",
            http::HeaderValue::from_static(req.scheme.as_str()),
        );
        if let Some(v) = conditional {
            wire::add_validators(h, &v, &self.clock);
        }
        r
    }

    async fn exchange(
        &self,
        sender: &mut Sender,
        req: hyper::Request<Full<Bytes>>,
        read_timeout: Duration,
    ) -> Result<Response, FailureKind> {
        let resp =
            match tokio::time::timeout(self.scaled(read_timeout), sender.send_request(req)).await {
                Err(_) => return Err(FailureKind::ReadTimeout),
                Ok(Err(e)) => return Err(wire::exchange_failure(&e)),
                Ok(Ok(r)) => r,
            };
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| wire::exchange_failure(&e))?;
        let len = body.to_bytes().len() as u64;
        Ok(wire::response_from_http(
            parts.status.as_u16(),
            &parts.headers,
            len,
            &self.clock,
        ))
    }

    async fn fetch_origin(
        self: &Arc<Self>,
        req: &Request,
        path: &str,
        conditional: Option<Validators>,
        settings: &Settings,
    ) -> Result<Response, FailureKind> {
        let leg = settings.cdn.ssl_mode.origin_leg(req.scheme);
        let addr = self
            .resolver
            .resolve(&self.origin_host, leg.port)
            .map_err(|_| FailureKind::Dns)?;
        let t = &settings.timeouts;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (src, reused) =
                lock(&self.slot)
                    .node
                    .take_connection(req, leg.port, settings.cdn.keepalive);
            let pooled = reused
                .then(|| {
                    lock(&self.slot)
                        .idle
                        .get_mut(&(src, leg.port))
                        .and_then(|v| v.pop())
                })
                .flatten()
                .filter(|s| !s.is_closed());
            let mut sender = match pooled {
                Some(s) => s,
                None => match self.connect_origin(src, addr, leg.tls, leg.verify, t).await {
                    Ok(s) => s,
                    Err(kind) if kind.is_connect_failure() && attempt < t.connect_attempts => {
                        continue
                    }
                    Err(kind) => return Err(kind),
                },
            };
            let upstream_req = self.upstream_request(req, path, conditional);
            let result = self.exchange(&mut sender, upstream_req, t.read).await;
            let open = !self.shutdown.is_cancelled();
            if result.is_ok() && settings.cdn.keepalive && open && !sender.is_closed() {
                let mut slot = lock(&self.slot);
                slot.node.return_connection(src, leg.port);
                slot.idle.entry((src, leg.port)).or_default().push(sender);
            }
            return result;
        }
    }

    /// An HTTP/1.1 client connection over `io`; its driver task ends when the sender is
    /// dropped (or the peer closes).
    async fn http1<T>(&self, io: T) -> Result<Sender, FailureKind>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| wire::exchange_failure(&e))?;
        self.tasks.spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    async fn connect_origin(
        &self,
        src: Ipv4Addr,
        addr: SocketAddr,
        tls: bool,
        verify: bool,
        t: &Timeouts,
    ) -> Result<Sender, FailureKind> {
        let socket = TcpSocket::new_v4().map_err(|e| wire::connect_failure(&e))?;
        socket
            .bind(SocketAddr::from((src, 0)))
            .map_err(|e| wire::connect_failure(&e))?;
        let stream = match tokio::time::timeout(self.scaled(t.connect), socket.connect(addr)).await
        {
            Err(_) => return Err(FailureKind::ConnectTimeout),
            Ok(Err(e)) => return Err(wire::connect_failure(&e)),
            Ok(Ok(s)) => s,
        };
        if !tls {
            return self.http1(stream).await;
        }
        let config = self
            .certs
            .client_config(verify, self.profile.trusts_origin_ca());
        let name = rustls::pki_types::ServerName::try_from(self.origin_host.clone())
            .map_err(|_| FailureKind::TlsHandshake)?;
        let handshake = TlsConnector::from(config).connect(name, stream);
        let tls_stream = match tokio::time::timeout(self.scaled(t.read), handshake).await {
            Err(_) => return Err(FailureKind::ReadTimeout),
            Ok(Err(e)) => {
                return Err(match cert_problem_io(&e) {
                    Some(p) => FailureKind::Certificate(p),
                    None => FailureKind::TlsHandshake,
                })
            }
            Ok(Ok(s)) => s,
        };
        self.http1(tls_stream).await
    }
}
