//! # cdn-net (not implemented yet)
//!
//! This crate will run the same CDN topology over real TCP, HTTP and TLS on loopback: real
//! origin servers, real L1/L2 proxies binding egress addresses from 127.0.0.0/8, and faults
//! produced by the kernel rather than faked — driving the same `cdn-core` state machines as
//! the simulator. It is tracked as its own issue and contains nothing yet; `cdn-sim run
//! --mode net` reports that it is unavailable.
#![forbid(unsafe_code)]
