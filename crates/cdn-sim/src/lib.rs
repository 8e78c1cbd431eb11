//! # cdn-sim: a deterministic virtual-time simulator of a two-tier CDN
//!
//! Runs the `cdn-core` model (client → L1 edge → L2 parent → origin) against scenario files.
//!
//! ## Layout
//! | module | one idea |
//! |---|---|
//! | [`scenario`] | load a scenario file into checked, fully resolved configuration |
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod scenario;
