//! The `cdn-sim` command line: run scenarios, list the built-ins, explain status codes.

use cdn_sim::engine::{simulate, SimOptions};
use cdn_sim::report::traces_to_text;
use cdn_sim::scenario::{Scenario, ScenarioError};
use cdn_sim::{builtin, explain};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

// mimalloc, not the system allocator: the `lru` stores allocate a node per insert and free one
// per eviction, and mimalloc measured ~10% faster on the standard workload
// (examples/throughput.rs, interleaved best-of-4).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Simulate a two-tier CDN (client → L1 edge → L2 parent → origin) and watch origin failures
/// become the status codes users see: 502, 503, 504, 520–526, 530.
///
/// Start with `cdn-sim list`, then e.g. `cdn-sim run firewall-drop --trace 1` and
/// `cdn-sim explain 522`. Scenario files are TOML: copy one from `scenarios/` and edit it
/// (reference: docs/scenarios.md).
#[derive(Parser)]
#[command(name = "cdn-sim", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario file or a built-in scenario by name.
    ///
    /// Exit status: 0 on success, 2 if the scenario is invalid (the message names file, line,
    /// key and what is allowed), 1 on a runtime failure, 3 when a net-mode run's real timers
    /// fired later than the scenario tolerates (the report is printed; the message says how to
    /// run it faithfully).
    #[command(
        after_help = "Examples:\n  cdn-sim run origin-down --trace 1\n  cdn-sim run scenarios/limit-req-100rps.toml --json\n  cdn-sim run my-site.toml --seed 42"
    )]
    Run {
        /// A path to a scenario file (TOML) or the name of a built-in scenario (`cdn-sim list`).
        scenario: String,
        /// Print the report as one JSON object (keys sorted) instead of a table.
        #[arg(long)]
        json: bool,
        /// `sim`: virtual time (instant, deterministic). `net`: real sockets on loopback.
        #[arg(long, value_enum, default_value = "sim")]
        mode: Mode,
        /// Override the scenario's seed (same scenario + seed ⇒ byte-identical report).
        #[arg(long)]
        seed: Option<u64>,
        /// Print the hop-by-hop story of the first N requests.
        #[arg(long, value_name = "N", default_value_t = 0)]
        trace: usize,
        /// Net mode: real seconds per virtual second (0.01 makes a 19 s connect timeout take
        /// 190 ms). By default it is chosen for the scenario: as fast as this machine's
        /// measured timer lateness allows while the counts stay the simulator's.
        #[arg(long, value_name = "F")]
        time_scale: Option<f64>,
    },
    /// Start the scenario's CDN on real loopback sockets and print the L1 address, so you can
    /// `curl` it; Ctrl-C stops it. Edit the scenario and restart to watch codes change.
    #[command(
        after_help = "Example:\n  cdn-sim serve firewall-drop --time-scale 1\n  curl -si http://127.0.2.1:PORT/assets/1.png"
    )]
    Serve {
        /// A scenario file or built-in name (its workloads are ignored).
        scenario: String,
        /// Real seconds per virtual second (1 = real time).
        #[arg(long, value_name = "F", default_value_t = 1.0)]
        time_scale: f64,
    },
    /// List the built-in scenarios with one-line descriptions.
    List,
    /// Explain a status code: what it means, which tier generates it, causes and fixes.
    #[command(after_help = "Codes with explanations: 502 503 504 520 521 522 523 524 525 526 530")]
    Explain {
        /// The HTTP status code, e.g. 522.
        code: u16,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Sim,
    Net,
}

fn load(arg: &str) -> Result<Scenario, ScenarioError> {
    let path = Path::new(arg);
    if path.exists() || arg.ends_with(".toml") || arg.contains('/') {
        Scenario::from_path(path)
    } else {
        builtin::load(arg)
    }
}

/// Loads a scenario, or prints its one-line error: exit status 2.
fn load_or_exit(arg: &str) -> Result<Scenario, ExitCode> {
    load(arg).map_err(|e| {
        eprintln!("cdn-sim: {e}");
        ExitCode::from(2)
    })
}

/// A `--time-scale` must be within the range net mode can keep (exit status 2 otherwise).
fn check_time_scale(f: f64) -> Result<(), ExitCode> {
    use cdn_sim::net_mode::pace::{MAX_TIME_SCALE, MIN_TIME_SCALE};
    if (MIN_TIME_SCALE..=MAX_TIME_SCALE).contains(&f) {
        return Ok(());
    }
    eprintln!(
        "cdn-sim: --time-scale {f} is out of range; allowed: {MIN_TIME_SCALE} to {MAX_TIME_SCALE} \
         (real seconds per virtual second, e.g. 0.01 or 1)"
    );
    Err(ExitCode::from(2))
}

/// Enters a private network namespace if the scenario needs one (before any thread starts).
fn prepare_namespace(sc: &Scenario) -> Result<(), ExitCode> {
    cdn_sim::net_mode::prepare_namespace(sc).map_err(|e| {
        let fault = cdn_sim::net_mode::needs_namespace(sc).unwrap_or("this scenario");
        eprintln!(
            "cdn-sim: {fault} needs a private network namespace and one could not be made: {e}"
        );
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    match dispatch(Cli::parse()) {
        Ok(code) | Err(code) => code,
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode, ExitCode> {
    Ok(match cli.command {
        Command::Serve {
            scenario,
            time_scale,
        } => {
            let sc = load_or_exit(&scenario)?;
            check_time_scale(time_scale)?;
            prepare_namespace(&sc)?;
            match cdn_sim::net_mode::serve(&sc, time_scale) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cdn-sim: serve: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::List => {
            let width = builtin::names().iter().map(|n| n.len()).max().unwrap_or(0);
            for (name, summary) in builtin::summaries() {
                println!("{name:<width$}  {summary}");
            }
            ExitCode::SUCCESS
        }
        Command::Explain { code } => match explain::lookup(code) {
            Some(e) => {
                print!("{}", explain::render(e));
                ExitCode::SUCCESS
            }
            None => {
                let known: Vec<String> = explain::codes().map(|c| c.to_string()).collect();
                eprintln!(
                    "cdn-sim: no explanation for {code}; explained codes: {}",
                    known.join(", ")
                );
                ExitCode::from(2)
            }
        },
        Command::Run {
            scenario,
            json,
            mode,
            seed,
            trace,
            time_scale,
        } => {
            let sc = load_or_exit(&scenario)?;
            if let Mode::Net = mode {
                if let Some(f) = time_scale {
                    check_time_scale(f)?;
                }
                prepare_namespace(&sc)?;
                let options = cdn_sim::net_mode::NetOptions {
                    time_scale,
                    seed,
                    trace,
                    machine: None,
                };
                return Ok(match cdn_sim::net_mode::run(&sc, options) {
                    Ok(out) => {
                        if json {
                            println!("{}", out.report.to_json());
                            if trace > 0 {
                                eprint!("{}", traces_to_text(&out.traces));
                            }
                        } else {
                            if trace > 0 {
                                print!("{}", traces_to_text(&out.traces));
                            }
                            print!("{}", out.report.to_text(&sc.description));
                        }
                        match out.unfaithful {
                            None => ExitCode::SUCCESS,
                            Some(advice) => {
                                eprintln!("cdn-sim: net mode: {advice}");
                                ExitCode::from(3)
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("cdn-sim: net mode: {e}");
                        ExitCode::from(1)
                    }
                });
            }
            let progress: Option<Box<dyn FnMut(u64, cdn_core::Instant)>> =
                std::io::stderr().is_terminal().then(|| {
                    Box::new(|n: u64, t: cdn_core::Instant| {
                        eprint!(
                            "\r{n} requests done, virtual time {:.1}s ",
                            t.as_nanos() as f64 / 1e9
                        );
                    }) as Box<dyn FnMut(u64, cdn_core::Instant)>
                });
            let mut sc = sc;
            if let Some(s) = seed {
                sc.seed = s;
            }
            let out = simulate(
                &sc,
                SimOptions {
                    trace,
                    progress,
                    ..Default::default()
                },
            );
            let out = match out {
                Ok(out) => out,
                Err(e) => {
                    eprintln!("cdn-sim: {}: {e}", sc.name);
                    return Err(ExitCode::from(2));
                }
            };
            if std::io::stderr().is_terminal() && out.report.requests >= 1_000_000 {
                eprintln!();
            }
            if json {
                println!("{}", out.report.to_json());
                if trace > 0 {
                    eprint!("{}", traces_to_text(&out.traces));
                }
            } else {
                if trace > 0 {
                    print!("{}", traces_to_text(&out.traces));
                }
                print!("{}", out.report.to_text(&sc.description));
            }
            ExitCode::SUCCESS
        }
    })
}
