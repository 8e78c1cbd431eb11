//! `cdn-sim sweep` as documented: the issue's example works, node keys work, `--jobs` does
//! not change the result, and `--shard` slices merged with `sweep merge` print exactly what
//! the unsliced sweep prints, in every format.

use std::path::PathBuf;
use std::process::{Command, Output};

fn cdn_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdn-sim"))
        .args(args)
        .output()
        .expect("cdn-sim runs")
}

fn ok(args: &[&str]) -> String {
    let o = cdn_sim(args);
    assert!(
        o.status.success(),
        "cdn-sim {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sweep-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

const ISSUE: [&str; 6] = [
    "sweep",
    "alibaba-security-503",
    "--set",
    "origin.limit_req.rate=10r/s,20r/s,40r/s,80r/s",
    "--set",
    "origin.workers=2,8",
];

#[test]
fn the_documented_example_runs_and_plots() {
    let plot = tmp("issue.svg");
    let mut args = ISSUE.to_vec();
    args.extend(["--jobs", "2", "--plot", plot.to_str().unwrap()]);
    let table = ok(&args);
    assert!(table.contains("8 runs"), "{table}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("origin.workers = 2") && svg.contains("origin.workers = 8"));
    // More rate means fewer 503s: read the shares from the JSON.
    let mut json_args = ISSUE.to_vec();
    json_args.push("--json");
    let v: serde_json::Value = serde_json::from_str(&ok(&json_args)).unwrap();
    let share = |i: usize| {
        let r = &v["rows"][i]["report"];
        r["status"]["503"].as_u64().unwrap_or(0) as f64 / r["requests"].as_f64().unwrap()
    };
    // Rows 0, 2, 4, 6 are workers = 2 at 10, 20, 40, 80 r/s.
    assert!(
        share(0) > share(2) && share(2) > share(4) && share(4) > share(6),
        "{v}"
    );
}

#[test]
fn jobs_do_not_change_the_result() {
    let mut one = ISSUE.to_vec();
    one.extend(["--json", "--jobs", "1"]);
    let mut two = ISSUE.to_vec();
    two.extend(["--json", "--jobs", "2"]);
    assert_eq!(ok(&one), ok(&two));
}

#[test]
fn shards_merge_into_the_unsharded_output_byte_for_byte() {
    let mut files = Vec::new();
    for i in 0..3 {
        let mut args = ISSUE.to_vec();
        let shard = format!("{i}/3");
        args.extend(["--shard", &shard]);
        let path = tmp(&format!("shard-{i}.json"));
        std::fs::write(&path, ok(&args)).unwrap();
        files.push(path);
    }
    // Given in any order.
    let names: Vec<&str> = files.iter().rev().map(|p| p.to_str().unwrap()).collect();
    for format in [None, Some("--csv"), Some("--json")] {
        let mut whole = ISSUE.to_vec();
        let mut merge = vec!["sweep", "merge"];
        merge.extend(&names);
        if let Some(f) = format {
            whole.push(f);
            merge.push(f);
        }
        assert_eq!(ok(&whole), ok(&merge), "format {format:?}");
    }
    let (a, b) = (tmp("whole.svg"), tmp("merged.svg"));
    let mut whole = ISSUE.to_vec();
    whole.extend(["--plot", a.to_str().unwrap()]);
    ok(&whole);
    let mut merge = vec!["sweep", "merge"];
    merge.extend(&names);
    merge.extend(["--plot", b.to_str().unwrap()]);
    ok(&merge);
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    // A missing slice is an error, not a shorter table.
    let o = cdn_sim(&["sweep", "merge", names[0], names[1]]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("runs missing"));
}

#[test]
fn an_l2_egress_pool_size_can_be_swept() {
    // One egress IP carries every fetch into one limit_req bucket; eight IPs get eight
    // buckets, so more of the 300 requests pass.
    let csv = ok(&[
        "sweep",
        "limit-req-100rps",
        "--set",
        "l2.shield-1.egress=127.0.1.1,127.0.1.1-127.0.1.8",
        "--csv",
    ]);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("l2.shield-1.egress,requests,status_200,"),
        "{csv}"
    );
    let ok200 = |line: &str| line.split(',').nth(2).unwrap().parse::<u64>().unwrap();
    assert_eq!(ok200(lines[1]), 35, "one IP: what real nginx admits");
    assert!(ok200(lines[2]) > 35, "{csv}");
}

#[test]
fn bad_settings_are_one_line_errors() {
    for (args, want) in [
        (
            vec!["sweep", "origin-down", "--set", "origin.workers=2,lots"],
            "origin.workers=lots",
        ),
        (
            vec!["sweep", "origin-down", "--set", "origin.wrkers=2"],
            "origin.wrkers",
        ),
        (
            vec!["sweep", "origin-down", "--set", "l2.nope.egress=127.0.1.1"],
            "no node is named",
        ),
        (
            vec![
                "sweep",
                "origin-down",
                "--set",
                "origin.workers=2",
                "--shard",
                "3/3",
            ],
            "--shard 3/3",
        ),
    ] {
        let o = cdn_sim(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn run_set_changes_one_key_for_one_run() {
    // The same refused connection under another vendor: 521 becomes nginx's 502.
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "run",
        "origin-down",
        "--set",
        "profile=nginx",
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["profile"], "nginx");
    assert_eq!(v["generated_by"]["502"]["l2"], v["requests"]);
    let o = cdn_sim(&["run", "origin-down", "--set", "origin.state=dwn"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("with --set origin.state=dwn: origin.state: unknown value"),
        "{err}"
    );
}
