//! One accepted connection: optional TLS, hyper HTTP/1.1, and the faults.
//!
//! Every request goes to the shared core (`Origin::handle_request`). A normal reply is sent
//! when its `done` time arrives. A fault reply (hang, reset, close, garbage) is handed to
//! the connection task, which takes the stream back from hyper and does the fault on the real
//! socket: hyper reads through a [`SharedIo`] handle, so dropping hyper's connection returns
//! the stream intact, without hyper writing a byte.

use super::{http, relay, Role, Shared};
use cdn_core::origin::OriginReply;
use cdn_core::HttpsListener;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use socket2::SockRef;
use std::convert::Infallible;
use std::io;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// Bound on a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on writing a fault's last bytes (garbage, FIN).
const FAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// What `state = "garbage"` sends: not an HTTP status line, not a TLS record.
pub const GARBAGE: &[u8] = b"\x00\x01\x02\x03 this is not HTTP \xff\xfe\r\n\r\n";

/// A fault the core asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Hang,
    Reset,
    Close,
    Garbage,
}

/// Serves one accepted connection until it ends, the server shuts down, or a fault ends it.
pub(crate) async fn serve(shared: Arc<Shared>, tcp: TcpStream, peer: Ipv4Addr, role: Role) {
    let _ = tcp.set_nodelay(true);
    let (https, cert) = {
        let o = shared.lock_origin();
        (o.config().https, o.config().cert)
    };
    let tls = role == Role::Https && https == HttpsListener::Tls;
    let stream = if tls {
        let acceptor = TlsAcceptor::from(shared.certs.server_config(cert));
        tokio::select! {
            _ = shared.soft.cancelled() => return,
            r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => match r {
                Ok(Ok(s)) => Stream::Tls(Box::new(s)),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => return,
            }
        }
    } else {
        Stream::Plain(tcp)
    };
    serve_http(shared, stream, peer, tls).await;
}

async fn serve_http(shared: Arc<Shared>, stream: Stream, peer: Ipv4Addr, tls: bool) {
    let io = SharedIo(Arc::new(Mutex::new(stream)));
    let (fault_tx, mut fault_rx) = mpsc::channel::<Fault>(1);
    let svc_shared = shared.clone();
    // In front of a real server: this connection's own connection to it.
    let leg = relay::Leg::default();
    let service = service_fn(move |req| {
        let mine = Connection {
            peer,
            tls,
            faults: fault_tx.clone(),
            leg: leg.clone(),
        };
        respond(svc_shared.clone(), mine, req)
    });
    // Boxed, not stack-pinned: dropping it must really drop hyper's handle on the stream.
    let mut conn =
        Box::pin(http1::Builder::new().serve_connection(TokioIo::new(io.clone()), service));
    let mut draining = false;
    let fault = loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            Some(f) = fault_rx.recv() => break f,
            _ = shared.soft.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = shared.hard.cancelled() => return,
        }
    };
    drop(conn);
    let Some(stream) = io.into_inner() else {
        return;
    };
    act(&shared, stream, fault).await;
}

/// What a request's future knows of its connection.
struct Connection {
    peer: Ipv4Addr,
    tls: bool,
    /// Where a fault the core asks for goes (the connection task carries it out).
    faults: mpsc::Sender<Fault>,
    /// The connection to the real server, when there is one.
    leg: relay::Leg,
}

async fn respond(
    shared: Arc<Shared>,
    conn: Connection,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<relay::RelayedBody>, Infallible> {
    let Connection {
        peer,
        tls,
        faults,
        leg,
    } = conn;
    if let Some(due) = crate::timing::stamp(req.headers(), crate::timing::DUE_HEADER) {
        shared.timers.arrived(due);
    }
    let core_req = http::core_request(&req, peer, tls);
    let (reply, snapshot) = {
        let mut o = shared.lock_origin();
        let now = shared.clock.now();
        let reply = match shared.upstream {
            // A real server behind answers conditional requests itself, and says when it
            // is done.
            Some(_) => o.handle_forwarded(now, peer, &core_req),
            None => {
                let conditional = http::validators(req.headers(), &o, now, &shared.clock);
                o.handle_request(now, peer, &core_req, conditional)
            }
        };
        let snapshot = http::Snapshot {
            cache_control: o.config().cache_control.clone(),
        };
        (reply, snapshot)
    };
    let fault = match reply {
        OriginReply::Respond {
            done,
            response,
            rejected_by,
        } => {
            if let Some(by) = rejected_by {
                record_defence(&shared, &req, by);
            }
            if let (Some(upstream), None) = (shared.upstream, rejected_by) {
                // Let through: the real server answers (in its own time), and the request
                // counts as in progress until its answer is sent or abandoned.
                let admitted = relay::Admitted::new(shared.clone(), peer);
                match leg.forward(upstream, peer, req).await {
                    Ok(resp) => return Ok(relay::relayed(resp, shared.clock.now(), admitted)),
                    Err(why) => {
                        tracing::debug!(%peer, "resetting: {}", why.0);
                        Fault::Reset
                    }
                }
            } else {
                shared.timers.sleep_until(done).await;
                let mut resp = http::build(
                    &shared.clock,
                    &shared.chunk,
                    response,
                    rejected_by,
                    &snapshot,
                );
                // When it leaves, for the receiver's emulated link.
                let sent = shared.clock.now().as_nanos();
                resp.headers_mut()
                    .insert(crate::timing::SENT_HEADER, ::http::HeaderValue::from(sent));
                return Ok(relay::own(resp));
            }
        }
        OriginReply::Hang => Fault::Hang,
        OriginReply::Reset => Fault::Reset,
        OriginReply::Close => Fault::Close,
        OriginReply::Garbage => Fault::Garbage,
    };
    let _ = faults.send(fault).await;
    // The connection task drops this future together with hyper's connection.
    std::future::pending().await
}

/// A traced request (the CDN passes the trace header on) turned away by a defence.
fn record_defence(
    shared: &Shared,
    req: &hyper::Request<hyper::body::Incoming>,
    by: cdn_core::origin::Defence,
) {
    let number = req
        .headers()
        .get(crate::trace_sink::TRACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = number {
        let host = shared
            .hostname
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let at = shared.clock.now();
        shared
            .traces
            .record(n, at, &host, cdn_core::TraceEvent::Defended { by });
    }
}

/// Carries out a fault on the stream hyper handed back.
async fn act(shared: &Shared, mut stream: Stream, fault: Fault) {
    match fault {
        Fault::Hang => {
            // Hold the connection, reading and discarding, until the peer gives up or the
            // server shuts down.
            let mut buf = [0u8; 1024];
            let drain = async {
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            };
            tokio::select! {
                _ = drain => {}
                _ = shared.soft.cancelled() => {}
            }
        }
        Fault::Reset => {
            // SO_LINGER {on, 0}: close() sends RST and discards unsent data.
            if let Err(e) = SockRef::from(stream.tcp()).set_linger(Some(Duration::ZERO)) {
                tracing::warn!("SO_LINGER 0 failed, the close will be a FIN: {e}");
            }
        }
        Fault::Close => {
            let _ = tokio::time::timeout(FAULT_WRITE_TIMEOUT, stream.shutdown()).await;
        }
        Fault::Garbage => {
            let _ = tokio::time::timeout(FAULT_WRITE_TIMEOUT, async {
                stream.write_all(GARBAGE).await?;
                stream.shutdown().await
            })
            .await;
        }
    }
    drop(stream);
}

/// The byte stream of a connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A stream shared between hyper and the connection task, so the task can take it back
/// after dropping hyper's connection. The lock is only held inside one poll call.
#[derive(Clone)]
struct SharedIo(Arc<Mutex<Stream>>);

impl SharedIo {
    /// The stream, once every other handle (hyper's) is gone.
    fn into_inner(self) -> Option<Stream> {
        Arc::try_unwrap(self.0)
            .ok()
            .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    fn with<R>(&self, f: impl FnOnce(Pin<&mut Stream>) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(Pin::new(&mut *guard))
    }
}

impl AsyncRead for SharedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for SharedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|s| s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_shutdown(cx))
    }
}
