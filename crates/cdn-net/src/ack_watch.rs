//! The CDN's ACK timeout as a timer of the run, not of the kernel.
//!
//! Cloudflare answers 522 when what it sent on an established connection is not acknowledged
//! within 90 s (a black hole after the handshake). The kernel can fail such a socket itself
//! (`TCP_USER_TIMEOUT`), but it looks only when its retransmission timer fires: measured on
//! loopback with every segment after the handshake dropped, a 1 s, 3 s and 6.33 s user timeout
//! reported `ETIMEDOUT` after 1.43 s, 3.42 s and 6.76 s — about 0.4 s late whatever the value.
//! Real time does not scale: at a time scale of 0.07 that is 6 virtual seconds, long enough
//! for a black hole that clears in the meantime to let a retransmission through to the
//! server, and no lag meter sees it.
//!
//! So the driver arms this timer as it arms every other ([`Timers`], measured like them).
//! [`AckWatch`] notes the virtual time each write left; when the oldest write whose bytes
//! the peer has still not acknowledged (the kernel's count of unacknowledged bytes,
//! `SIOCOUTQ`) is older than the timeout, reads and writes fail with
//! [`io::ErrorKind::TimedOut`] (classified as [`cdn_core::FailureKind::AckTimeout`], as the
//! kernel's own `ETIMEDOUT` would be) and the connection is reset on close (`SO_LINGER` 0),
//! so the kernel does not deliver the request later.

use crate::timing::Timers;
use cdn_core::Instant;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream whose unacknowledged writes time out after a virtual duration.
///
/// Without a timeout it is the stream itself, nothing added.
#[derive(Debug)]
pub struct AckWatch {
    stream: TcpStream,
    watch: Option<Watch>,
}

#[derive(Debug)]
struct Watch {
    timers: Timers,
    /// How long (virtual) written bytes may stay unacknowledged.
    timeout: Duration,
    /// Bytes written so far.
    written: u64,
    /// Writes not yet known to be acknowledged: (offset just past the write, when it left).
    pending: VecDeque<(u64, Instant)>,
    /// The check armed: when, and its real timer.
    check: Option<(Instant, Pin<Box<tokio::time::Sleep>>)>,
    expired: bool,
}

impl AckWatch {
    /// Watches `stream`'s writes: unacknowledged for longer than `timeout` (virtual, on
    /// `timers`' clock) fails the stream. `None`: no ACK timeout.
    pub fn new(stream: TcpStream, timeout: Option<(Timers, Duration)>) -> AckWatch {
        let watch = timeout.map(|(timers, timeout)| Watch {
            timers,
            timeout,
            written: 0,
            pending: VecDeque::new(),
            check: None,
            expired: false,
        });
        AckWatch { stream, watch }
    }

    /// `Ready` with the error once the timeout has passed; `Pending` (woken at the next check)
    /// otherwise.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(w) = self.watch.as_mut() else {
            return Poll::Pending;
        };
        loop {
            if w.expired {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "what was sent was not acknowledged within the ACK timeout",
                ));
            }
            let Some((at, timer)) = w.check.as_mut() else {
                return Poll::Pending;
            };
            ready!(timer.as_mut().poll(cx));
            let now = w.timers.arrived(*at);
            w.check = None;
            // Bytes written but not yet acknowledged (or not yet sent): the oldest of them
            // belong to the oldest pending write.
            let unacknowledged = unacknowledged_bytes(&self.stream).unwrap_or(0);
            let acknowledged = w.written.saturating_sub(unacknowledged);
            while w
                .pending
                .front()
                .is_some_and(|&(end, _)| end <= acknowledged)
            {
                w.pending.pop_front();
            }
            let Some(&(_, sent)) = w.pending.front() else {
                return Poll::Pending;
            };
            let due = sent + w.timeout;
            if due <= now {
                w.expired = true;
                // Closing now sends an RST and drops what the kernel still holds to send:
                // nothing reaches the peer after the CDN gave up.
                let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
            } else {
                w.arm(due);
            }
        }
    }
}

impl Watch {
    fn arm(&mut self, at: Instant) {
        let timer = tokio::time::sleep_until(self.timers.clock().deadline(at));
        self.check = Some((at, Box::pin(timer)));
    }

    /// `n` more bytes left now.
    fn wrote(&mut self, n: usize) {
        let now = self.timers.now();
        self.written += n as u64;
        match self.pending.back_mut() {
            Some((end, sent)) if *sent == now => *end = self.written,
            _ => self.pending.push_back((self.written, now)),
        }
        if self.check.is_none() {
            self.arm(now + self.timeout);
        }
    }
}

/// Bytes written to `stream` that its peer has not acknowledged yet, sent or not
/// (`SIOCOUTQ`: the send sequence number less the oldest unacknowledged one).
#[allow(unsafe_code)]
fn unacknowledged_bytes(stream: &TcpStream) -> io::Result<u64> {
    let mut bytes: libc::c_int = 0;
    // SAFETY: the descriptor stays open while `stream` is borrowed, and TIOCOUTQ (SIOCOUTQ
    // on a TCP socket) writes a single int through the pointer it is given.
    let r = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut bytes) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::try_from(bytes).unwrap_or(0))
}

impl AsyncRead for AckWatch {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Poll::Ready(e) = this.poll_expired(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for AckWatch {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Poll::Ready(e) = this.poll_expired(cx) {
            return Poll::Ready(Err(e));
        }
        let n = ready!(Pin::new(&mut this.stream).poll_write(cx, buf))?;
        if let (Some(w), true) = (this.watch.as_mut(), n > 0) {
            w.wrote(n);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualClock;
    use crate::timing::LagMeter;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn timers() -> Timers {
        Timers::new(VirtualClock::start(1.0).unwrap(), LagMeter::default())
    }

    /// A peer that acknowledges (its kernel does, whether or not anyone reads) never times
    /// out, however long the answer takes.
    #[tokio::test]
    async fn acknowledged_writes_do_not_time_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = [0u8; 5];
            s.read_exact(&mut got).await.unwrap();
            // Answers well after the ACK timeout: only the ACK counts.
            tokio::time::sleep(Duration::from_millis(150)).await;
            s.write_all(b"later").await.unwrap();
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut watched = AckWatch::new(stream, Some((timers(), Duration::from_millis(50))));
        watched.write_all(b"hello").await.unwrap();
        let mut answer = [0u8; 5];
        watched.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"later");
        peer.await.unwrap();
    }

    /// A peer whose window is full acknowledges nothing more: what was written stays
    /// unacknowledged, and at the timeout (virtual; real here, at scale 1) the stream fails
    /// with `TimedOut`, not before.
    #[tokio::test]
    async fn unacknowledged_writes_fail_the_stream_at_the_timeout() {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        // A small receive window fills at once (the kernel rounds it up to a few KiB).
        socket.set_recv_buffer_size(4096).unwrap();
        socket
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        socket.listen(1).unwrap();
        socket.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(socket.into()).unwrap();
        let addr = listener.local_addr().unwrap();
        // The peer accepts and never reads.
        let peer = tokio::spawn(async move { listener.accept().await.unwrap() });
        let stream = TcpStream::connect(addr).await.unwrap();
        let _held = peer.await.unwrap();
        let timeout = Duration::from_millis(100);
        let clock = timers();
        let started = clock.now();
        let mut watched = AckWatch::new(stream, Some((clock.clone(), timeout)));
        // Far more than both socket buffers hold: the write blocks on a full window.
        let e = watched.write_all(&vec![0u8; 64 << 20]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(clock.now() - started >= timeout, "failed early");
        let mut buf = [0u8; 1];
        let e = watched.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "reads fail too");
    }
}
