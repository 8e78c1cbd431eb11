//! Invariants of a cache node: whatever it is offered, it never holds more bytes than its
//! capacity, Vary variants and their markers included.

use cdn_core::cache::{CacheControl, CachePolicy};
use cdn_core::message::{Encoding, Vary};
use cdn_core::{
    CacheKey, CacheNode, EgressPool, EgressSelection, Instant, Profile, Request, Response, Tier,
};
use proptest::prelude::*;
use std::time::Duration;

proptest! {
    #[test]
    fn node_never_exceeds_capacity(
        capacity in 0u64..40_000,
        ops in prop::collection::vec((0u64..30, 0u64..9_000, 0u8..3, 0u8..3, 0u32..120), 1..300),
    ) {
        let pool = EgressPool::new(&["127.0.1.1".parse().unwrap()], EgressSelection::RoundRobin, 0).unwrap();
        let mut node = CacheNode::new("n", Tier::L2, capacity, pool);
        let policy = CachePolicy::for_profile(Profile::Cloudflare);
        for (i, (key, size, vary, enc, max_age)) in ops.into_iter().enumerate() {
            let now = Instant::ZERO + Duration::from_millis(i as u64 * 100);
            let encoding = [Encoding::Gzip, Encoding::Br, Encoding::Identity][enc as usize];
            let req = Request { encoding, ..Request::get(CacheKey(key)) };
            let mut resp = Response::generated(Tier::Origin, 200, "");
            resp.body_len = size;
            resp.date = now;
            resp.vary = [Vary::None, Vary::AcceptEncoding, Vary::Any][vary as usize];
            resp.cache_control = CacheControl::parse(&format!("max-age={max_age}"));
            node.store(now, now, &policy, &req, &resp);
            let _ = node.lookup(now, &policy, &req);
            prop_assert!(node.cache().used_bytes() <= capacity);
        }
    }
}
