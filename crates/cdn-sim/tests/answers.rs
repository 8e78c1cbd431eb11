//! The HTML report's per-answer data (`cdn_sim::answers`) agrees with the engine's own report
//! for every built-in scenario: the same number of answers per status and generating tier,
//! and the same latency percentiles, to the microsecond. The send times behind those
//! latencies are replayed from the workload generators, so this is what catches a change in
//! how the engine numbers or times requests.

use cdn_sim::answers::Answers;
use cdn_sim::builtin;

#[test]
fn answers_match_the_report_of_every_builtin() {
    for name in builtin::names() {
        let s = builtin::load(name).unwrap();
        let (answers, report) = Answers::collect(&s, None, 1);
        assert_eq!(answers.total(), report.requests, "{name}");
        // Per status and tier, summed over the timeline's bins.
        for (code, by_tier) in &report.generated_by {
            let code_n: u16 = code.parse().unwrap();
            for (t, tier) in ["l1", "l2", "origin"].iter().enumerate() {
                let from_bins: u64 = answers
                    .timeline
                    .bins
                    .iter()
                    .filter_map(|b| b.get(&code_n))
                    .map(|n| n[t])
                    .sum();
                assert_eq!(
                    from_bins,
                    by_tier.get(*tier).copied().unwrap_or(0),
                    "{name}: {code} from {tier}"
                );
            }
        }
        let all = answers.all_latencies();
        let l = &report.latency_ms;
        assert_eq!(all.percentile_ms(50.0), l.p50, "{name}: p50");
        assert_eq!(all.percentile_ms(90.0), l.p90, "{name}: p90");
        assert_eq!(all.percentile_ms(99.0), l.p99, "{name}: p99");
        assert_eq!(all.max_ms(), l.max, "{name}: max");
        assert_eq!(all.mean_ms(), l.mean, "{name}: mean");
    }
}
