//! Trace replay against the generated standard workload: speed and memory.
//!
//! ```text
//! cargo run --release -p cdn-sim --example trace_throughput -- 10000000 [both|generated|trace]
//! ```
//! Writes the standard workload's own request sequence (zipf 1.0 over 1M keys, 4 KiB
//! objects, 100k requests per second) as an `oracleGeneral` trace of N records in the temp
//! directory, then runs the two-tier standard topology on the generated workload and on the
//! replayed trace, in alternating order, and prints each one's simulated requests per second,
//! their ratio, the time to read the trace once (the check a scenario file gets at load),
//! whether the two reports are identical, and the peak RSS. With `generated` or `trace`
//! only that one runs, so each one's peak RSS can be read on its own.

use cdn_sim::benchmark::standard_scenario;
use cdn_sim::engine::{simulate, SimOptions};
use cdn_sim::replay::oracle::encode;
use cdn_sim::replay::{scan, TraceFormat, TraceSpec};
use cdn_sim::workload::WorkloadGen;
use std::io::{BufWriter, Write};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map(|s| {
            s.parse()
                .expect("usage: trace_throughput [REQUESTS] [both|generated|trace]")
        })
        .unwrap_or(10_000_000);
    let mode = args.next().unwrap_or_else(|| "both".into());
    let generated = standard_scenario(n);

    // The generated workload's arrivals, written as a trace: same keys, same times (100k
    // per second, spread evenly over each second by the replay), same sizes.
    let path = std::env::temp_dir().join(format!("cdn-sim-standard-{n}.oracleGeneral"));
    let t = Instant::now();
    {
        let w = &generated.workloads[0];
        let mut g = WorkloadGen::new(w, 0, generated.duration, generated.seed);
        let mut out = BufWriter::new(std::fs::File::create(&path).expect("temp file"));
        let per_s = w.rate.per_second();
        let mut i = 0u64;
        while let Some(a) = g.next_arrival() {
            let second = (i as f64 / per_s) as u32;
            out.write_all(&encode(second, a.key, 4096, -1))
                .expect("write");
            i += 1;
        }
        out.flush().expect("write");
    }
    let write_s = t.elapsed().as_secs_f64();
    let mut replayed = generated.clone();
    replayed.workloads[0].trace = Some(TraceSpec::new(&path, TraceFormat::OracleGeneral));

    let t = Instant::now();
    let summary = scan(replayed.workloads[0].trace.as_ref().expect("set")).expect("valid trace");
    let scan_s = t.elapsed().as_secs_f64();
    assert_eq!(summary.records, n);

    let run = |s: &cdn_sim::scenario::Scenario| {
        let t = Instant::now();
        let out = simulate(s, SimOptions::default()).unwrap();
        (t.elapsed().as_secs_f64(), out.report.to_json())
    };
    println!("requests             {n}");
    println!(
        "trace                {} ({:.0} MiB written in {write_s:.1} s; read once in {scan_s:.2} s = {:.1} M records/s)",
        path.display(),
        (n * 24) as f64 / (1024.0 * 1024.0),
        n as f64 / scan_s / 1e6
    );
    match mode.as_str() {
        "generated" | "trace" => {
            let s = if mode == "generated" {
                &generated
            } else {
                &replayed
            };
            let (secs, _) = run(s);
            println!(
                "{mode:<9} req/s      {:.2} M  ({secs:.2} s)",
                n as f64 / secs / 1e6
            );
        }
        _ => {
            // Alternate the order so that neither always runs on a warm machine.
            let (mut g, mut r) = (Vec::new(), Vec::new());
            let mut same = true;
            for round in 0..2 {
                let (a, b) = if round % 2 == 0 {
                    let a = run(&generated);
                    (a, run(&replayed))
                } else {
                    let b = run(&replayed);
                    (run(&generated), b)
                };
                same &= a.1 == b.1;
                g.push(a.0);
                r.push(b.0);
            }
            for (name, v) in [("generated", &g), ("trace", &r)] {
                let rates: Vec<String> = v
                    .iter()
                    .map(|s| format!("{:.2} M", n as f64 / s / 1e6))
                    .collect();
                println!("{name:<9} req/s      {}", rates.join(" / "));
            }
            let ratios: Vec<String> = g
                .iter()
                .zip(&r)
                .map(|(g, r)| format!("{:.2}", g / r))
                .collect();
            println!(
                "trace / generated    {} (rate ratio per round; ≥ 1 means the trace is as fast)",
                ratios.join(" / ")
            );
            println!("reports identical    {}", if same { "yes" } else { "NO" });
        }
    }
    println!("peak RSS             {:.1} MiB", peak_rss_mib());
    let _ = std::fs::remove_file(&path);
}
