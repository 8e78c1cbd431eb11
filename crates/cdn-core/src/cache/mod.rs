//! HTTP caching: directives, the byte-bounded store, freshness and the status vocabulary.

mod cache_control;
mod freshness;
mod status;
mod store;

pub use cache_control::CacheControl;
pub use freshness::{freshness_lifetime, Storability};
pub use status::CacheStatus;
pub use store::{Entry, KeyBuildHasher, KeyHasher, Store};
