//! Lazy request generators: one per `[[workload]]`, each yielding arrivals in time order —
//! generated (constant, Poisson or burst arrivals; distinct, one or N keys) or replayed from
//! a trace file.
//!
//! Nothing is materialised up front: a generator holds its next arrival and its random
//! state (or a buffered trace reader), so memory does not grow with the number of requests,
//! whatever `count`, `rate` or the trace's length.

use crate::replay::{TraceArrivals, TraceError};
use crate::scenario::{Arrival as ArrivalKind, Popularity, Urls, Workload, WorkloadMethod};
use crate::zipf::RejectionInversion;
use cdn_core::message::mix64;
use cdn_core::message::Encoding;
use cdn_core::{Instant, Method, Scheme};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use std::net::Ipv4Addr;
use std::time::Duration;

/// One client request about to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// When the client sends it.
    pub at: Instant,
    /// The key number substituted for `{key}` in the workload's path.
    pub key: u64,
    /// The client's address.
    pub client: Ipv4Addr,
    /// The client's normalised `Accept-Encoding`.
    pub encoding: Encoding,
    /// The object's size from a trace (overrides the origin's `object_size` where the
    /// driver passes it on); `None` for generated workloads.
    pub size: Option<u64>,
    /// The status the trace recorded for this request (`native` traces' `status` column).
    pub status: Option<u16>,
}

/// A URL path template split around `{key}`, so formatting needs no searching.
#[derive(Clone, Debug)]
pub struct PathTemplate {
    prefix: String,
    suffix: Option<String>,
}

impl PathTemplate {
    /// Parses a template such as `/assets/{key}.png`.
    pub fn new(template: &str) -> PathTemplate {
        match template.split_once("{key}") {
            Some((p, s)) => PathTemplate {
                prefix: p.to_string(),
                suffix: Some(s.to_string()),
            },
            None => PathTemplate {
                prefix: template.to_string(),
                suffix: None,
            },
        }
    }

    /// Writes the path for `key` into `buf` (cleared first).
    pub fn write(&self, key: u64, buf: &mut String) {
        use std::fmt::Write;
        buf.clear();
        buf.push_str(&self.prefix);
        if let Some(s) = &self.suffix {
            write!(buf, "{key}").expect("writing to a String cannot fail");
            buf.push_str(s);
        }
    }

    /// The template's text before `{key}`, and after it (`None` when there is no `{key}`).
    pub fn parts(&self) -> (&str, Option<&str>) {
        (&self.prefix, self.suffix.as_deref())
    }

    /// The path for `key`.
    pub fn render(&self, key: u64) -> String {
        let mut s = String::new();
        self.write(key, &mut s);
        s
    }
}

/// The address of the `i`-th client (from 0): `127.1.0.1`, `127.1.0.2`, … — loopback, so the
/// same addresses work in network mode.
pub fn client_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 1, 0, 1)) + i)
}

/// `x.round() as u64`, bit for bit, without libm's `round` (a function call on baseline
/// x86-64, once per arrival): the conversion truncates, and subtracting the truncated value
/// from `x` is exact, so the fraction decides the rounding (half away from zero, as `round`).
/// Negative and NaN inputs give 0 and huge ones `u64::MAX`, as the cast of `round` does.
fn round_to_u64(x: f64) -> u64 {
    let t = x as u64;
    if x - t as f64 >= 0.5 {
        t.saturating_add(1)
    } else {
        t
    }
}

enum KeyChooser {
    Distinct,
    One,
    Uniform(u64),
    Zipf(RejectionInversion),
}

/// Generates one workload's arrivals lazily.
pub struct WorkloadGen {
    start: Instant,
    end: Instant,
    count: Option<u64>,
    clients: u32,
    encodings: Vec<Encoding>,
    emitted: u64,
    source: Source,
    /// The URL template.
    pub path: PathTemplate,
    /// The request method.
    pub method: Method,
    /// The visitors' scheme.
    pub scheme: Scheme,
}

/// Where arrivals come from.
enum Source {
    Generated(Generated),
    Replayed(Replayed),
}

/// Arrivals drawn from the seeded random generator.
struct Generated {
    kind: ArrivalKind,
    interval_ns: f64,
    exp: Option<Exp<f64>>,
    keys: KeyChooser,
    next_at: Instant,
    rng: ChaCha8Rng,
}

/// Arrivals read from a trace, one ahead (so `peek` needs no I/O).
struct Replayed {
    arrivals: Option<TraceArrivals>,
    next: Option<(Instant, crate::replay::Record)>,
    error: Option<TraceError>,
}

impl Replayed {
    fn open(w: &Workload, start: Instant) -> Replayed {
        let spec = w.trace.as_ref().expect("a trace workload");
        let mut r = Replayed {
            arrivals: None,
            next: None,
            error: None,
        };
        match TraceArrivals::open(spec, w.rate.per_second()) {
            Ok(a) => r.arrivals = Some(a),
            Err(e) => r.error = Some(e),
        }
        r.advance(start);
        r
    }

    /// Reads the next record; on an error the replay stops and keeps the error.
    fn advance(&mut self, start: Instant) {
        self.next = None;
        let Some(a) = self.arrivals.as_mut() else {
            return;
        };
        match a.next_arrival() {
            Ok(Some((offset_ns, record))) => {
                self.next = Some((Instant(start.0.saturating_add(offset_ns)), record));
            }
            Ok(None) => self.arrivals = None,
            Err(e) => {
                self.error = Some(e);
                self.arrivals = None;
            }
        }
    }
}

impl WorkloadGen {
    /// A generator for `w` in a run of `duration`, seeded from the scenario seed and the
    /// workload's index. A trace workload opens its file here; if that fails, or a record
    /// is bad later, the workload ends there and [`WorkloadGen::error`] says why (a scenario
    /// loaded from a file has had its traces read in full already, so this only happens
    /// if a file changed since).
    pub fn new(w: &Workload, index: usize, duration: Duration, seed: u64) -> WorkloadGen {
        let start = Instant::ZERO + w.start;
        let source = if w.trace.is_some() {
            Source::Replayed(Replayed::open(w, start))
        } else {
            let per_s = w.rate.per_second();
            let keys = match w.urls {
                Urls::Distinct => KeyChooser::Distinct,
                Urls::One => KeyChooser::One,
                Urls::Keys(n) => match w.popularity {
                    Popularity::Uniform => KeyChooser::Uniform(n.max(1)),
                    Popularity::Zipf(s) => KeyChooser::Zipf(RejectionInversion::new(n.max(1), s)),
                },
            };
            Source::Generated(Generated {
                kind: w.arrival,
                interval_ns: if per_s > 0.0 {
                    1e9 / per_s
                } else {
                    f64::INFINITY
                },
                exp: (per_s > 0.0).then(|| Exp::new(per_s).expect("rate > 0")),
                keys,
                next_at: start,
                rng: ChaCha8Rng::seed_from_u64(seed ^ mix64(index as u64 + 0x5eed)),
            })
        };
        WorkloadGen {
            start,
            end: Instant::ZERO + duration,
            count: w.count,
            clients: w.clients.max(1),
            encodings: if w.accept_encoding.is_empty() {
                vec![Encoding::Gzip]
            } else {
                w.accept_encoding.clone()
            },
            emitted: 0,
            source,
            path: PathTemplate::new(&w.path),
            method: match w.method {
                WorkloadMethod::Get => Method::Get,
                WorkloadMethod::Head => Method::Head,
                WorkloadMethod::Post => Method::Other,
            },
            scheme: w.scheme,
        }
    }

    /// How many key numbers this workload draws from, counting only those it can draw
    /// more than once (`urls = "distinct"`: none); `None` for a trace, whose keys are
    /// its own.
    pub fn repeatable_keys(&self) -> Option<u64> {
        match &self.source {
            Source::Generated(g) => Some(match &g.keys {
                KeyChooser::Distinct => 0,
                KeyChooser::One => 1,
                KeyChooser::Uniform(n) => *n,
                KeyChooser::Zipf(z) => z.n(),
            }),
            Source::Replayed(_) => None,
        }
    }

    /// When the next arrival happens, if any.
    pub fn peek(&self) -> Option<Instant> {
        if self.count.is_some_and(|c| self.emitted >= c) {
            return None;
        }
        match &self.source {
            Source::Generated(g) => match g.kind {
                ArrivalKind::Burst => Some(self.start),
                _ if g.next_at >= self.end || g.interval_ns.is_infinite() => None,
                _ => Some(g.next_at),
            },
            Source::Replayed(r) => r.next.map(|(at, _)| at).filter(|&at| at < self.end),
        }
    }

    /// Takes the next arrival.
    pub fn next_arrival(&mut self) -> Option<Arrival> {
        let at = self.peek()?;
        let i = self.emitted;
        self.emitted += 1;
        let (key, client, size, status) = match &mut self.source {
            Source::Generated(g) => {
                match g.kind {
                    ArrivalKind::Burst => {}
                    ArrivalKind::Constant => {
                        let ns = round_to_u64(self.emitted as f64 * g.interval_ns);
                        g.next_at = Instant(self.start.0 + ns);
                    }
                    ArrivalKind::Poisson => {
                        let gap = g.exp.expect("rate > 0").sample(&mut g.rng);
                        g.next_at = g.next_at + Duration::from_secs_f64(gap);
                    }
                }
                let key = match &g.keys {
                    KeyChooser::Distinct => i,
                    KeyChooser::One => 0,
                    KeyChooser::Uniform(n) => {
                        rand_chacha::rand_core::RngCore::next_u64(&mut g.rng) % n
                    }
                    KeyChooser::Zipf(z) => z.sample(&mut g.rng) - 1,
                };
                (key, i, None, None)
            }
            Source::Replayed(r) => {
                let (_, record) = r.next.expect("peeked");
                r.advance(self.start);
                let client = record.client.unwrap_or(i);
                (record.key, client, record.size, record.status)
            }
        };
        let client = (client % u64::from(self.clients)) as u32;
        Some(Arrival {
            at,
            key,
            client: client_addr(client),
            encoding: self.encodings[client as usize % self.encodings.len()],
            size,
            status,
        })
    }

    /// Why a trace workload stopped before its end, if it did (the file could not be read,
    /// or a record was bad).
    pub fn error(&self) -> Option<&TraceError> {
        match &self.source {
            Source::Replayed(r) => r.error.as_ref(),
            Source::Generated(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdn_core::units::Rate;

    fn w(arrival: ArrivalKind, rate: f64, count: Option<u64>, urls: Urls) -> Workload {
        Workload {
            start: Duration::ZERO,
            rate: Rate::per_second_f64(rate),
            arrival,
            count,
            urls,
            popularity: Popularity::Uniform,
            clients: 3,
            scheme: Scheme::Https,
            path: "/a/{key}.png".into(),
            method: WorkloadMethod::Get,
            accept_encoding: vec![Encoding::Gzip],
            trace: None,
        }
    }

    fn all(g: &mut WorkloadGen) -> Vec<Arrival> {
        std::iter::from_fn(|| g.next_arrival()).collect()
    }

    #[test]
    fn rounding_matches_round_then_cast() {
        let cases = [
            0.0,
            -0.0,
            0.49999999999999994,
            0.5,
            1.5,
            2.5,
            -0.7,
            -2.5,
            1e6 + 0.5,
            4_503_599_627_370_495.5,
            4_503_599_627_370_497.0,
            1.8e19,
            1e30,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        for x in cases {
            assert_eq!(round_to_u64(x), x.round() as u64, "{x}");
        }
        for i in 0..100_000u64 {
            let x = i as f64 * 10_000.000_000_3;
            assert_eq!(round_to_u64(x), x.round() as u64, "{x}");
        }
    }

    #[test]
    fn constant_rate_fills_the_duration() {
        let mut g = WorkloadGen::new(
            &w(ArrivalKind::Constant, 100.0, None, Urls::Distinct),
            0,
            Duration::from_secs(3),
            0,
        );
        let a = all(&mut g);
        assert_eq!(a.len(), 300);
        assert_eq!(a[1].at, Instant(10_000_000));
        assert_eq!(a[299].key, 299);
        assert_eq!(a[3].client, client_addr(0));
    }

    #[test]
    fn burst_sends_count_at_start() {
        let mut g = WorkloadGen::new(
            &w(ArrivalKind::Burst, 0.0, Some(20), Urls::One),
            0,
            Duration::from_secs(1),
            0,
        );
        let a = all(&mut g);
        assert_eq!(a.len(), 20);
        assert!(a.iter().all(|x| x.at == Instant::ZERO && x.key == 0));
    }

    #[test]
    fn poisson_is_seeded_and_roughly_at_rate() {
        let spec = w(ArrivalKind::Poisson, 1000.0, None, Urls::Keys(10));
        let a = all(&mut WorkloadGen::new(&spec, 0, Duration::from_secs(10), 7));
        let b = all(&mut WorkloadGen::new(&spec, 0, Duration::from_secs(10), 7));
        assert_eq!(a, b);
        assert!((9_500..10_500).contains(&a.len()), "{}", a.len());
        assert!(a.iter().all(|x| x.key < 10));
    }

    #[test]
    fn repeatable_keys_follow_the_urls_setting() {
        let keys = |urls| {
            let spec = w(ArrivalKind::Poisson, 1000.0, None, urls);
            WorkloadGen::new(&spec, 0, Duration::from_secs(1), 0).repeatable_keys()
        };
        assert_eq!(keys(Urls::Distinct), Some(0));
        assert_eq!(keys(Urls::One), Some(1));
        assert_eq!(keys(Urls::Keys(10)), Some(10));
    }

    #[test]
    fn templates_substitute_the_key() {
        assert_eq!(
            PathTemplate::new("/assets/{key}.png").render(42),
            "/assets/42.png"
        );
        assert_eq!(PathTemplate::new("/index.html").render(42), "/index.html");
    }
}
