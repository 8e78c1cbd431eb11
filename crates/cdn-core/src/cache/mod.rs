//! HTTP caching: directives, freshness, the byte-bounded store and its eviction policies, the
//! policy knobs vendors differ on, and the cache-status vocabulary.

mod cache_control;
mod eviction;
mod freshness;
mod heuristics;
mod key_index;
mod policy;
mod slab;
mod status;
mod store;

pub use cache_control::CacheControl;
pub use eviction::{Eviction, UnknownEviction};
pub use freshness::{freshness_lifetime, Storability, HEURISTICALLY_CACHEABLE};
pub use heuristics::{DefaultFreshness, ErrorCaching, ErrorVerdict};
pub use policy::{CachePolicy, Eligibility, StaleOnError, UncacheablePolicy, STATIC_EXTENSIONS};
pub use status::CacheStatus;
pub(crate) use store::Found;
pub use store::{Entry, KeyBuildHasher, KeyHasher, Store};
