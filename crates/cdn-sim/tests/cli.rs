//! The `cdn-sim` command line as users (and outside test suites) drive it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn cdn_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdn-sim"))
        .args(args)
        .output()
        .expect("cdn-sim runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn golden(name: &str, actual: &str) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden", name]
        .iter()
        .collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {path:?}: run with UPDATE_GOLDEN=1"));
    assert_eq!(
        actual, expected,
        "output differs from {path:?} (UPDATE_GOLDEN=1 to accept)"
    );
}

#[test]
fn run_json_is_the_contract() {
    let o = cdn_sim(&["run", "limit-req-one-ip", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for key in [
        "scenario",
        "mode",
        "seed",
        "requests",
        "status",
        "generated_by",
        "origin_requests",
        "cache",
        "latency_ms",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["mode"], "sim");
    assert_eq!(v["requests"], 20);
    assert_eq!(v["status"]["200"], 6);
    assert_eq!(v["generated_by"]["503"]["origin"], 14);
    assert!(v["cache"]["l1"]["hit"].is_u64() && v["cache"]["l2"]["miss"].is_u64());
    assert!(v["latency_ms"]["p50"].is_f64() && v["latency_ms"]["p99"].is_f64());
    golden("limit-req-one-ip.json", &stdout(&o));
}

#[test]
fn same_scenario_and_seed_print_the_same_bytes() {
    let a = cdn_sim(&["run", "origin-down-mid-run", "--json", "--seed", "9"]);
    let b = cdn_sim(&["run", "origin-down-mid-run", "--json", "--seed", "9"]);
    assert_eq!(a.stdout, b.stdout);
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(v["seed"], 9);
}

#[test]
fn trace_tells_the_story_of_a_request() {
    let o = cdn_sim(&["run", "firewall-drop", "--trace", "1"]);
    assert!(o.status.success());
    golden("firewall-drop-trace.txt", &stdout(&o));
}

#[test]
fn invalid_scenario_exits_2_with_one_line_naming_file_line_key() {
    let dir = std::env::temp_dir().join(format!("cdn-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "name = \"bad\"\n[origin]\nstate = \"dwn\"\n[[workload]]\n",
    )
    .unwrap();
    let o = cdn_sim(&["run", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.toml:3:") && err.contains("origin.state"),
        "{err}"
    );
    assert!(err.contains("allowed: up, down, hung"), "{err}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn unknown_builtin_exits_2_and_lists_the_builtins() {
    let o = cdn_sim(&["run", "orgin-down"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("origin-down"), "{}", stderr(&o));
}

#[test]
fn missing_file_exits_2() {
    let o = cdn_sim(&["run", "no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/file.toml"), "{}", stderr(&o));
}

#[test]
fn list_names_every_builtin() {
    let o = cdn_sim(&["list"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for name in cdn_sim::builtin::names() {
        assert!(
            out.lines().any(|l| l.starts_with(name)),
            "{name} missing from list"
        );
    }
}

#[test]
fn explain_teaches_a_code() {
    let o = cdn_sim(&["explain", "522"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains("Connection timed out") && out.contains("DROP"),
        "{out}"
    );
    assert!(out.contains("cdn-sim run firewall-drop"), "{out}");
    let o = cdn_sim(&["explain", "418"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("522"));
}

#[test]
fn every_scenario_named_by_explain_exists() {
    for code in cdn_sim::explain::codes() {
        for s in cdn_sim::explain::lookup(code).unwrap().scenarios {
            // An entry is a built-in's name, optionally followed by `--set KEY=VALUE`s.
            let name = s.split_whitespace().next().unwrap();
            assert!(
                cdn_sim::builtin::source(name).is_some(),
                "explain {code} names {s}"
            );
        }
    }
}

#[test]
fn help_teaches_the_verbs() {
    let out = stdout(&cdn_sim(&["--help"]));
    for verb in ["run", "list", "explain"] {
        assert!(out.contains(verb), "{out}");
    }
    let out = stdout(&cdn_sim(&["run", "--help"]));
    for flag in ["--json", "--mode", "--seed", "--trace"] {
        assert!(out.contains(flag), "{out}");
    }
}
