//! One simulated run as the CLI asks for it: which requests to trace and what to gather.
//!
//! Tracing the first request that *ended* with a status needs two passes: the first finds
//! the request numbers (through `SimOptions::on_response`), the second — the same scenario
//! and seed, so the same run — traces exactly those (`SimOptions::trace_requests`).
//!
//! ```
//! use cdn_sim::{builtin, run::{run, RunPlan}, progress::Progress};
//! let scenario = builtin::load("limit-req-one-ip").unwrap();
//! let plan = RunPlan { trace: 1, trace_status: Some(503), ..Default::default() };
//! let out = run(&scenario, &plan, &Progress::hidden()).unwrap();
//! // The first 503 is request #6: the bucket admitted 1 + burst 5 before it.
//! assert_eq!(out.traces[0].request, 6);
//! assert_eq!(out.traces[0].status, 503);
//! ```

use crate::answers::Answers;
use crate::engine::{simulate, SimError, SimOptions};
use crate::progress::Progress;
use crate::report::Report;
use crate::scenario::Scenario;
use cdn_core::Trace;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// What to record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunPlan {
    /// Trace this many requests: the first ones, or with `trace_status` the first ones that
    /// ended with that status (0 with `trace_status` means 1).
    pub trace: usize,
    /// Trace requests that ended with this status.
    pub trace_status: Option<u16>,
    /// Gather every answer ([`Answers`]) for the HTML report, and trace the first request
    /// of each status too.
    pub collect: bool,
}

/// What a run produced.
pub struct RunOutput {
    /// The report (identical in both passes: same scenario, same seed).
    pub report: Report,
    /// The traced requests, in request order.
    pub traces: Vec<Trace>,
    /// With [`RunPlan::collect`]: every answer.
    pub answers: Option<Answers>,
    /// With [`RunPlan::trace_status`]: how many requests ended with that status.
    pub with_status: u64,
}

/// Runs `scenario` (its own seed) as `plan` says; fails as [`simulate`] does (too many
/// requests in flight, an unreadable trace file).
pub fn run(
    scenario: &Scenario,
    plan: &RunPlan,
    progress: &Progress,
) -> Result<RunOutput, SimError> {
    if plan.trace_status.is_none() && !plan.collect {
        let options = SimOptions {
            trace: plan.trace,
            progress: progress.sim_hook(""),
            progress_every: 4096,
            ..Default::default()
        };
        let out = simulate(scenario, options);
        progress.finish();
        let out = out?;
        return Ok(RunOutput {
            report: out.report,
            traces: out.traces,
            answers: None,
            with_status: 0,
        });
    }
    // Pass 1: find the request numbers.
    let wanted = plan.trace.max(1);
    let label = "pass 1 of 2: ";
    let (firsts, answers, report): (BTreeMap<u16, Vec<u64>>, Option<Answers>, Report) =
        if plan.collect {
            let keep = if plan.trace_status.is_some() {
                wanted
            } else {
                1
            };
            let (a, r) = Answers::collect(scenario, progress.sim_hook(label), keep)?;
            (a.firsts.clone(), Some(a), r)
        } else {
            let code = plan.trace_status.expect("checked above");
            let found = Rc::new(RefCell::new(Vec::new()));
            let sink = Rc::clone(&found);
            let options = SimOptions {
                on_response: Some(Box::new(move |n, status, _| {
                    let mut v = sink.borrow_mut();
                    if status == code && v.len() < wanted {
                        v.push(n);
                    }
                })),
                progress: progress.sim_hook(label),
                progress_every: 4096,
                ..Default::default()
            };
            let report = simulate(scenario, options)?.report;
            let found = found.borrow().clone();
            (BTreeMap::from([(code, found)]), None, report)
        };
    let mut trace_requests = BTreeSet::new();
    let mut trace = 0;
    match plan.trace_status {
        Some(code) => trace_requests.extend(firsts.get(&code).into_iter().flatten()),
        None => trace = plan.trace,
    }
    if plan.collect {
        trace_requests.extend(firsts.values().filter_map(|v| v.first()));
    }
    let with_status = plan.trace_status.map_or(0, |c| report.count(c));
    if trace_requests.is_empty() && trace == 0 {
        progress.finish();
        return Ok(RunOutput {
            report,
            traces: Vec::new(),
            answers,
            with_status,
        });
    }
    // Pass 2: the same run, tracing them.
    let out = simulate(
        scenario,
        SimOptions {
            trace,
            trace_requests,
            progress: progress.sim_hook("pass 2 of 2: "),
            progress_every: 4096,
            ..Default::default()
        },
    );
    progress.finish();
    let out = out?;
    debug_assert_eq!(out.report, report, "two runs of one scenario differ");
    Ok(RunOutput {
        report: out.report,
        traces: out.traces,
        answers,
        with_status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;

    #[test]
    fn trace_status_traces_only_requests_with_that_status() {
        let s = builtin::load("origin-down-mid-run").unwrap();
        let plan = RunPlan {
            trace: 3,
            trace_status: Some(521),
            collect: false,
        };
        let out = run(&s, &plan, &Progress::hidden()).unwrap();
        assert_eq!(out.traces.len(), 3);
        assert!(out.traces.iter().all(|t| t.status == 521));
        assert_eq!(out.with_status, out.report.count(521));
    }

    #[test]
    fn a_status_nobody_got_traces_nothing() {
        let s = builtin::load("origin-down").unwrap();
        let plan = RunPlan {
            trace: 1,
            trace_status: Some(200),
            collect: false,
        };
        let out = run(&s, &plan, &Progress::hidden()).unwrap();
        assert!(out.traces.is_empty());
        assert_eq!(out.with_status, 0);
    }

    #[test]
    fn collecting_traces_the_first_request_of_each_status() {
        let s = builtin::load("limit-req-one-ip").unwrap();
        let plan = RunPlan {
            collect: true,
            ..Default::default()
        };
        let out = run(&s, &plan, &Progress::hidden()).unwrap();
        let statuses: Vec<u16> = out.traces.iter().map(|t| t.status).collect();
        assert_eq!(statuses, [200, 503]);
        assert_eq!(out.traces[1].request, 6);
    }
}
