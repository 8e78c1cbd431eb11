//! Stored bodies kept in sealed memory files, so that a cache hit sends them with
//! `sendfile(2)` instead of copying them into the socket.
//!
//! A body the proxy stores is written once into a `memfd` (an anonymous in-memory file),
//! sealed against any further change (`F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW`) and
//! mapped read-only; the [`Bytes`] the store keeps point into that mapping. Everything that
//! reads a stored body — hyper, TLS, the tests — sees ordinary bytes. Only a plain-TCP
//! client connection looks further: when hyper hands it a buffer that lies in a sealed body
//! ([`poll_write_sealed`]), it sends the head before it with `writev` (flagged `MSG_MORE`,
//! so the kernel coalesces it with what follows) and the body with `sendfile` from the
//! file, at the buffer's offset. The kernel then passes the file's pages to the socket
//! instead of copying the bytes from user memory, which is what nginx does for its cache
//! files (`sendfile on`). On a 100 KiB hit that copy was 30 % of the proxy's CPU
//! (`docs/performance.md`).
//!
//! Bounded: only bodies of at least [`MIN_SEALED`] bytes are sealed (below that a copy is
//! cheaper than a second system call), and at most a quarter of the process's file
//! descriptors (and never more than [`MAX_SEALED`]) are held by sealed bodies at once; past
//! that a body stays in ordinary memory and is sent by copy, as before. A body that cannot
//! be sealed for any reason (no `memfd`, out of memory) is kept the ordinary way: sealing
//! changes how a body is sent, never whether it is.

use bytes::Bytes;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{ready, Context, Poll};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Bodies shorter than this are kept in ordinary memory: a copy of a few pages costs less
/// than the extra `sendfile` call.
pub const MIN_SEALED: usize = 16 * 1024;

/// At most this many sealed bodies at once (each holds a descriptor and a mapping; Linux
/// allows 65,530 mappings per process by default).
pub const MAX_SEALED: usize = 16 * 1024;

/// A sealed file and where it is mapped.
struct Region {
    len: usize,
    file: Arc<File>,
}

/// Every live sealed body, by the address its mapping starts at.
fn regions() -> &'static RwLock<BTreeMap<usize, Region>> {
    static REGIONS: OnceLock<RwLock<BTreeMap<usize, Region>>> = OnceLock::new();
    REGIONS.get_or_init(|| RwLock::new(BTreeMap::new()))
}

/// How many sealed bodies are alive (read without the lock: zero means no buffer can be
/// one, which is the common case of a proxy that stores only small bodies).
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The most sealed bodies this process holds at once: a quarter of its descriptors.
fn cap() -> usize {
    static CAP: OnceLock<usize> = OnceLock::new();
    *CAP.get_or_init(|| {
        use nix::sys::resource::{getrlimit, Resource};
        let nofile = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
        usize::try_from(nofile / 4)
            .unwrap_or(MAX_SEALED)
            .min(MAX_SEALED)
    })
}

/// The owner of a sealed body's mapping: unregisters it, then unmaps and closes it.
struct Sealed {
    map: memmap2::Mmap,
    _file: Arc<File>,
}

impl AsRef<[u8]> for Sealed {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for Sealed {
    fn drop(&mut self) {
        // Out of the registry before the address can be reused by another mapping.
        let start = self.map.as_ptr() as usize;
        regions()
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&start);
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `body` in a sealed memory file, if it is large enough and the cap allows; otherwise
/// `body` itself. The bytes are the same either way.
///
/// ```
/// use bytes::Bytes;
/// let body = Bytes::from(vec![7u8; 64 * 1024]);
/// let kept = cdn_net::sealed::seal(body.clone());
/// assert_eq!(kept, body);
/// assert!(cdn_net::sealed::is_sealed(&kept));
/// assert!(!cdn_net::sealed::is_sealed(&cdn_net::sealed::seal(Bytes::from_static(b"small"))));
/// ```
pub fn seal(body: Bytes) -> Bytes {
    if body.len() < MIN_SEALED || LIVE.load(Ordering::Relaxed) >= cap() {
        return body;
    }
    match seal_into_file(&body) {
        Ok(sealed) => sealed,
        Err(e) => {
            tracing::debug!("body of {} bytes kept unsealed: {e}", body.len());
            body
        }
    }
}

#[allow(unsafe_code)]
fn seal_into_file(body: &[u8]) -> io::Result<Bytes> {
    let fd = memfd_create(
        c"cdn-net-body",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )?;
    let mut file = File::from(fd);
    file.write_all(body)?;
    fcntl(
        file.as_raw_fd(),
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_WRITE
                | SealFlag::F_SEAL_SHRINK
                | SealFlag::F_SEAL_GROW
                | SealFlag::F_SEAL_SEAL,
        ),
    )?;
    // SAFETY: a mapping is unsound only if the file changes under it. This file has no name
    // and no descriptor outside this process (close-on-exec), and its seals forbid writes,
    // truncation and growth to everyone — this process included — for as long as it exists.
    let map = unsafe { memmap2::MmapOptions::new().len(body.len()).map(&file)? };
    let file = Arc::new(file);
    let start = map.as_ptr() as usize;
    regions().write().unwrap_or_else(|e| e.into_inner()).insert(
        start,
        Region {
            len: map.len(),
            file: file.clone(),
        },
    );
    LIVE.fetch_add(1, Ordering::Relaxed);
    Ok(Bytes::from_owner(Sealed { map, _file: file }))
}

/// Whether `bytes` lie in a sealed body (all of them).
pub fn is_sealed(bytes: &[u8]) -> bool {
    find(bytes).is_some()
}

/// The sealed file holding `bytes`, and their offset in it.
fn find(bytes: &[u8]) -> Option<(Arc<File>, usize)> {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let at = bytes.as_ptr() as usize;
    let regions = regions().read().unwrap_or_else(|e| e.into_inner());
    let (&start, region) = regions.range(..=at).next_back()?;
    let offset = at - start;
    (offset + bytes.len() <= region.len).then(|| (region.file.clone(), offset))
}

/// Writes `bufs` to `stream` if one of them lies in a sealed body, as
/// [`tokio::io::AsyncWrite::poll_write_vectored`] would but sending that buffer with
/// `sendfile` from its file: the buffers before it are written first (with `MSG_MORE`), and
/// the call returns after either part, as a partial write — hyper calls again for the rest.
/// `None`: no buffer is sealed; the caller writes them the ordinary way.
pub fn poll_write_sealed(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Option<Poll<io::Result<usize>>> {
    let (i, (file, offset)) = bufs
        .iter()
        .enumerate()
        .filter(|(_, b)| b.len() >= MIN_SEALED)
        .find_map(|(i, b)| find(b).map(|f| (i, f)))?;
    if i > 0 {
        return Some(poll_io(stream, cx, || {
            socket2::SockRef::from(stream).send_vectored_with_flags(&bufs[..i], libc::MSG_MORE)
        }));
    }
    let len = bufs[0].len();
    Some(poll_io(stream, cx, || {
        let mut at = libc::off_t::try_from(offset).map_err(io::Error::other)?;
        Ok(nix::sys::sendfile::sendfile(
            stream,
            &*file,
            Some(&mut at),
            len,
        )?)
    }))
}

/// Runs the non-blocking write `f` once `stream` is writable, waiting again when the kernel
/// says it would block.
fn poll_io(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    mut f: impl FnMut() -> io::Result<usize>,
) -> Poll<io::Result<usize>> {
    loop {
        ready!(stream.poll_write_ready(cx))?;
        match stream.try_io(Interest::WRITABLE, &mut f) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return Poll::Ready(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A body whose every byte depends on its position, so a shifted or torn send shows.
    fn patterned(len: usize) -> Bytes {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn a_large_body_is_sealed_with_its_bytes_and_a_small_one_is_not() {
        let body = patterned(MIN_SEALED);
        let sealed = seal(body.clone());
        assert_eq!(sealed, body);
        assert_ne!(sealed.as_ptr(), body.as_ptr(), "a copy in the mapping");
        assert!(is_sealed(&sealed));
        // Any part of it is found, at its offset.
        let part = sealed.slice(1000..5000);
        let (_, offset) = find(&part).unwrap();
        assert_eq!(offset, 1000);
        let small = patterned(MIN_SEALED - 1);
        assert_eq!(seal(small.clone()).as_ptr(), small.as_ptr());
        assert!(
            !is_sealed(&body),
            "ordinary memory is not taken for a sealed body"
        );
    }

    #[test]
    fn the_file_is_sealed_against_writes() {
        let sealed = seal(patterned(MIN_SEALED * 2));
        let (file, _) = find(&sealed).unwrap();
        let mut f: &File = &file;
        assert!(f.write_all(b"x").is_err(), "F_SEAL_WRITE refuses writes");
        assert!(file.set_len(1).is_err(), "F_SEAL_SHRINK refuses truncation");
    }

    #[test]
    fn dropping_the_last_copy_unregisters_and_closes_the_file() {
        let sealed = seal(patterned(MIN_SEALED * 3));
        let copy = sealed.slice(10..);
        let file = Arc::downgrade(&find(&sealed).unwrap().0);
        drop(sealed);
        assert!(file.upgrade().is_some(), "a slice still holds it");
        drop(copy);
        // The registry held a strong reference too: none left means it is out of the
        // registry and the descriptor is closed.
        assert!(file.upgrade().is_none());
    }

    /// Sends `head` and `body` through `poll_write_sealed` as hyper would (calling again
    /// after every partial write) and returns what the peer read.
    async fn send_through_loopback(head: &[u8], body: &[u8]) -> (Vec<u8>, usize) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let total = head.len() + body.len();
        let reader = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut h, mut b) = (head, body);
        let mut by_sendfile = 0;
        while !h.is_empty() || !b.is_empty() {
            let bufs = [IoSlice::new(h), IoSlice::new(b)];
            let bufs: Vec<_> = bufs.into_iter().filter(|s| !s.is_empty()).collect();
            let (n, sealed) =
                std::future::poll_fn(|cx| match poll_write_sealed(&stream, cx, &bufs) {
                    Some(p) => p.map(|r| r.map(|n| (n, h.is_empty()))),
                    None => Poll::Ready(Ok((0, false))),
                })
                .await
                .unwrap();
            assert!(
                n > 0,
                "a sealed body is in the buffers, so they are sent here"
            );
            if sealed {
                by_sendfile += n;
            }
            let from_head = n.min(h.len());
            h = &h[from_head..];
            b = &b[n - from_head..];
        }
        drop(stream);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), total);
        (got, by_sendfile)
    }

    #[tokio::test]
    async fn a_sealed_body_goes_out_by_sendfile_after_its_head_byte_exact() {
        // 4 MiB: more than a loopback socket buffer takes at once, so some sends are
        // partial and resume at an offset inside the file.
        let body = seal(patterned(4 << 20));
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 4194304\r\n\r\n";
        let (got, by_sendfile) = send_through_loopback(head, &body).await;
        assert_eq!(&got[..head.len()], head);
        assert!(
            got[head.len()..] == body[..],
            "the body arrives byte for byte"
        );
        assert_eq!(by_sendfile, body.len(), "all of the body went by sendfile");
        // From an offset inside the file (hyper advanced past a partial write).
        let part = body.slice(123_457..);
        let (got, by_sendfile) = send_through_loopback(b"", &part).await;
        assert!(got == part[..]);
        assert_eq!(by_sendfile, part.len());
    }

    #[tokio::test]
    async fn ordinary_buffers_are_left_to_the_caller() {
        let stream_pair = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(stream_pair.local_addr().unwrap())
            .await
            .unwrap();
        let plain = patterned(MIN_SEALED * 2);
        let none = std::future::poll_fn(|cx| {
            Poll::Ready(poll_write_sealed(&stream, cx, &[IoSlice::new(&plain)]).is_none())
        })
        .await;
        assert!(none);
    }
}
