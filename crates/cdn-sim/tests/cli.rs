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

// Hostile and careless inputs (issue 8): each gives exit status 0 or 2 with one line, in
// seconds — never a panic, never memory or time proportional to a number in the file.

/// Writes `body` to a fresh file named `name` and returns its path.
fn scenario_file(name: &str, body: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cdn-sim-cli-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// Runs `cdn-sim run FILE args…` and checks that it ends with `code` within `bound`.
/// The bounds are a hundred times what each run takes in a debug build on an idle core
/// (measured: all under 0.1 s), so a machine shared with four other builds passes.
#[track_caller]
fn run_file(path: &std::path::Path, args: &[&str], code: i32) -> Output {
    let bound = std::time::Duration::from_secs(20);
    let started = std::time::Instant::now();
    let mut all = vec!["run", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = cdn_sim(&all);
    let took = started.elapsed();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(took < bound, "took {took:?}");
    if code == 2 {
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    o
}

/// A `1ms` parent read timeout with `go_direct` or `next_parent`: the L1 gives up on its
/// L2 before the L2 can answer, and fails over. It panicked the engine (issue 8); now it
/// answers, with traces too.
#[test]
fn parent_timeout_failover_runs_with_and_without_traces() {
    for policy in ["go_direct", "next_parent"] {
        let path = scenario_file(
            &format!("failover-{policy}.toml"),
            format!(
                "name = \"p2\"\n[cdn]\non_parent_error = \"{policy}\"\n\
                 parent_read_timeout = \"1ms\"\n[[workload]]\ncount = 1\n"
            )
            .as_bytes(),
        );
        let o = run_file(&path, &["--json"], 0);
        let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(report["requests"], 1, "{report}");
        run_file(&path, &["--trace", "1"], 0);
    }
}

/// `workers = 4294967295` costs nothing until requests are in flight: the pool grows as
/// workers are used (it was preallocated: 23.9 GB for one request).
#[test]
fn a_huge_worker_pool_is_not_preallocated() {
    let path = scenario_file(
        "workers.toml",
        b"name = \"w\"\n[origin]\nworkers = 4294967295\nqueue = 4294967295\n[[workload]]\ncount = 3\n",
    );
    let o = run_file(&path, &["--json"], 0);
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["status"]["200"], 3, "{report}");
}

/// What the simulator cannot hold is refused with the key that asks for it.
#[test]
fn rates_bursts_and_attempts_beyond_the_limits_are_refused() {
    let cases: [(&str, &str, &str); 3] = [
        (
            "[[workload]]\nrate = \"1000000000/s\"\n",
            "workload[0].rate",
            "limit of 10000000/s",
        ),
        (
            "[[workload]]\narrival = \"burst\"\ncount = 10000000\n",
            "workload[0].count",
            "at most 1000000 requests in flight",
        ),
        (
            "[cdn]\nconnect_attempts = 4294967295\n[origin]\nstate = \"down\"\n[[workload]]\ncount = 1\n",
            "cdn.connect_attempts",
            "allowed: 1..=100",
        ),
    ];
    for (i, (body, key, fragment)) in cases.iter().enumerate() {
        let path = scenario_file(
            &format!("limit-{i}.toml"),
            format!("name = \"l\"\n{body}").as_bytes(),
        );
        let err = stderr(&run_file(&path, &[], 2));
        assert!(err.contains(key) && err.contains(fragment), "{err}");
    }
}

/// Eight L2s with a /16 each (524,288 addresses) start at once: pools are deduplicated
/// with a set (a list scan took 4.9 s).
#[test]
fn eight_l2s_with_a_slash_16_each_start_fast() {
    let mut body = String::from("name = \"e\"\n");
    for i in 0..8 {
        body.push_str(&format!(
            "[[cdn.l2]]\nname = \"s{i}\"\negress = [\"127.0.0.0/16\"]\n"
        ));
    }
    body.push_str("[[workload]]\ncount = 10\n");
    let path = scenario_file("egress.toml", body.as_bytes());
    run_file(&path, &["--json"], 0);
}

/// `/dev/zero` (or any file over 4 MiB) is refused after reading 4 MiB, not read until
/// memory runs out.
#[test]
fn endless_and_huge_files_are_refused_by_size() {
    let o = run_file(std::path::Path::new("/dev/zero"), &[], 2);
    assert!(stderr(&o).contains("larger than 4 MiB"), "{}", stderr(&o));
    let path = scenario_file("huge.toml", &vec![b'#'; 5 << 20]);
    let o = run_file(&path, &[], 2);
    assert!(stderr(&o).contains("larger than 4 MiB"), "{}", stderr(&o));
    // `sweep` and `--set` read the file the same way.
    let o = cdn_sim(&["sweep", "/dev/zero", "--set", "seed=1,2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("larger than 4 MiB"), "{}", stderr(&o));
}

/// A byte that is not UTF-8 is reported with its line and column.
#[test]
fn invalid_utf8_names_the_line() {
    let path = scenario_file(
        "latin1.toml",
        b"name = \"x\"\n[[workload]]\ncount = 1\n# caf\xe9\n",
    );
    let err = stderr(&run_file(&path, &[], 2));
    assert!(
        err.contains("latin1.toml:4: not UTF-8: byte 0xe9 at column 6"),
        "{err}"
    );
}

/// `cdn-sim run firewall-drop --trace 1 | head -1`: the reader is gone before the output
/// is written. The run stops quietly with status 0, as Unix tools do on SIGPIPE (it
/// panicked on the broken pipe). The pipe's read end is closed before the child writes, so
/// the write fails every time rather than only when `head` wins the race.
#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    for args in [
        &["run", "firewall-drop", "--trace", "1"][..],
        &["run", "firewall-drop", "--json", "--trace", "1"][..],
        &["list"][..],
        &["explain", "522"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cdn-sim"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
    }
}

/// An `[[event]]` that changes what the engine builds once (a node's cache, eviction,
/// egress, or the node list) was silently ignored; it is refused, naming the key.
#[test]
fn events_that_change_fixed_node_settings_are_refused() {
    let cases = [
        (
            "l2 = { name = \"shield-1\", cache = \"1MiB\" }",
            "event[0].l2.cache",
        ),
        (
            "l2 = { name = \"shield-1\", egress = [\"127.0.9.1\"] }",
            "event[0].l2.egress",
        ),
        (
            "l2 = { name = \"shield-1\", eviction = \"fifo\" }",
            "event[0].l2.eviction",
        ),
        (
            "cdn = { l1 = [{ name = \"edge-1\", cache = \"0B\" }] }",
            "event[0].cdn.l1[0].cache",
        ),
        (
            "cdn = { l2 = [{ name = \"a\" }, { name = \"b\" }] }",
            "event[0].cdn.l2",
        ),
    ];
    for (i, (patch, key)) in cases.iter().enumerate() {
        let path = scenario_file(
            &format!("event-{i}.toml"),
            format!("name = \"e\"\n[[workload]]\ncount = 1\n[[event]]\nat = \"1s\"\n{patch}\n")
                .as_bytes(),
        );
        let err = stderr(&run_file(&path, &[], 2));
        assert!(
            err.contains(&format!("event-{i}.toml:6: {key}: "))
                && err.contains("fixed for the run"),
            "{err}"
        );
    }
}
