//! `cdn-sim sweep`: run a scenario once per combination of `--set` values and compare.
//!
//! The combinations are the cartesian product of the settings, numbered in a fixed order
//! (the first `--set` varies slowest), and each run is an ordinary deterministic simulation
//! of the scenario with those values written into its TOML. So the sweep is deterministic
//! whatever `--jobs` is, and any slice of it can run anywhere: `--shard I/N` runs the runs
//! whose number is I modulo N, and [`merge`] joins the slices' JSON into exactly the document
//! (and hence the table, CSV or plot) the whole sweep would have printed. Spreading slices
//! over machines is left to a batch system (GNU parallel, Slurm job arrays, Kubernetes
//! indexed Jobs: `docs/sweeps.md`).
//!
//! ```
//! use cdn_sim::sweep::{set::Setting, Sweep};
//! let source = cdn_sim::builtin::source("limit-req-one-ip").unwrap();
//! let sweep = Sweep::new(source, "limit-req-one-ip", vec![
//!     Setting::parse("origin.limit_req.burst=5,19").unwrap(),
//! ]).unwrap();
//! let doc = sweep.run(None, 1, None).unwrap();
//! // burst 5 admits 6 of the 20 simultaneous requests; burst 19 admits all 20.
//! assert_eq!(doc.rows[0].report["status"]["200"], 6);
//! assert_eq!(doc.rows[1].report["status"]["200"], 20);
//! ```

pub mod output;
pub mod set;

use crate::engine::{simulate, SimOptions};
use crate::progress::Counter;
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use set::Setting;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The most runs one sweep may have (a typo such as a 1000-value list should not start a
/// day of work; split larger sweeps into several).
pub const MAX_RUNS: usize = 100_000;

/// A slice of a sweep: the runs whose number is `index` modulo `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// From 0.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

impl Shard {
    /// Parses `I/N` (0 ≤ I < N).
    ///
    /// ```
    /// use cdn_sim::sweep::Shard;
    /// assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
    /// assert!(Shard::parse("4/4").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || {
            format!("--shard {s}: expected I/N with 0 ≤ I < N, e.g. 0/4 (the first of four slices)")
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether run `n` belongs to this slice.
    pub fn takes(&self, n: usize) -> bool {
        n % self.count == self.index
    }
}

/// One setting as recorded in the output: the key and every value, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingDoc {
    /// The dotted key.
    pub key: String,
    /// The values, in the order given.
    pub values: Vec<String>,
}

/// One run of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The run's number in the sweep, from 0.
    pub index: usize,
    /// Each setting's value in this run, by key.
    pub set: BTreeMap<String, String>,
    /// The run's report (the `--json` object of `cdn-sim run`).
    pub report: serde_json::Value,
}

/// A sweep's results: what `--json` prints and `sweep merge` reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepDoc {
    /// The scenario's name.
    pub scenario: String,
    /// The settings, in the order given.
    pub settings: Vec<SettingDoc>,
    /// How many runs the whole sweep has.
    pub runs: usize,
    /// Present in a slice's output only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// The runs in this document, by number.
    pub rows: Vec<Row>,
}

/// A sweep ready to run: the scenario of every combination, loaded and checked.
pub struct Sweep {
    name: String,
    settings: Vec<Setting>,
    scenarios: Vec<Scenario>,
}

impl Sweep {
    /// Builds every combination of `settings` over the scenario `source` (named `name` in
    /// errors). Fails on the first value that makes an invalid scenario, naming the `--set`.
    pub fn new(source: &str, name: &str, settings: Vec<Setting>) -> Result<Sweep, String> {
        if settings.is_empty() {
            return Err(
                "sweep: give at least one --set KEY=V1,V2,… e.g. --set origin.workers=2,8".into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &settings {
            if !seen.insert(s.key.as_str()) {
                return Err(format!(
                    "--set {}: the key is set twice; give all its values in one --set",
                    s.key
                ));
            }
        }
        let runs = settings
            .iter()
            .try_fold(1usize, |n, s| n.checked_mul(s.values.len()))
            .filter(|n| *n <= MAX_RUNS)
            .ok_or_else(|| {
                format!("sweep: more than {MAX_RUNS} combinations; split it into several sweeps")
            })?;
        let mut scenarios = Vec::with_capacity(runs);
        for n in 0..runs {
            let pairs: Vec<(String, String)> = settings
                .iter()
                .zip(combination(&settings, n))
                .map(|(s, v)| (s.key.clone(), v))
                .collect();
            scenarios.push(set::scenario_with(source, name, &pairs)?);
        }
        Ok(Sweep {
            name: scenarios
                .first()
                .map_or(name.to_string(), |s| s.name.clone()),
            settings,
            scenarios,
        })
    }

    /// How many runs the whole sweep has.
    pub fn runs(&self) -> usize {
        self.scenarios.len()
    }

    /// Runs the sweep (or the slice `shard`) on `jobs` threads; `counter` counts finished runs.
    /// Fails with the first (lowest-numbered) run that fails, naming its settings.
    pub fn run(
        &self,
        shard: Option<Shard>,
        jobs: usize,
        counter: Option<&Counter>,
    ) -> Result<SweepDoc, String> {
        let mine: Vec<usize> = (0..self.runs())
            .filter(|n| shard.is_none_or(|s| s.takes(*n)))
            .collect();
        let results: Mutex<Vec<Option<Result<Row, String>>>> = Mutex::new(vec![None; mine.len()]);
        let next = AtomicUsize::new(0);
        let jobs = jobs.clamp(1, mine.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&n) = mine.get(k) else { break };
                    let set: BTreeMap<String, String> = self
                        .settings
                        .iter()
                        .zip(combination(&self.settings, n))
                        .map(|(s, v)| (s.key.clone(), v))
                        .collect();
                    let row = match simulate(&self.scenarios[n], SimOptions::default()) {
                        Ok(out) => Ok(Row {
                            index: n,
                            set,
                            report: serde_json::to_value(&out.report)
                                .expect("reports are plain data"),
                        }),
                        Err(e) => {
                            let label: Vec<String> =
                                set.iter().map(|(k, v)| format!("{k}={v}")).collect();
                            Err(format!(
                                "{} with --set {}: {e}",
                                self.name,
                                label.join(" --set ")
                            ))
                        }
                    };
                    results.lock().expect("no worker panics")[k] = Some(row);
                    if let Some(c) = counter {
                        c.inc();
                    }
                });
            }
        });
        let rows = results
            .into_inner()
            .expect("no worker panics")
            .into_iter()
            .map(|r| r.expect("every run finished"))
            .collect::<Result<Vec<Row>, String>>()?;
        Ok(SweepDoc {
            scenario: self.name.clone(),
            settings: self
                .settings
                .iter()
                .map(|s| SettingDoc {
                    key: s.key.clone(),
                    values: s.values.clone(),
                })
                .collect(),
            runs: self.runs(),
            shard,
            rows,
        })
    }
}

/// The values of run `n`: mixed radix, the last setting varying fastest.
fn combination(settings: &[Setting], mut n: usize) -> Vec<String> {
    let mut out = vec![String::new(); settings.len()];
    for (i, s) in settings.iter().enumerate().rev() {
        let k = s.values.len();
        out[i] = s.values[n % k].clone();
        n /= k;
    }
    out
}

/// Joins slices of one sweep into the whole sweep's document, as if it had run unsliced.
///
/// Every slice must come from the same sweep (scenario, settings, run count, slice count),
/// and together they must hold each run exactly once.
pub fn merge(parts: Vec<SweepDoc>) -> Result<SweepDoc, String> {
    let first = parts.first().ok_or("sweep merge: no slices given")?.clone();
    let mut rows: BTreeMap<usize, Row> = BTreeMap::new();
    for (i, p) in parts.into_iter().enumerate() {
        if p.scenario != first.scenario || p.settings != first.settings || p.runs != first.runs {
            return Err(format!(
                "sweep merge: slice {} is from another sweep (scenario {:?}, {} runs) than the first (scenario {:?}, {} runs)",
                i + 1,
                p.scenario,
                p.runs,
                first.scenario,
                first.runs
            ));
        }
        if p.shard.map(|s| s.count) != first.shard.map(|s| s.count) {
            return Err(format!(
                "sweep merge: slice {} was cut into a different number of slices than the first",
                i + 1
            ));
        }
        for row in p.rows {
            let n = row.index;
            if n >= first.runs {
                return Err(format!(
                    "sweep merge: run {n} is out of range (the sweep has {})",
                    first.runs
                ));
            }
            if rows.insert(n, row).is_some() {
                return Err(format!(
                    "sweep merge: run {n} appears twice (the same slice given twice?)"
                ));
            }
        }
    }
    let missing: Vec<String> = (0..first.runs)
        .filter(|n| !rows.contains_key(n))
        .take(10)
        .map(|n| n.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "sweep merge: runs missing (a slice not given?): {}{}",
            missing.join(", "),
            if missing.len() == 10 { ", …" } else { "" }
        ));
    }
    Ok(SweepDoc {
        shard: None,
        rows: rows.into_values().collect(),
        ..first
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_setting_varies_slowest() {
        let s = vec![
            Setting::parse("a=1,2").unwrap(),
            Setting::parse("b=x,y,z").unwrap(),
        ];
        let all: Vec<Vec<String>> = (0..6).map(|n| combination(&s, n)).collect();
        assert_eq!(all[0], ["1", "x"]);
        assert_eq!(all[2], ["1", "z"]);
        assert_eq!(all[3], ["2", "x"]);
    }

    #[test]
    fn shards_partition_the_runs() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard { index: i, count: 3 }).collect();
        for n in 0..20 {
            assert_eq!(shards.iter().filter(|s| s.takes(n)).count(), 1);
        }
    }

    #[test]
    fn an_invalid_value_names_the_setting() {
        let src = crate::builtin::source("origin-down").unwrap();
        let err = Sweep::new(
            src,
            "origin-down",
            vec![Setting::parse("origin.workers=2,lots").unwrap()],
        )
        .err()
        .unwrap();
        assert!(
            err.starts_with("origin-down with --set origin.workers=lots: origin.workers:"),
            "{err}"
        );
    }
}
