//! Progress on the terminal for runs that take a while: requests answered, virtual time and
//! real time, on one line of stderr that disappears when the run ends.
//!
//! Quiet unless asked for *and* stderr is a terminal (so nothing reaches a pipe, a log file
//! or a `--json` consumer), and silent for the first second, so quick runs print nothing.

use cdn_core::Instant;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Nothing is drawn before a run has taken this long.
pub const QUIET_FOR: Duration = Duration::from_secs(1);
/// The line is redrawn at most this often.
const REDRAW: Duration = Duration::from_millis(100);

/// A progress line on stderr (or nothing).
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    started: std::time::Instant,
}

impl Progress {
    /// A progress line if `wanted` and stderr is a terminal; otherwise a no-op.
    pub fn new(wanted: bool) -> Progress {
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} · real {elapsed}")
                    .expect("a valid template"),
            );
            bar
        });
        Progress {
            bar,
            started: std::time::Instant::now(),
        }
    }

    /// A progress line that never draws.
    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            started: std::time::Instant::now(),
        }
    }

    /// Whether anything can ever be drawn.
    pub fn is_active(&self) -> bool {
        self.bar.is_some()
    }

    fn show_if_due(&self, bar: &ProgressBar) {
        if bar.is_hidden() && self.started.elapsed() >= QUIET_FOR {
            bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        }
    }

    /// A hook for `SimOptions::progress`: "`label` 12345 requests answered · virtual 3.2 s".
    pub fn sim_hook(&self, label: &str) -> Option<Box<dyn FnMut(u64, Instant)>> {
        let bar = self.bar.clone()?;
        let this = self.clone();
        let label = label.to_string();
        let mut last = std::time::Instant::now() - REDRAW;
        Some(Box::new(move |n: u64, t: Instant| {
            // Called up to once per request: look at the clock, draw rarely.
            let now = std::time::Instant::now();
            if now.duration_since(last) < REDRAW {
                return;
            }
            last = now;
            this.show_if_due(&bar);
            bar.set_message(format!(
                "{label}{n} requests answered · virtual {:.1} s",
                t.as_nanos() as f64 / 1e9
            ));
            bar.tick();
        }))
    }

    /// A line that counts finished items of `total` (sweep runs), drawn after a second.
    pub fn counter(&self, total: u64, what: &str) -> Counter {
        let bar = self.bar.clone().inspect(|bar| {
            bar.set_length(total);
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{bar:30}} {{pos}}/{{len}} {what} · real {{elapsed}} · eta {{eta}}"
                ))
                .expect("a valid template"),
            );
        });
        Counter {
            bar,
            started: self.started,
        }
    }

    /// Shows elapsed real time and, when the time scale is known (`scale` real seconds per
    /// virtual second), the virtual time it stands for, until the returned guard is dropped:
    /// for net-mode runs, whose requests are answered on other threads.
    pub fn real_time(&self, scale: Option<f64>) -> Option<RealTimeGuard> {
        let bar = self.bar.clone()?;
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let started = self.started;
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(REDRAW);
                let real = started.elapsed();
                if real >= QUIET_FOR && bar.is_hidden() {
                    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
                }
                bar.set_message(match scale {
                    Some(f) => format!(
                        "net mode: virtual ≈ {:.1} s (time scale {f})",
                        real.as_secs_f64() / f
                    ),
                    None => "net mode: real sockets on loopback".to_string(),
                });
                bar.tick();
            }
            bar.finish_and_clear();
        });
        Some(RealTimeGuard {
            done,
            thread: Some(thread),
        })
    }

    /// Clears the line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Counts finished items (see [`Progress::counter`]); clears its line when dropped.
pub struct Counter {
    bar: Option<ProgressBar>,
    started: std::time::Instant,
}

impl Counter {
    /// One more item finished.
    pub fn inc(&self) {
        if let Some(bar) = &self.bar {
            if bar.is_hidden() && self.started.elapsed() >= QUIET_FOR {
                bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            }
            bar.inc(1);
        }
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Stops the real-time line when dropped.
pub struct RealTimeGuard {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RealTimeGuard {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
