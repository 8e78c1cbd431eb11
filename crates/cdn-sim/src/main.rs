//! The `cdn-sim` command line: run scenarios, list the built-ins, explain status codes.

use cdn_sim::progress::Progress;
use cdn_sim::report::traces_to_text;
use cdn_sim::run::{run, RunPlan};
use cdn_sim::scenario::{Scenario, ScenarioError};
use cdn_sim::sweep::{self, output, set::Setting, Shard, Sweep};
use cdn_sim::{builtin, error_pages, explain, html, quiz};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

// mimalloc, not the system allocator: the `lru` stores allocate a node per insert and free one
// per eviction, and mimalloc measured ~10% faster on the standard workload
// (examples/throughput.rs, interleaved best-of-4).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Simulate a two-tier CDN (client → L1 edge → L2 parent → origin) and watch origin failures
/// become the status codes users see: 502, 503, 504, 520–526, 530.
///
/// Start with `cdn-sim list`, then e.g. `cdn-sim run firewall-drop --trace 1`,
/// `cdn-sim explain 522`, `cdn-sim run firewall-drop --html report.html` or `cdn-sim quiz`.
/// Scenario files are TOML: copy one from `scenarios/` and edit it (reference:
/// docs/scenarios.md).
#[derive(Parser)]
#[command(name = "cdn-sim", version, about, long_about)]
struct Cli {
    /// What the event log on stderr shows: `error`, `warn`, `info` (net mode and `serve`:
    /// one access-log line per request), `debug`, `trace`, or a filter such as
    /// `cdn_net::access=info`. Overrides RUST_LOG; default: RUST_LOG, else `warn`.
    #[arg(long, global = true, value_name = "LEVEL")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// Installs the event log: `tracing` events of every crate (cdn-net's access log, warnings),
/// written to stderr and filtered by `--log`, else `RUST_LOG`, else `warn`.
fn install_log(level: Option<&str>) -> Result<(), ExitCode> {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).map_err(|e| {
            eprintln!(
                "cdn-sim: --log {l:?}: {e}; allowed: error, warn, info, debug, trace, or a \
                 filter such as cdn_net::access=info"
            );
            ExitCode::from(2)
        })?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person: logs piped to a file or a test stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    Ok(())
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
        after_help = "Examples:\n  cdn-sim run origin-down --trace 1\n  cdn-sim run limit-req-one-ip --trace-status 503   # the first request that got 503\n  cdn-sim run origin-down --set profile=nginx        # the same fault, another vendor\n  cdn-sim run origin-down-mid-run --html report.html  # a page with charts and diagrams\n  cdn-sim run scenarios/limit-req-100rps.toml --json\n  cdn-sim run my-site.toml --seed 42"
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
        /// Print the hop-by-hop story of the first N requests; with --trace-status, of the
        /// first N requests that ended with that code.
        #[arg(long, value_name = "N")]
        trace: Option<usize>,
        /// Trace the first requests (one, or --trace N) that ended with this status code,
        /// e.g. 503 (sim mode; the scenario runs twice: once to find them, once to trace).
        #[arg(long, value_name = "CODE", value_parser = clap::value_parser!(u16).range(1..=999))]
        trace_status: Option<u16>,
        /// Change one key of the scenario for this run, e.g. `--set profile=nginx` or
        /// `--set origin.workers=8` (repeatable; the keys `cdn-sim sweep` takes).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Also write the run as one self-contained HTML page (charts of status codes over
        /// time, by tier, latency, cache statuses, the topology and sequence diagrams of the
        /// first request of each status); sim mode.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Net mode: real seconds per virtual second (0.01 makes a 19 s connect timeout take
        /// 190 ms). By default it is chosen for the scenario: as fast as this machine's
        /// measured timer lateness allows while the counts stay the simulator's; a run that
        /// proves too late is made again slower (at most 3 runs). The report's `real time`
        /// line says how late the timers were; exit status 3 if the counts may differ.
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
        /// After Ctrl-C, how long requests in flight may take; then they are answered 503
        /// and their connections closed.
        #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration)]
        grace: std::time::Duration,
        /// How long a client may take to send a request head (nginx's
        /// `client_header_timeout`).
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
        header_timeout: std::time::Duration,
        /// How long an idle keep-alive connection stays open (nginx's `keepalive_timeout`).
        #[arg(long, value_name = "DURATION", default_value = "75s", value_parser = duration)]
        keepalive_timeout: std::time::Duration,
        /// How long an idle connection to the next tier is kept.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
        upstream_idle: std::time::Duration,
        /// Client connections each proxy holds at once (default: 4096, or less to fit the
        /// process's open-file limit); one more gets 503 "too many connections".
        #[arg(long, value_name = "N")]
        max_connections: Option<usize>,
    },
    /// Put the two tiers (L1 edge → L2 shield) in front of a real server on loopback: every
    /// method and header passes through, responses are cached by their real headers under
    /// the profile's rules. The shield connects from its egress pool (127.0.1.x).
    #[command(
        after_help = "Examples:\n  python3 -m http.server 8000 --bind 127.0.0.1 &\n  cdn-sim proxy --upstream http://127.0.0.1:8000 --listen 127.0.0.1:8080\n  curl -si http://127.0.0.1:8080/ | grep -i -e x-cache -e age"
    )]
    Proxy {
        /// The real server: `http://127.0.0.1:PORT` or `https://localhost:PORT` (loopback
        /// only; an https:// server's certificate is checked against the URL's host).
        #[arg(long, value_name = "URL")]
        upstream: String,
        /// Whose caching rules, timeouts and error codes: rfc9111 (the standard, for a
        /// shared cache), cloudflare, nginx, alibaba, cloudfront, fastly or varnish.
        #[arg(long, value_name = "P", default_value = "rfc9111")]
        profile: String,
        /// Where the edge listens (a loopback address and port).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// The largest body stored, in bytes (larger ones stream through uncached).
        #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
        max_stored: u64,
        /// With an https:// upstream: `strict` verifies its certificate (chain, dates, the
        /// URL's host) and answers the profile's certificate error if it fails (cloudflare
        /// 526, nginx 502); `full` accepts any certificate. Default: the profile's.
        #[arg(long, value_name = "MODE", value_parser = ["off", "flexible", "full", "strict", "origin_pull_strict"])]
        ssl_mode: Option<String>,
        /// With an https:// upstream and `--ssl-mode strict`: a PEM file of the CA
        /// certificates to trust (e.g. the CA that signed your server's certificate).
        #[arg(long, value_name = "FILE")]
        upstream_ca: Option<std::path::PathBuf>,
        /// Event loops that serve client connections, each a thread running its
        /// connections start to finish (as nginx's `worker_processes`); 0: one shared
        /// work-stealing runtime. Default: two per core.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=256))]
        threads: Option<u16>,
    },
    /// List the built-in scenarios with one-line descriptions.
    List,
    /// Explain a status code: what it means, which tier generates it, how it travels to the
    /// visitor, causes, fixes, and commands that show it.
    #[command(
        after_help = "Codes with explanations: 403 429 500 502 503 504 520 521 522 523 524 525 526 530"
    )]
    Explain {
        /// The HTTP status code, e.g. 522.
        code: u16,
    },
    /// Run a scenario once per combination of values and compare the runs: which limit,
    /// pool size or timeout makes the errors stop?
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        after_help = "Keys: any key an [[event]] can change (cdn.*, network.*, origin.*), nodes by name\n\
            (l2.NAME.KEY, l1.NAME.KEY; l2.*.KEY for every L2), workload.KEY (every workload) or\n\
            workload[i].KEY, and seed, duration, profile. Values are TOML; anything else is a\n\
            string (10r/s, 127.0.1.1-127.0.1.8 need no quotes). For a list key (egress) one\n\
            value is a list of one: l2.NAME.egress=127.0.1.1-127.0.1.8 is an 8-address pool.\n\
            The first --set is the plot's x axis.\n\n\
            Examples:\n  \
            cdn-sim sweep alibaba-security-503 --set origin.limit_req.rate=10r/s,20r/s,40r/s,80r/s \\\n    \
            --set origin.workers=2,8 --jobs 2 --plot sweep.svg\n  \
            cdn-sim sweep limit-req-100rps --set l2.shield-1.egress=127.0.1.1,127.0.1.1-127.0.1.4,127.0.1.1-127.0.1.16 --csv\n  \
            cdn-sim sweep firewall-drop --set cdn.connect_timeout=5s,19s --shard 0/2 > a.json   # one slice\n  \
            cdn-sim sweep merge a.json b.json --plot sweep.svg                                   # join slices\n\n\
            Recipes for GNU parallel, Slurm and Kubernetes: docs/sweeps.md"
    )]
    Sweep(SweepArgs),
    /// Predict which code visitors get and which tier generates it, then watch it happen.
    /// Reads answers from the terminal or from piped input.
    #[command(
        after_help = "Examples:\n  cdn-sim quiz\n  cdn-sim quiz --rounds 5 --seed 7\n  printf '522\\nl2\\n' | cdn-sim quiz --scenario firewall-drop"
    )]
    Quiz {
        /// Rounds to play.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Picks the scenarios (default: from the clock); the same seed asks the same questions.
        #[arg(long)]
        seed: Option<u64>,
        /// Ask about this built-in scenario.
        #[arg(long, value_name = "NAME")]
        scenario: Option<String>,
    },
    /// Regenerate the generated parts of docs/errors/ (profile tables, commands, sequence
    /// diagrams) from the model, or check that they are current.
    #[command(hide = true)]
    Docs {
        /// The pages' directory.
        #[arg(long, default_value = "docs/errors")]
        dir: PathBuf,
        /// Change nothing; exit 1 and list the files that are out of date.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Args)]
struct SweepArgs {
    #[command(subcommand)]
    merge: Option<SweepCommand>,
    /// A scenario file or built-in name.
    #[arg(required = true)]
    scenario: Option<String>,
    /// KEY=V1,V2,… : a key and the values it takes (repeat for a cartesian product).
    #[arg(long = "set", value_name = "KEY=V1,V2", required = true)]
    sets: Vec<String>,
    /// Runs at once (default: every core). Each run is deterministic whatever this is.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Run only slice I of N (runs whose number is I modulo N, from 0) and print it as JSON
    /// for `cdn-sim sweep merge`.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    #[command(flatten)]
    out: SweepOut,
}

#[derive(Args)]
struct SweepOut {
    /// Print CSV instead of a table.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// Print JSON (what `sweep merge` reads).
    #[arg(long)]
    json: bool,
    /// Also write an SVG plot of each code's share against the first --set's values.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Join the JSON slices of one sweep (`--shard I/N` outputs) into the whole sweep's
    /// output: byte for byte what the unsliced sweep prints.
    Merge {
        /// The slices' JSON files (`-` for stdin), in any order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        out: SweepOut,
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

/// The TOML source of a scenario file or built-in, for `sweep` (which edits it).
fn load_source(arg: &str) -> Result<(String, String), ExitCode> {
    let path = Path::new(arg);
    if path.exists() || arg.ends_with(".toml") || arg.contains('/') {
        return cdn_sim::scenario::read_source(path)
            .map(|s| (s, arg.to_string()))
            .map_err(|e| {
                eprintln!("cdn-sim: {e}");
                ExitCode::from(2)
            });
    }
    match builtin::source(arg) {
        Some(s) => Ok((s.to_string(), format!("scenarios/{arg}.toml"))),
        None => {
            // The same message `run` gives.
            load_or_exit(arg)?;
            unreachable!("a name without a built-in fails to load")
        }
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

/// Writes `text` to standard output; see [`write_all`].
fn stdout(text: impl AsRef<str>) -> Result<(), ExitCode> {
    write_all(&mut std::io::stdout().lock(), text.as_ref())
}

/// Writes `text` (traces beside `--json`) to standard error; see [`write_all`].
fn stderr(text: impl AsRef<str>) -> Result<(), ExitCode> {
    write_all(&mut std::io::stderr().lock(), text.as_ref())
}

/// Writes and flushes `text`. When the reader has gone (`cdn-sim run X --trace 1 | head -1`)
/// the program stops quietly with status 0, as a Unix tool stopped by SIGPIPE does without
/// a message (`print!` would panic: Rust ignores SIGPIPE, so the write fails with EPIPE).
/// Any other write error is one line and status 1.
fn write_all(w: &mut impl std::io::Write, text: &str) -> Result<(), ExitCode> {
    match w.write_all(text.as_bytes()).and_then(|()| w.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("cdn-sim: cannot write the output: {e}");
            Err(ExitCode::from(1))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(code) = install_log(cli.log.as_deref()) {
        return code;
    }
    match dispatch(cli) {
        Ok(code) | Err(code) => code,
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode, ExitCode> {
    Ok(match cli.command {
        Command::Serve {
            scenario,
            time_scale,
            grace,
            header_timeout,
            keepalive_timeout,
            upstream_idle,
            max_connections,
        } => {
            let sc = load_or_exit(&scenario)?;
            check_time_scale(time_scale)?;
            prepare_namespace(&sc)?;
            let proxies = sc.cdn.l1.len() + sc.cdn.l2.len();
            let fitted = cdn_net::ServeLimits::for_this_process(proxies);
            let options = cdn_sim::net_mode::ServeOptions {
                time_scale,
                grace,
                limits: cdn_net::ServeLimits {
                    header_timeout: Some(header_timeout),
                    keepalive_timeout: Some(keepalive_timeout),
                    upstream_idle: Some(upstream_idle),
                    max_connections: max_connections.unwrap_or(fitted.max_connections).max(1),
                },
            };
            match cdn_sim::net_mode::serve(&sc, &options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cdn-sim: serve: {e}");
                    ExitCode::from(if e.is_bad_input() { 2 } else { 1 })
                }
            }
        }
        Command::Proxy {
            upstream,
            profile,
            listen,
            max_stored,
            ssl_mode,
            upstream_ca,
            threads,
        } => {
            let known = || {
                std::iter::once(cdn_core::Profile::Rfc9111).chain(cdn_core::profile::ALL_PROFILES)
            };
            let Some(profile) = known().find(|p| p.as_str() == profile) else {
                let names: Vec<&str> = known().map(|p| p.as_str()).collect();
                eprintln!(
                    "cdn-sim: --profile {profile:?}: allowed: {}",
                    names.join(", ")
                );
                return Err(ExitCode::from(2));
            };
            if let Err(e) = cdn_core::origin::UpstreamUrl::parse(&upstream) {
                eprintln!("cdn-sim: --upstream: {}", e.message);
                return Err(ExitCode::from(2));
            }
            let ssl_mode = ssl_mode.map(|m| {
                toml::Value::String(m)
                    .try_into::<cdn_core::SslMode>()
                    .expect("clap admits only the modes' names")
            });
            let options = cdn_sim::net_mode::ProxyOptions {
                upstream,
                profile,
                listen,
                max_stored: max_stored.max(1),
                ssl_mode,
                upstream_ca,
                threads: threads.map_or_else(cdn_sim::net_mode::default_proxy_threads, usize::from),
            };
            match cdn_sim::net_mode::proxy(options, None, None) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cdn-sim: proxy: {e}");
                    ExitCode::from(if e.is_bad_input() { 2 } else { 1 })
                }
            }
        }
        Command::List => {
            let width = builtin::names().iter().map(|n| n.len()).max().unwrap_or(0);
            let mut text = String::new();
            for (name, summary) in builtin::summaries() {
                text.push_str(&format!("{name:<width$}  {summary}\n"));
            }
            stdout(text)?;
            ExitCode::SUCCESS
        }
        Command::Sweep(args) => sweep_command(args)?,
        Command::Quiz {
            rounds,
            seed,
            scenario,
        } => {
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() % 10_000)
            });
            let opts = quiz::QuizOptions {
                rounds: rounds.max(1),
                seed,
                scenario,
                echo: !std::io::stdin().is_terminal(),
            };
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            let mut out = std::io::stdout().lock();
            match quiz::play(&mut input, &mut out, &opts) {
                Ok(_) => ExitCode::SUCCESS,
                // The reader went away: stop quietly (see `write_all`).
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                    eprintln!("cdn-sim: quiz: {e}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("cdn-sim: quiz: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Docs { dir, check } => {
            let result = if check {
                error_pages::stale(&dir)
            } else {
                error_pages::write(&dir)
            };
            match result {
                Ok(files) if check && !files.is_empty() => {
                    for f in &files {
                        eprintln!("cdn-sim: out of date: {}", f.display());
                    }
                    eprintln!("cdn-sim: run `cdn-sim docs` to regenerate");
                    ExitCode::from(1)
                }
                Ok(files) => {
                    for f in &files {
                        eprintln!("cdn-sim: wrote {}", f.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cdn-sim: docs: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Explain { code } => match explain::lookup(code) {
            Some(e) => {
                stdout(explain::render(e))?;
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
            trace_status,
            sets,
            html,
            time_scale,
        } => {
            let sc = if sets.is_empty() {
                load_or_exit(&scenario)?
            } else {
                let fail = |msg: String| {
                    eprintln!("cdn-sim: {msg}");
                    ExitCode::from(2)
                };
                let pairs = sets
                    .iter()
                    .map(|s| cdn_sim::sweep::set::parse_pair(s))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(fail)?;
                let (source, file) = load_source(&scenario)?;
                cdn_sim::sweep::set::scenario_with(&source, &file, &pairs).map_err(fail)?
            };
            if let (Mode::Sim, Some(url)) = (mode, &sc.origin.upstream) {
                eprintln!(
                    "cdn-sim: {scenario}: [origin] upstream = {url:?} is a real server: run it with --mode net, `cdn-sim serve` or `cdn-sim proxy` (sim mode models the origin)"
                );
                return Err(ExitCode::from(2));
            }
            if let Mode::Net = mode {
                if let Some(f) = time_scale {
                    check_time_scale(f)?;
                }
                if html.is_some() || trace_status.is_some() {
                    eprintln!("cdn-sim: --html and --trace-status need --mode sim");
                    return Err(ExitCode::from(2));
                }
                prepare_namespace(&sc)?;
                let trace = trace.unwrap_or(0);
                let options = cdn_sim::net_mode::NetOptions {
                    time_scale,
                    seed,
                    trace,
                    machine: None,
                };
                let progress = Progress::new(!json);
                let ticker = progress.real_time(time_scale);
                let result = cdn_sim::net_mode::run(&sc, options);
                drop(ticker);
                return Ok(match result {
                    Ok(out) => {
                        if json {
                            stdout(format!("{}\n", out.report.to_json()))?;
                            if trace > 0 {
                                stderr(traces_to_text(&out.traces))?;
                            }
                        } else {
                            if trace > 0 {
                                stdout(traces_to_text(&out.traces))?;
                            }
                            stdout(out.report.to_text(&sc.description))?;
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
                        ExitCode::from(if e.is_bad_input() { 2 } else { 1 })
                    }
                });
            }
            let mut sc = sc;
            if let Some(s) = seed {
                sc.seed = s;
            }
            let plan = RunPlan {
                trace: trace.unwrap_or(0),
                trace_status,
                collect: html.is_some(),
            };
            let out = match run(&sc, &plan, &Progress::new(!json)) {
                Ok(out) => out,
                Err(e) => {
                    eprintln!("cdn-sim: {}: {e}", sc.name);
                    return Err(ExitCode::from(2));
                }
            };
            let traces = traces_to_text(&out.traces);
            if let Some(code) = trace_status {
                if out.traces.is_empty() {
                    let seen: Vec<String> =
                        out.report.status.keys().map(|c| c.to_string()).collect();
                    eprintln!(
                        "cdn-sim: no request ended with {code}; the codes in this run: {}",
                        seen.join(", ")
                    );
                } else {
                    eprintln!(
                        "cdn-sim: {} of {} requests ended with {code}; tracing the first {}",
                        out.with_status,
                        out.report.requests,
                        out.traces.len()
                    );
                }
            }
            if json {
                stdout(format!("{}\n", out.report.to_json()))?;
                stderr(traces)?;
            } else {
                stdout(traces)?;
                stdout(out.report.to_text(&sc.description))?;
            }
            if let (Some(path), Some(answers)) = (&html, &out.answers) {
                let mut command = format!("cdn-sim run {scenario} --seed {}", sc.seed);
                for s in &sets {
                    command.push_str(&format!(" --set {s}"));
                }
                if let Some(c) = trace_status {
                    command.push_str(&format!(" --trace-status {c}"));
                }
                if let Some(n) = trace {
                    command.push_str(&format!(" --trace {n}"));
                }
                command.push_str(&format!(" --html {}", path.display()));
                let page = html::render(&html::Page {
                    scenario: &sc,
                    report: &out.report,
                    answers,
                    traces: &out.traces,
                    command,
                });
                if let Err(e) = std::fs::write(path, page) {
                    eprintln!("cdn-sim: {}: cannot write the report: {e}", path.display());
                    return Err(ExitCode::from(1));
                }
                eprintln!("cdn-sim: wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
    })
}

fn sweep_command(args: SweepArgs) -> Result<ExitCode, ExitCode> {
    let fail = |msg: String| {
        eprintln!("cdn-sim: {msg}");
        ExitCode::from(2)
    };
    if let Some(SweepCommand::Merge { files, out }) = args.merge {
        let mut parts = Vec::new();
        for f in &files {
            let name = f.display().to_string();
            let text = if name == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(f)
            }
            .map_err(|e| fail(format!("{name}: cannot read: {e}")))?;
            parts.push(output::from_json(&text, &name).map_err(fail)?);
        }
        let doc = sweep::merge(parts).map_err(fail)?;
        return print_sweep(&doc, &out);
    }
    let scenario = args.scenario.expect("required by clap");
    let (source, file) = load_source(&scenario)?;
    let settings = args
        .sets
        .iter()
        .map(|s| Setting::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    let shard = args
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(fail)?;
    if shard.is_some() && (args.out.csv || args.out.plot.is_some()) {
        return Err(fail(
            "--shard prints a slice as JSON for `cdn-sim sweep merge`; give --csv or --plot to the merge"
                .into(),
        ));
    }
    let jobs = match args.jobs {
        Some(0) => return Err(fail("--jobs must be at least 1".into())),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let sweep = Sweep::new(&source, &file, settings).map_err(fail)?;
    let progress = Progress::new(!args.out.json && shard.is_none());
    let total = (0..sweep.runs())
        .filter(|n| shard.is_none_or(|s| s.takes(*n)))
        .count();
    let counter = progress.counter(total as u64, "runs");
    let doc = sweep.run(shard, jobs, Some(&counter));
    drop(counter);
    let doc = doc.map_err(fail)?;
    if shard.is_some() {
        stdout(output::to_json(&doc))?;
        return Ok(ExitCode::SUCCESS);
    }
    print_sweep(&doc, &args.out)
}

fn print_sweep(doc: &sweep::SweepDoc, out: &SweepOut) -> Result<ExitCode, ExitCode> {
    if out.json {
        stdout(output::to_json(doc))?;
    } else if out.csv {
        stdout(output::to_csv(doc))?;
    } else {
        stdout(output::to_table(doc))?;
    }
    if let Some(path) = &out.plot {
        if let Err(e) = std::fs::write(path, output::to_svg(doc)) {
            eprintln!("cdn-sim: {}: cannot write the plot: {e}", path.display());
            return Err(ExitCode::from(1));
        }
        eprintln!("cdn-sim: wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A duration flag (`2s`, `500ms`, `1m`), as scenario files write them.
fn duration(s: &str) -> Result<std::time::Duration, String> {
    cdn_core::units::parse_duration(s).map_err(|e| e.to_string())
}
