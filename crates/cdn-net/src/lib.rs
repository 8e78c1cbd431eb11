//! # cdn-net: the cdn-core origin over real TCP, HTTP and TLS on loopback
//!
//! ```text
//!  proxy (L2) ── TCP from 127.0.1.x ──► OriginServer on 127.0.0.x ──► cdn_core::Origin
//!                                         two ports (play 80 / 443)      (one, behind a mutex:
//!                                         hyper HTTP/1.1, rustls TLS      limit_req, limit_conn,
//!                                         faults made by the kernel       workers, state, 304s)
//! ```
//!
//! The simulator (`cdn-sim`) asks `cdn_core::Origin` what *would* happen; this crate makes it
//! happen. A `down` origin is a port nobody listens on, so the proxy's `connect()` really
//! gets `ECONNREFUSED`; a firewall DROP is a BPF filter that really discards the SYN; a full
//! accept queue is really full. Every request is still decided by the same core, with virtual
//! time taken from a [`VirtualClock`], so the two modes agree by construction.
//!
//! ## Layout
//! | module | one job |
//! |---|---|
//! | [`origin`] | [`OriginServer`]: ports, listeners, connections, faults, reconfiguration, shutdown |
//! | [`certs`] | [`Certificates`]: rcgen CAs and leaves per [`cdn_core::CertState`]; rustls configs |
//! | [`clock`] | [`VirtualClock`]: real time ↔ virtual [`cdn_core::Instant`] and HTTP dates |
//! | [`resolver`] | [`Resolver`]: the in-process DNS (`dns_failure` = name absent) |
//! | [`proxy`] | [`Proxy`]: real L1/L2 cache proxies driving `cdn_core::CacheNode` |
//! | [`event_loops`] | [`EventLoops`]: single-threaded runtimes the proxies serve connections on (nginx's workers) |
//! | [`link`] | [`Links`]: the emulated latency of `[network]`'s links |
//! | [`calibrate`](mod@calibrate) | [`calibrate()`]: how late this machine's timers are, through the real path |
//! | [`timing`] | [`Timers`], [`LagMeter`]: real timers for virtual instants, and how late they fire |
//! | [`trace_sink`] | [`TraceSink`]: hop-by-hop stories of traced requests, from every tier |
//! | [`topology`] | [`NetCdn`]: origin + L2 shields + L1 edges on loopback, one clock |
//! | [`run`](mod@run) | real HTTP clients sending a scenario's arrivals; events applied live |
//! | [`wire`] | model responses ⇄ HTTP headers; I/O errors → `FailureKind` |
//! | [`bpf`] | classic BPF socket filter: per-source DROP without privileges |
//! | [`netns`] | nftables REJECT and unreachable routes, only inside a private network namespace |
//! | [`error`] | [`NetError`] |
//! | [`error_page`] | the vendor's error page (HTML) or JSON for a generated error |
//!
//! The full story, with what needs root, is in `docs/net.md`.
//!
//! ## Example: a `down` origin really refuses
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), cdn_net::NetError> {
//! use cdn_core::{OriginConfig, OriginState};
//! use std::sync::Arc;
//!
//! let certs = Arc::new(cdn_net::Certificates::generate("www.example.com")?);
//! let down = OriginConfig { state: OriginState::Down, ..Default::default() };
//! let origin = cdn_net::OriginServer::start(down, "127.0.0.9".parse().unwrap(), certs).await?;
//! let err = tokio::net::TcpStream::connect(origin.http_addr()).await.unwrap_err();
//! assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
//! origin.shutdown().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
// Two audited exceptions: `ack_watch` asks the kernel how much it has not had acknowledged,
// and `sealed` maps sealed memory files.
#![deny(unsafe_code)]

pub mod ack_watch;
pub mod bpf;
pub mod calibrate;
pub mod certs;
pub mod clock;
pub mod error;
pub mod error_page;
pub mod event_loops;
pub mod link;
pub mod netns;
pub mod origin;
pub mod proxy;
pub mod real;
pub mod resolver;
pub mod run;
pub mod sealed;
pub mod timing;
pub mod topology;
pub mod trace_sink;
pub mod wire;

pub use calibrate::{calibrate, Calibration};
pub use certs::{cert_problem, cert_problem_io, load_ca_file, Certificates};
pub use clock::VirtualClock;
pub use error::NetError;
pub use event_loops::EventLoops;
pub use link::Links;
pub use origin::{NetworkAccess, OriginOptions, OriginServer, ShutdownReport};
pub use proxy::{Proxy, ProxySpec, RealSpec, ServeLimits, Upstream, UpstreamTls};
pub use resolver::{HostEntry, ResolveError, Resolver};
pub use run::{run, NetArrival, NetEvent, NetOutcome, NetRun};
pub use timing::{LagMeter, LagSummary, Timers, LAG_BUCKETS};
pub use topology::{NetCdn, NetSpec, RealOptions};
pub use trace_sink::{TraceSink, TRACE_HEADER};
