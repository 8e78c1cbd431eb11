//! # cdn-sim: a deterministic virtual-time simulator of a two-tier CDN
//!
//! Drives the pure [`cdn_core`] model with a discrete-event engine: virtual clock, event
//! queue with sequence-number tie breaks, seeded randomness and link latencies. Nineteen
//! virtual seconds of connect timeout take microseconds; the same scenario and seed always
//! print the same bytes.
//!
//! ## Layout
//! | module | one job |
//! |---|---|
//! | [`scenario`] | TOML scenario files → typed [`scenario::Scenario`], with file:line errors; [`Scenario::builder`] for code |
//! | [`builtin`] | the embedded teaching scenarios (`cdn-sim list`) |
//! | [`workload`] | lazy arrival generators (constant / poisson / burst; distinct / one / N keys; trace replay) |
//! | [`replay`] | request logs (traces) read as a stream: native csv, libCacheSim csv and `oracleGeneral` |
//! | [`zipf`] | Zipf key samplers (rejection-inversion; an alias table for comparison) |
//! | [`engine`] | the discrete-event engine ([`engine::simulate`]) |
//! | [`report`] | the run report (JSON contract, terminal table) and trace rendering |
//! | [`latency`] | exact latency percentiles |
//! | [`explain`] | `cdn-sim explain CODE` |
//! | [`run`] | one CLI run: tracing by status (two passes), gathering answers for `--html` |
//! | [`answers`] | every client answer of a run, binned over time, with latencies |
//! | [`svg`] | pictures: sequence diagrams from traces, charts, the topology |
//! | [`html`] | `--html`: the run as one self-contained page |
//! | [`sweep`] | `cdn-sim sweep`: cartesian products of `--set`, shards, merge, table/CSV/JSON/plot |
//! | [`quiz`] | `cdn-sim quiz` |
//! | [`error_pages`] | the generated parts of `docs/errors/` (`cdn-sim docs`) |
//! | [`progress`] | the progress line on a terminal |
//! | [`benchmark`] | the standard benchmark workload (its bare-`lru` baseline is `benches/bare_lru.rs`) |
//! | [`libcachesim`] | synthetic `oracleGeneral` traces, replayed through libCacheSim (cross-check, speed) |
//! | `net_mode` | `--mode net` and `serve`: the scenario on real sockets (`cdn-net`; feature `net`, on by default) |
//!
//! ## Example
//! ```
//! use cdn_sim::{builtin, simulate, SimOptions};
//! let scenario = builtin::load("firewall-drop").unwrap();
//! let out = simulate(&scenario, SimOptions::default()).unwrap();
//! // Every origin fetch left from an egress IP the firewall drops: 522, generated at L2.
//! assert!(out.report.generated(522, cdn_core::Tier::L2) > 0);
//! ```
//!
//! A scenario can also be written in code: [`Scenario::builder`] (see
//! `examples/scenario_in_code.rs`).
//!
//! ## Cargo features
//! - `net` (default): the `net_mode` module, the scenario on real loopback sockets
//!   through `cdn-net` (tokio, hyper, rustls). `default-features = false` builds the
//!   simulator without them.
//! - `cli` (default): what only the `cdn-sim` binary needs (clap, mimalloc,
//!   tracing-subscriber). The binary requires both features.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

/// `README.md`, compiled as a doc test so its Rust cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoc;

/// `docs/architecture.md`, compiled as a doc test so its code cannot go stale (here, not in
/// `cdn-core`: its examples use both crates).
#[cfg(doctest)]
#[doc = include_str!("../../../docs/architecture.md")]
pub struct ArchitectureDoc;

// What an embedder needs, at the root: a scenario, a run, its report.
pub use engine::{simulate, SimError, SimOptions, SimOutput};
pub use report::Report;
pub use scenario::{Scenario, ScenarioBuilder, ScenarioError, Workload};

pub mod answers;
pub mod benchmark;
pub mod builtin;
pub mod engine;
pub mod error_pages;
pub mod explain;
pub mod html;
pub mod latency;
pub mod libcachesim;
#[cfg(feature = "net")]
pub mod net_mode;
pub mod progress;
pub mod quiz;
pub mod replay;
pub mod report;
pub mod run;
pub mod scenario;
pub mod svg;
pub mod sweep;
pub mod workload;
pub mod zipf;
