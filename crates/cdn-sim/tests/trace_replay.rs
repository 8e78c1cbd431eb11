//! Trace workloads: each format read record by record, replay timing (speed, timestamps
//! shared by several records, times going backwards), sizes and clients, compression, and
//! the user's scenario errors naming file, record and field.

use cdn_core::Instant;
use cdn_core::Tier;
use cdn_sim::replay::oracle::encode;
use cdn_sim::replay::{TraceFormat, TraceSpec};
use cdn_sim::scenario::{Scenario, Workload};
use cdn_sim::workload::{client_addr, Arrival, WorkloadGen};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A fresh directory for one test.
fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cdn-sim-trace-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn replay(spec: TraceSpec, clients: u32) -> Vec<Arrival> {
    let w = Workload {
        trace: Some(spec),
        clients,
        ..Workload::default()
    };
    let mut g = WorkloadGen::new(&w, 0, Duration::from_secs(1_000_000), 0);
    let out: Vec<Arrival> = std::iter::from_fn(|| g.next_arrival()).collect();
    assert_eq!(g.error(), None);
    out
}

fn ms(a: &Arrival) -> f64 {
    a.at.as_nanos() as f64 / 1e6
}

#[test]
fn native_trace_gives_keys_sizes_clients_and_spreads_shared_seconds() {
    let d = dir("native");
    let f = write(
        &d,
        "t.csv",
        b"time,key,size,client\n100,7,512,3\n100,8,1024,4\n101,7,512,5\n104,9,64,3\n",
    );
    let a = replay(TraceSpec::new(&f, TraceFormat::Native), 4);
    assert_eq!(a.iter().map(|x| x.key).collect::<Vec<_>>(), [7, 8, 7, 9]);
    assert_eq!(
        a.iter().map(|x| x.size).collect::<Vec<_>>(),
        [Some(512), Some(1024), Some(512), Some(64)]
    );
    // Client ids map onto the workload's 4 addresses: 3, 4 mod 4 = 0, 5 mod 4 = 1, 3.
    assert_eq!(
        a.iter().map(|x| x.client).collect::<Vec<_>>(),
        [
            client_addr(3),
            client_addr(0),
            client_addr(1),
            client_addr(3)
        ]
    );
    // Times relative to the first record; the two records of second 100 are spread over
    // that second (0 ms, 500 ms); the last group is alone in its second.
    assert_eq!(
        a.iter().map(ms).collect::<Vec<_>>(),
        [0.0, 500.0, 1000.0, 4000.0]
    );
}

#[test]
fn speed_divides_every_gap_and_start_shifts_them() {
    let d = dir("speed");
    let f = write(
        &d,
        "t.csv",
        b"time,key,size\n0,1,10\n0,2,10\n1,3,10\n10,4,10\n",
    );
    let mut spec = TraceSpec::new(&f, TraceFormat::Native);
    spec.speed = 4.0;
    let w = Workload {
        trace: Some(spec),
        start: Duration::from_secs(2),
        ..Workload::default()
    };
    let mut g = WorkloadGen::new(&w, 0, Duration::from_secs(100), 0);
    let at: Vec<f64> = std::iter::from_fn(|| g.next_arrival())
        .map(|a| ms(&a))
        .collect();
    assert_eq!(at, [2000.0, 2125.0, 2250.0, 4500.0]);
}

#[test]
fn a_group_is_spread_only_up_to_the_next_timestamp() {
    // Milliseconds: three records at 10 ms and the next at 10.3 ms would be 1 ms apart if
    // spread over a whole unit; they are spread over the 0.3 ms to the next record instead.
    let d = dir("group");
    let f = write(
        &d,
        "t.csv",
        b"time,key,size\n10,1,1\n10,2,1\n10,3,1\n10.3,4,1\n",
    );
    let mut spec = TraceSpec::new(&f, TraceFormat::Native);
    spec.time_unit = cdn_sim::replay::TimeUnit::Millis;
    let at: Vec<u64> = replay(spec, 1).iter().map(|a| a.at.as_nanos()).collect();
    assert_eq!(at, [0, 100_000, 200_000, 300_000]);
}

#[test]
fn times_going_backwards_keep_the_file_order() {
    let d = dir("backwards");
    let f = write(&d, "t.csv", b"time,key,size\n5,1,1\n7,2,1\n6,3,1\n9,4,1\n");
    let a = replay(TraceSpec::new(&f, TraceFormat::Native), 1);
    assert_eq!(a.iter().map(|x| x.key).collect::<Vec<_>>(), [1, 2, 3, 4]);
    // Record 3 (time 6) is taken as time 7, sharing that second with record 2.
    assert_eq!(
        a.iter().map(ms).collect::<Vec<_>>(),
        [0.0, 2000.0, 2500.0, 4000.0]
    );
}

#[test]
fn libcachesim_csv_takes_columns_delimiter_header_and_text_ids() {
    let d = dir("csv");
    let f = write(
        &d,
        "t.tsv",
        b"id\tts\tbytes\n/a.png\t0\t100\n/b.png\t0\t200\n/a.png\t1\t100\n",
    );
    let mut spec = TraceSpec::new(&f, TraceFormat::Csv);
    spec.columns.obj_id_col = Some(1);
    spec.columns.time_col = Some(2);
    spec.columns.obj_size_col = Some(3);
    spec.delimiter = Some('\t');
    spec.has_header = Some(true);
    spec.obj_id_is_num = Some(false);
    let a = replay(spec, 1);
    assert_eq!(a.len(), 3);
    assert_eq!(a[0].key, cdn_sim::replay::hash_text(b"/a.png"));
    assert_eq!(a[0].key, a[2].key);
    assert_ne!(a[0].key, a[1].key);
    assert_eq!(
        a.iter().map(|x| x.size).collect::<Vec<_>>(),
        [Some(100), Some(200), Some(100)]
    );
    assert_eq!(a.iter().map(ms).collect::<Vec<_>>(), [0.0, 500.0, 1000.0]);
}

#[test]
fn csv_without_a_time_column_is_paced_by_rate() {
    let d = dir("rate");
    let f = write(&d, "t.csv", b"1\n2\n3\n");
    let mut spec = TraceSpec::new(&f, TraceFormat::Csv);
    spec.columns.obj_id_col = Some(1);
    let w = Workload {
        trace: Some(spec),
        rate: cdn_core::units::Rate::per_second_f64(4.0),
        ..Workload::default()
    };
    let mut g = WorkloadGen::new(&w, 0, Duration::from_secs(10), 0);
    let a: Vec<Arrival> = std::iter::from_fn(|| g.next_arrival()).collect();
    assert_eq!(a.iter().map(ms).collect::<Vec<_>>(), [0.0, 250.0, 500.0]);
    // No size column: the origin's object_size applies.
    assert!(a.iter().all(|x| x.size.is_none()));
}

fn oracle_bytes(records: &[(u32, u64, u32)]) -> Vec<u8> {
    records
        .iter()
        .flat_map(|&(t, id, size)| encode(t, id, size, -1))
        .collect()
}

#[test]
fn oracle_general_reads_the_same_plain_gzip_and_zstd() {
    let d = dir("oracle");
    let records: Vec<(u32, u64, u32)> = (0..3000u32)
        .map(|i| {
            (
                1_700_000_000 + i / 100,
                u64::from(i % 37) * 1_000_003,
                100 + i,
            )
        })
        .collect();
    let raw = oracle_bytes(&records);
    let plain = write(&d, "t.oracleGeneral", &raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    let gz = write(&d, "t.oracleGeneral.gz", &gz.finish().unwrap());
    let zst = write(
        &d,
        "t.oracleGeneral.zst",
        &zstd::encode_all(&raw[..], 3).unwrap(),
    );
    let a = replay(TraceSpec::new(&plain, TraceFormat::OracleGeneral), 10);
    assert_eq!(a.len(), 3000);
    assert_eq!(a[5].key, 5 * 1_000_003);
    assert_eq!(a[5].size, Some(105));
    // 100 records per second, spread 10 ms apart.
    assert_eq!(a[101].at, Instant(1_010_000_000));
    for other in [gz, zst] {
        assert_eq!(
            replay(TraceSpec::new(&other, TraceFormat::OracleGeneral), 10),
            a
        );
    }
}

#[test]
fn zero_size_records_are_skipped_as_libcachesim_does_unless_asked() {
    let d = dir("zero");
    let f = write(
        &d,
        "t.bin",
        &oracle_bytes(&[(0, 1, 10), (0, 2, 0), (1, 3, 10)]),
    );
    let keys = |a: Vec<Arrival>| a.iter().map(|x| x.key).collect::<Vec<_>>();
    assert_eq!(
        keys(replay(TraceSpec::new(&f, TraceFormat::OracleGeneral), 1)),
        [1, 3]
    );
    let mut keep = TraceSpec::new(&f, TraceFormat::OracleGeneral);
    keep.ignore_size_zero_req = Some(false);
    assert_eq!(keys(replay(keep, 1)), [1, 2, 3]);
}

#[test]
fn count_and_duration_end_a_replay_early() {
    let d = dir("caps");
    let f = write(&d, "t.csv", b"time,key,size\n0,1,1\n1,2,1\n2,3,1\n3,4,1\n");
    let spec = TraceSpec::new(&f, TraceFormat::Native);
    let run = |count, secs| {
        let w = Workload {
            trace: Some(spec.clone()),
            count,
            ..Workload::default()
        };
        let mut g = WorkloadGen::new(&w, 0, Duration::from_secs(secs), 0);
        std::iter::from_fn(|| g.next_arrival()).count()
    };
    assert_eq!(run(Some(2), 100), 2);
    assert_eq!(run(None, 2), 2); // sent at 0 s and 1 s; 2 s is the end of the run
    assert_eq!(run(None, 100), 4);
}

/// Loads a scenario whose workload is `workload` (TOML lines) and returns the error.
fn scenario_error(d: &Path, workload: &str) -> String {
    let file = write(
        d,
        "s.toml",
        format!("name = \"t\"\n[[workload]]\n{workload}\n").as_bytes(),
    );
    Scenario::from_path(&file).unwrap_err().to_string()
}

#[test]
fn bad_records_are_named_by_file_record_line_and_field() {
    let d = dir("errors");
    let s = d.join("s.toml").display().to_string();
    let t = |name: &str| d.join(name).display().to_string();
    write(&d, "size.csv", b"time,key,size\n0,1,10\n1,2,lots\n");
    assert_eq!(
        scenario_error(&d, "trace = \"size.csv\""),
        format!(
            "{s}:3: workload[0].trace: {}: record 2 (line 3): size: \"lots\" is not a whole \
             number of bytes",
            t("size.csv")
        )
    );
    write(&d, "short.csv", b"time,key,size\n0,1\n");
    assert!(
        scenario_error(&d, "trace = \"short.csv\"").ends_with(&format!(
            "{}: record 1 (line 2): size: missing: the line has 2 fields, this is field 3",
            t("short.csv")
        ))
    );
    write(&d, "header.csv", b"ts,key,size\n0,1,1\n");
    assert!(scenario_error(&d, "trace = \"header.csv\"").contains(
        "line 1: unknown column \"ts\" in the header; allowed: time, key, size, status, client"
    ));
    write(&d, "cut.bin", &oracle_bytes(&[(0, 1, 1), (0, 2, 2)])[..40]);
    assert!(scenario_error(&d, "trace = \"cut.bin\"\nformat = \"oracle_general\"").ends_with(
        &format!("{}: record 2 (byte 24): record: truncated: 16 of 24 bytes (oracleGeneral records are u32 time, u64 object id, u32 size, i64 next access, little-endian)", t("cut.bin"))
    ));
    write(&d, "time.csv", b"1,x,-5\n");
    assert!(scenario_error(
        &d,
        "trace = \"time.csv\"\nformat = \"csv\"\nobj_id_col = 2\ntime_col = 3\nobj_id_is_num = false"
    )
    .ends_with("record 1 (line 1): time (column 3): \"-5\" is not a time; allowed: a non-negative decimal number, e.g. 1700000000 or 12.345"));
    let missing = scenario_error(&d, "trace = \"nope.csv\"");
    assert!(
        missing.starts_with(&format!(
            "{s}:3: workload[0].trace: {}: cannot read the trace:",
            t("nope.csv")
        )),
        "{missing}"
    );
    write(&d, "empty.csv", b"time,key,size\n");
    assert!(
        scenario_error(&d, "trace = \"empty.csv\"").ends_with("the trace has no records to replay")
    );
}

#[test]
fn keys_that_do_not_fit_the_format_are_refused_with_their_line() {
    let d = dir("keys");
    write(&d, "t.csv", b"time,key,size\n0,1,1\n");
    let s = d.join("s.toml").display().to_string();
    assert_eq!(
        scenario_error(&d, "trace = \"t.csv\"\ntime_col = 1"),
        format!("{s}:4: workload[0].time_col: only applies with format = \"csv\" (this trace's format is \"native\": a native trace names its columns in its header line)")
    );
    assert_eq!(
        scenario_error(&d, "trace = \"t.csv\"\nformat = \"csv\""),
        format!("{s}:4: workload[0].obj_id_col: required with format = \"csv\": the column (from 1) that holds the object id; e.g. obj_id_col = 2")
    );
    assert_eq!(
        scenario_error(&d, "trace = \"t.csv\"\nspeed = 0"),
        format!("{s}:4: workload[0].speed: must be a number above 0, found 0; e.g. speed = 2.0 replays twice as fast as recorded")
    );
    assert_eq!(
        scenario_error(&d, "trace = \"t.csv\"\nurls = 100"),
        format!("{s}:4: workload[0].urls: does not apply to a trace workload: the trace says which objects are asked for and when; remove `urls` or `trace`")
    );
    assert!(scenario_error(&d, "speed = 2")
        .ends_with("`speed` only applies to a trace workload: add trace = \"FILE\" (see docs/traces.md), or remove `speed`"));
    assert!(
        scenario_error(&d, "trace = \"t.csv\"\nformat = \"oracle\"").contains(
            "workload[0].format: unknown value \"oracle\"; allowed: native, csv, oracle_general"
        )
    );
}

#[test]
fn a_relative_trace_path_is_relative_to_the_scenario_file() {
    let d = dir("relative");
    std::fs::create_dir_all(d.join("logs")).unwrap();
    write(&d, "logs/t.csv", b"time,key,size\n0,1,1\n");
    let file = write(
        &d,
        "s.toml",
        b"name = \"t\"\n[[workload]]\ntrace = \"logs/t.csv\"\n",
    );
    let s = Scenario::from_path(&file).unwrap();
    assert_eq!(
        s.workloads[0].trace.as_ref().unwrap().file,
        d.join("logs/t.csv")
    );
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_shipped_scenario_replays_its_sample_from_any_directory() {
    // Run from a temp directory: the trace path resolves against the scenario's directory.
    let cwd = dir("cli");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cdn-sim"))
        .args(["run", "--json"])
        .arg(repo().join("scenarios/trace-replay.toml"))
        .current_dir(&cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every record of the sample is one request (the log spans 118 s of the 120 s run).
    let records = std::fs::read_to_string(repo().join("scenarios/traces/sample.csv"))
        .unwrap()
        .lines()
        .count() as u64
        - 1;
    assert_eq!(v["requests"], records);
    for tier in ["l1", "l2"] {
        let c = &v["cache"][tier];
        let ratio =
            c["hit"].as_f64().unwrap() / (c["hit"].as_f64().unwrap() + c["miss"].as_f64().unwrap());
        assert!(
            (c["hit_ratio"].as_f64().unwrap() - ratio).abs() < 1e-6,
            "{tier}"
        );
        assert!(c["byte_hit_ratio"].is_f64(), "{tier}");
    }
    assert!(v["origin_offload"]["bytes"].is_f64());
}

#[test]
fn the_sample_trace_is_what_its_script_writes() {
    let script = repo().join("scripts/make-sample-trace.py");
    let out = match std::process::Command::new("python3").arg(&script).output() {
        Ok(out) => out,
        Err(e) => {
            // Past the test harness's output capture, so a passing run shows it.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: python3 is not installed ({e}); cannot check {script:?}"
            );
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shipped = std::fs::read(repo().join("scenarios/traces/sample.csv")).unwrap();
    assert!(out.stdout == shipped, "scenarios/traces/sample.csv differs from the script's output: run python3 scripts/make-sample-trace.py > scenarios/traces/sample.csv");
}

#[test]
fn trace_sizes_are_what_the_origin_sends() {
    // Two objects of 100 and 900 bytes, each asked for twice, 1 s apart: the first request
    // of each misses (1000 bytes from the origin), the second hits at L1 (1000 bytes).
    let d = dir("sizes");
    write(
        &d,
        "t.csv",
        b"time,key,size\n0,1,100\n1,2,900\n2,1,100\n3,2,900\n",
    );
    let file = write(
        &d,
        "s.toml",
        b"name = \"t\"\n[[workload]]\ntrace = \"t.csv\"\nclients = 1\n",
    );
    let s = Scenario::from_path(&file).unwrap();
    let r = cdn_sim::engine::simulate(&s, Default::default())
        .unwrap()
        .report;
    let b = r.bytes.unwrap();
    assert_eq!((b.served, b.from_origin), (2000, 1000));
    assert_eq!(r.cache[&Tier::L1].byte_hit_ratio, Some(0.5));
}
