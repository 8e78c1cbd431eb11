//! # cdn-core: a pure model of a two-tier CDN and its origin
//!
//! ```text
//!  client ──► L1 edge cache ──► L2 parent cache ──► origin
//!              (cache, stats)    (cache, egress pool)  (firewall, limit_req, limit_conn,
//!                                                      workers + queue, TLS, state)
//! ```
//!
//! This crate is the model, and only the model: it has no sockets, no async runtime, no clock
//! and no unseeded randomness. Every time-dependent call takes `now: Instant`; every decision
//! is returned as a value ("the SYN is dropped", "serve this stored copy", "answer 522") that a
//! driver carries out. Two drivers run it: the virtual-time simulator in `cdn-sim` and the real
//! TCP/HTTP/TLS servers in `cdn-net`. Because both ask the same state machines, they agree by
//! construction.
//!
//! ## Layout
//! | module | one idea |
//! |---|---|
//! | [`time`] | virtual [`Instant`] |
//! | [`units`] | `"19s"`, `"10KiB"`, `"100/s"` parsing |
//! | [`addr`] | addresses, CIDR blocks, ranges |
//! | [`message`] | [`Request`], [`Response`], [`CacheKey`], [`Tier`] |
//! | [`cache`] | `Cache-Control`, freshness, the byte-bounded [`cache::Store`] and its [`cache::Eviction`] policies, [`CacheStatus`] |
//! | [`node`] | a cache node: store + stats + egress + idle connections |
//! | [`topology`] | client → L1 and L1 → L2 (rendezvous hashing) |
//! | [`egress`] | back-to-origin IP pools ([`EgressPool`]) |
//! | [`origin`] | the origin and its defences ([`Origin`], `limit_req`, `limit_conn`, firewall) |
//! | [`tls`] | SSL modes × certificate states |
//! | [`failure`] | [`FailureKind`]: what went wrong on a hop, vendor-neutral |
//! | [`profile`] | [`Profile`]: every vendor default with its source; the *only* place a failure becomes a status code |
//! | [`config`] | `[cdn]` / `[network]` configuration and resolved timeouts |
//! | [`upstream`] | SYN schedules, retries, how long an L1 waits for its L2 |
//! | [`trace`] | per-request hop-by-hop [`Trace`] |
//!
//! ## Example: what does each vendor answer when the origin refuses connections?
//! ```
//! use cdn_core::{origin::{ConnectVerdict, Origin, OriginConfig, OriginState}, FailureKind, Profile};
//!
//! let origin = Origin::new(OriginConfig { state: OriginState::Down, ..Default::default() });
//! assert_eq!(origin.connect("127.0.1.1".parse().unwrap(), 443), ConnectVerdict::Refuse);
//! // The L2 that tried to connect generates the code; which code depends on the vendor.
//! assert_eq!(Profile::Cloudflare.error_for(FailureKind::Refused).status, 521);
//! assert_eq!(Profile::Nginx.error_for(FailureKind::Refused).status, 502);
//! ```
#![warn(missing_docs)]
// One audited exception: `hint::prefetch`, a CPU cache hint (see its SAFETY note).
#![deny(unsafe_code)]

pub mod addr;
pub mod cache;
pub mod config;
pub mod egress;
pub mod failure;
pub mod hint;
pub mod message;
pub mod node;
pub mod origin;
pub mod profile;
pub mod time;
pub mod tls;
pub mod topology;
pub mod trace;
pub mod units;
pub mod upstream;

// What an embedder needs, at the root: configuration, a node and what it returns, the
// origin and its verdicts, failures and profiles, time and traces.
pub use addr::{AddrSpec, Cidr};
pub use cache::{CacheControl, CachePolicy, CacheStatus, Eviction, Store};
pub use config::{CdnConfig, NetworkConfig, NodeConfig, NodeState, ParentErrorPolicy, Timeouts};
pub use egress::{EgressPool, EgressSelection};
pub use failure::{CertProblem, FailureKind};
pub use message::{CacheKey, Method, Request, Response, Tier};
pub use node::{Action, CacheNode, Connect, Hop, NodeSettings, Ticket};
pub use origin::{
    ConfigError, ConnectVerdict, FirewallAction, FirewallRule, Origin, OriginConfig, OriginReply,
    OriginState,
};
pub use profile::{GeneratedError, Profile};
pub use time::Instant;
pub use tls::{CertState, HttpsListener, Scheme, SslMode};
pub use trace::{Trace, TraceEvent};
