//! The HTML report's per-answer data (`cdn_sim::answers`) agrees with the engine's own report
//! for every built-in scenario: the same number of answers per status and generating tier,
//! the same longest and mean latency to the microsecond, and latency buckets consistent with
//! the engine's exact percentiles. The send times behind those latencies are replayed from
//! the workload generators, so this is what catches a change in how the engine numbers or
//! times requests.

use cdn_core::Tier;
use cdn_sim::answers::{grid, Answers};
use cdn_sim::builtin;

#[test]
fn answers_match_the_report_of_every_builtin() {
    let grid = grid();
    for name in builtin::names() {
        let s = builtin::load(name).unwrap();
        let (answers, report) = Answers::collect(&s, None, 1).unwrap();
        assert_eq!(answers.total(), report.requests, "{name}");
        // Per status and tier, summed over the timeline's bins.
        for (code, by_tier) in &report.generated_by {
            let code_n: u16 = code.0;
            for (t, tier) in [Tier::L1, Tier::L2, Tier::Origin].iter().enumerate() {
                let from_bins: u64 = answers
                    .timeline
                    .bins
                    .iter()
                    .filter_map(|b| b.get(&code_n))
                    .map(|n| n[t])
                    .sum();
                assert_eq!(
                    from_bins,
                    by_tier.get(tier).copied().unwrap_or(0),
                    "{name}: {code} from {tier}"
                );
            }
        }
        let all = answers.all_latencies();
        let l = &report.latency_ms;
        assert_eq!(all.max_us as f64 / 1000.0, l.max, "{name}: max");
        assert_eq!(all.mean_ms(), l.mean, "{name}: mean");
        // Each exact percentile lies in the bucket where the cumulative count reaches its
        // nearest rank.
        for (p, v) in [(50.0, l.p50), (90.0, l.p90), (99.0, l.p99)] {
            let rank = ((p / 100.0) * all.total as f64).ceil().max(1.0) as u64;
            let us = (v * 1000.0).round() as u64;
            let b = grid.partition_point(|&e| e <= us) - 1;
            let before: u64 = all.counts[..b].iter().sum();
            assert!(
                before < rank && rank <= before + all.counts[b],
                "{name}: p{p} = {v} ms is not in the bucket holding rank {rank}"
            );
        }
    }
}
