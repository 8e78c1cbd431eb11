//! Invariants of a cache node driven through its public request flow, whatever happens
//! upstream: it never holds more bytes than its capacity (Vary variants and their markers
//! included), and every request it receives gets exactly one answer.

use cdn_core::cache::CacheControl;
use cdn_core::message::{Encoding, Vary};
use cdn_core::node::{Action, NodeSettings};
use cdn_core::{
    CacheKey, CacheNode, CdnConfig, EgressPool, EgressSelection, FailureKind, Instant, NodeConfig,
    ParentErrorPolicy, Profile, Request, Response, Tier,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

fn node(tier: Tier, capacity: u64, cdn: &CdnConfig, profile: Profile) -> CacheNode {
    let pool = EgressPool::new(
        &["127.0.1.1-127.0.1.3".parse().unwrap()],
        EgressSelection::RoundRobin,
        0,
    )
    .unwrap();
    CacheNode::new("n", tier, capacity, pool).with_settings(NodeSettings::new(cdn, profile))
}

proptest! {
    #[test]
    fn node_never_exceeds_capacity(
        capacity in 0u64..40_000,
        ops in prop::collection::vec((0u64..30, 0u64..9_000, 0u8..3, 0u8..3, 0u32..120), 1..300),
    ) {
        let mut node = node(Tier::L2, capacity, &CdnConfig::default(), Profile::Cloudflare);
        let mut out = Vec::new();
        for (i, (key, size, vary, enc, max_age)) in ops.into_iter().enumerate() {
            let now = Instant::ZERO + Duration::from_millis(i as u64 * 100);
            let encoding = [Encoding::Gzip, Encoding::Br, Encoding::Identity][enc as usize];
            let req = Request { encoding, ..Request::get(CacheKey(key)) };
            let mut resp = Response::generated(Tier::Origin, 200, "");
            resp.reason = None;
            resp.body_len = size;
            resp.date = now;
            resp.vary = [Vary::None, Vary::AcceptEncoding, Vary::Any][vary as usize];
            resp.cache_control = CacheControl::parse(&format!("max-age={max_age}"));
            let ticket = i as u64;
            out.clear();
            node.receive(now, ticket, &req, None, false, &mut out);
            // Drive the miss to the origin and back with `resp`.
            while let Some(action) = out.pop() {
                match action {
                    Action::Connect(c) => node.connected(now, c.ticket, c.hop, &mut out),
                    Action::Send { ticket, hop, .. } => {
                        node.answered(now, ticket, hop, &resp, &mut out)
                    }
                    Action::Revalidate { .. } | Action::Answer { .. } | Action::Note { .. } => {}
                    Action::Wait { .. } => prop_assert!(false, "nothing else is in flight"),
                }
            }
            prop_assert!(node.cache().used_bytes() <= capacity);
        }
        prop_assert_eq!(node.requests_in_progress(), 0);
    }

    /// Whatever each hop does (connects or not, answers, fails in any way, times out), and in
    /// whatever order concurrent requests progress, every request gets exactly one answer and
    /// the node ends with nothing in progress.
    #[test]
    fn every_request_gets_exactly_one_answer(
        tier_l1 in any::<bool>(),
        policy in 0u8..3,
        parents in 1usize..4,
        profile in 0usize..6,
        collapse in any::<bool>(),
        requests in prop::collection::vec(0u64..4, 1..40),
        outcomes in prop::collection::vec(0u8..8, 200),
    ) {
        let cdn = CdnConfig {
            collapse,
            on_parent_error: [ParentErrorPolicy::Relay, ParentErrorPolicy::NextParent, ParentErrorPolicy::GoDirect][policy as usize],
            l2: (0..parents).map(|i| NodeConfig::named(format!("s{i}"))).collect(),
            ..CdnConfig::default()
        };
        let profile = cdn_core::profile::ALL_PROFILES[profile];
        let tier = if tier_l1 { Tier::L1 } else { Tier::L2 };
        let mut node = node(tier, 1 << 20, &cdn, profile);
        let mut now = Instant::ZERO;
        // Actions waiting for the "network", oldest first; deadlines pending per ticket.
        let mut pending: Vec<Action> = Vec::new();
        let mut answers: BTreeMap<u64, u32> = BTreeMap::new();
        let mut out = Vec::new();
        for (t, key) in requests.iter().enumerate() {
            node.receive(now, t as u64, &Request::get(CacheKey(*key)), None, false, &mut out);
            pending.append(&mut out);
        }
        let mut outcomes = outcomes.into_iter().cycle();
        let mut steps = 0;
        while let Some(action) = (!pending.is_empty()).then(|| pending.remove(0)) {
            steps += 1;
            prop_assert!(steps < 100_000, "the flow terminates");
            now = now + Duration::from_millis(1);
            let choice = outcomes.next().unwrap();
            match action {
                Action::Answer { ticket, .. } => *answers.entry(ticket).or_default() += 1,
                Action::Note { .. } | Action::Revalidate { .. } => {}
                Action::Wait { ticket, until } => {
                    // Fire the collapse timer at its deadline, later in the run.
                    if choice < 4 { pending.push(Action::Wait { ticket, until }) }
                    else { now = now.max(until); node.timer(now, ticket, &mut out) }
                }
                Action::Connect(c) => match choice {
                    0..=3 => node.connected(now, c.ticket, c.hop, &mut out),
                    4 => node.hop_failed(now, c.ticket, c.hop, FailureKind::Refused, &mut out),
                    5 => node.hop_failed(now, c.ticket, c.hop, FailureKind::Dns, &mut out),
                    _ => { now = now.max(c.until); node.timer(now, c.ticket, &mut out) }
                },
                Action::Send { ticket, hop, until, .. } => {
                    let resp = |status, tier, cc: &str| {
                        let mut r = Response::generated(tier, status, "");
                        r.reason = None;
                        r.cache_control = CacheControl::parse(cc);
                        r.date = now;
                        r
                    };
                    match choice {
                        0..=2 => node.answered(now, ticket, hop, &resp(200, Tier::Origin, "max-age=5"), &mut out),
                        3 => node.answered(now, ticket, hop, &resp(502, Tier::L2, ""), &mut out),
                        4 => node.answered(now, ticket, hop, &resp(503, Tier::Origin, ""), &mut out),
                        5 => node.hop_failed(now, ticket, hop, FailureKind::Reset, &mut out),
                        _ => { now = now.max(until); node.timer(now, ticket, &mut out) }
                    }
                }
            }
            pending.append(&mut out);
        }
        for t in 0..requests.len() as u64 {
            prop_assert_eq!(answers.get(&t).copied(), Some(1), "request {} answered once", t);
        }
        prop_assert_eq!(node.requests_in_progress(), 0);
    }
}
