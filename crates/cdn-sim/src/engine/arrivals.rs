//! Client requests arriving at the edge: the workloads merged in time order, each request's
//! cache key computed without rendering its URL, and the L1's first decision. A plain edge
//! hit is answered here without ever taking a slot.

use super::slots::{Downstream, NodeId};
use super::Engine;
use crate::workload::Arrival;
use cdn_core::message::UrlHasher;
use cdn_core::node::Action;
use cdn_core::topology::l1_for_client;
use cdn_core::{CacheKey, CacheStatus, Request, Tier};

/// A workload's next request, drawn ahead of its turn, with its cache key.
pub(super) struct Ahead {
    arrival: Arrival,
    key: CacheKey,
    /// The L1 it goes to.
    l1: usize,
}

/// Key numbers below this have their cache keys remembered ([`UrlShape::key`]).
const MEMO_KEYS: usize = 1 << 16;

/// A workload's URL template, pre-hashed.
pub(super) struct UrlShape {
    prefix: UrlHasher,
    suffix: Option<Vec<u8>>,
    eligible: bool,
    /// The cache keys of key numbers below [`MEMO_KEYS`], filled as they are first drawn
    /// (0: not yet; a key that hashes to 0 is simply hashed every time). Hashing a key's
    /// digits and suffix was ~80 instructions per request; the workloads' Zipf draws key
    /// `k - 1` for rank `k`, so the smallest numbers are the most requested (at s = 1 over
    /// 1M keys, the first 65,536 take ~80 % of requests), and a uniform workload over at
    /// most 65,536 keys is covered entirely. At most 512 KiB, as many entries as the
    /// workload has keys it can draw again (none for distinct URLs), zeroed by the
    /// allocator and touched only where drawn; empty for a template without `{key}`.
    memo: Vec<u64>,
}

impl UrlShape {
    /// The shape of a template split around `{key}` into `prefix` and `suffix`, on `host`.
    fn new(
        host: &str,
        prefix: &str,
        suffix: Option<&str>,
        eligible: bool,
        repeatable_keys: Option<u64>,
    ) -> UrlShape {
        let mut hasher = UrlHasher::new(host);
        hasher.write(prefix.as_bytes());
        UrlShape {
            prefix: hasher,
            suffix: suffix.map(|s| s.as_bytes().to_vec()),
            eligible,
            // As many as the workload can draw again: none for distinct URLs (each key
            // once), one for a single URL, `n` for `n` keys, the whole memo for a trace.
            memo: match suffix {
                Some(_) => {
                    let repeatable = repeatable_keys.map_or(MEMO_KEYS, |n| {
                        usize::try_from(n).unwrap_or(usize::MAX).min(MEMO_KEYS)
                    });
                    vec![0; repeatable]
                }
                None => Vec::new(),
            },
        }
    }

    /// The cache key of the URL for key number `n` — equal to
    /// `CacheKey::for_url(host, &template.render(n))`, without rendering it.
    fn key(&mut self, n: u64) -> CacheKey {
        let i = usize::try_from(n).unwrap_or(usize::MAX);
        match self.memo.get(i) {
            Some(&k) if k != 0 => CacheKey(k),
            Some(_) => {
                let key = self.hash(n);
                self.memo[i] = key.0;
                key
            }
            None => self.hash(n),
        }
    }

    /// [`UrlShape::key`], hashed.
    fn hash(&self, n: u64) -> CacheKey {
        let mut h = self.prefix;
        if let Some(suffix) = &self.suffix {
            h.write_decimal(n);
            h.write(suffix);
        }
        h.finish()
    }
}

impl Engine<'_> {
    /// What every request of each workload shares: the cache key's prefix (host and the
    /// template up to `{key}`) and whether the URL is eligible for caching — the key is
    /// digits, so it never changes a path's extension.
    pub(super) fn shapes(&self) -> Vec<UrlShape> {
        let eligibility = self.l1[0].settings().policy.eligibility;
        self.workloads
            .iter()
            .map(|w| {
                let (prefix, suffix) = w.path.parts();
                let eligible = eligibility.allows(&w.path.render(0));
                UrlShape::new(
                    &self.hostname,
                    prefix,
                    suffix,
                    eligible,
                    w.repeatable_keys(),
                )
            })
            .collect()
    }

    /// Workload `w`'s request after next, drawn two ahead of its turn: its cache key is
    /// known while the requests before it are handled, so its L1 is asked to fetch the
    /// key's index bucket now and, one request later, the entry the bucket names
    /// ([`Engine::step_ahead`]). The generators draw in the same order as without the
    /// lookahead, so the run is the same.
    pub(super) fn draw_ahead(&mut self, w: usize) -> Option<Ahead> {
        let arrival = self.workloads[w].next_arrival()?;
        let key = self.url_shapes[w].key(arrival.key);
        let l1 = l1_for_client(arrival.client, self.l1.len());
        self.l1[l1].prefetch(key);
        Some(Ahead { arrival, key, l1 })
    }

    /// Workload `w`'s next request is taken: the one after it moves up (its L1 fetches the
    /// stored entry) and a new one is drawn behind it.
    fn step_ahead(&mut self, w: usize) -> Ahead {
        let taken = self.ahead[w].take().expect("peeked");
        self.ahead[w] = self.after[w].take();
        if let Some(next) = &self.ahead[w] {
            self.l1[next.l1].prefetch_entry(next.key);
        }
        self.after[w] = self.draw_ahead(w);
        taken
    }

    /// The next request to reach an L1, and from which workload. Arrivals are not queued:
    /// each generator is already in time order, so the next one is merged with the queue
    /// here, and the queue stays as small as the requests in flight.
    pub(super) fn next_arrival_source(&self) -> Option<(cdn_core::Instant, usize)> {
        let mut best: Option<(cdn_core::Instant, usize)> = None;
        let to_l1 = self.one_way.client;
        for (i, ahead) in self.ahead.iter().enumerate() {
            let Some(a) = ahead else { continue };
            let t = a.arrival.at + to_l1;
            // Without jitter nothing is late: no zero `Duration` to add.
            let t = match &self.lateness {
                Some(l) => t + l.arrival(i, t),
                None => t,
            };
            if best.is_none_or(|(bt, _)| t < bt) {
                best = Some((t, i));
            }
        }
        best
    }

    /// The next request of workload `w` reaches its L1.
    pub(super) fn arrive(&mut self, w: usize) {
        let Ahead {
            arrival: a, key, ..
        } = self.step_ahead(w);
        let late_group = self.lateness.as_ref().is_some_and(|l| l.in_late_group(w));
        if let Some(l) = self.lateness.as_mut() {
            l.next_arrival(w);
        }
        let shape = &self.url_shapes[w];
        let gen = &self.workloads[w];
        let req = Request {
            method: gen.method,
            scheme: gen.scheme,
            key,
            client: a.client,
            encoding: a.encoding,
            eligible: shape.eligible,
            object: cdn_core::message::ObjectHint {
                size: a.size,
                status: a.status,
            },
        };
        let number = self.counts.next_request();
        let l1 = l1_for_client(a.client, self.l1.len());
        let traced = self.tracing.wants(number);
        // The ticket is the slot the request will take; a plain hit never needs the slot.
        let s = self.slots.next_id();
        let mut out = self.buffer();
        let now = self.now;
        let hit = self.l1[l1].receive_hit(now, s as u64, &req, None, traced, &mut out);
        if let Some(response) = &hit {
            // Fast path: a fresh hit at the edge (most requests), handed back by the node
            // without an action to write and read (and read where it was returned).
            self.record_client_response(number, a.at, CacheStatus::Hit, response);
            self.spare.push(out);
            return;
        }
        if let (
            false,
            [Action::Answer {
                response, status, ..
            }],
        ) = (traced, out.as_slice())
        {
            // Served by the edge at once otherwise (read where the node wrote it: no copy).
            let status = *status;
            self.record_client_response(number, a.at, status, response);
            out.clear();
            self.spare.push(out);
            return;
        }
        let node = NodeId {
            tier: Tier::L1,
            index: l1 as u16,
        };
        let allocated = self
            .slots
            .alloc(node, req, Downstream::Client { number, sent: a.at });
        debug_assert_eq!(allocated, s);
        let trace = traced.then(|| {
            let path = self.workloads[w].path.render(a.key);
            self.tracing.start(number, path, a.client, a.at)
        });
        let slot = self.slots.get_mut(s);
        slot.late_group = late_group;
        slot.trace = trace;
        if self.slots.live() > self.max_in_flight {
            let at_ms = self.now.as_nanos() / 1_000_000;
            let limit = self.max_in_flight;
            self.failed = Some(super::SimError::TooManyInFlight { limit, at_ms });
        }
        self.trace_at_node(s, cdn_core::TraceEvent::Received);
        self.run_received(node, out);
        self.slots.free_if_finished(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::PathTemplate;

    #[test]
    fn pre_hashed_keys_equal_hashing_the_rendered_url() {
        for template in [
            "/assets/{key}.png",
            "/{key}",
            "/a/b?x={key}&y=1",
            "/logo.png",
        ] {
            let t = PathTemplate::new(template);
            let (prefix, suffix) = t.parts();
            let mut shape = UrlShape::new("www.example.com", prefix, suffix, true, None);
            // Twice: hashed, then (below the memo's end) remembered.
            for _ in 0..2 {
                for n in [0, 7, 42, 65_535, 65_536, 999_999, u64::MAX] {
                    let expected = CacheKey::for_url("www.example.com", &t.render(n));
                    assert_eq!(shape.key(n), expected, "{template} {n}");
                }
            }
        }
    }

    #[test]
    fn the_memo_holds_only_keys_a_workload_can_draw_again() {
        let t = PathTemplate::new("/assets/{key}.png");
        let (prefix, suffix) = t.parts();
        let memo = |keys| {
            UrlShape::new("www.example.com", prefix, suffix, true, keys)
                .memo
                .len()
        };
        assert_eq!(memo(Some(0)), 0, "distinct URLs: each key drawn once");
        assert_eq!(memo(Some(10)), 10);
        assert_eq!(memo(Some(1_000_000)), MEMO_KEYS);
        assert_eq!(memo(None), MEMO_KEYS, "a trace");
        let one = PathTemplate::new("/one.png");
        let (prefix, suffix) = one.parts();
        assert_eq!(
            UrlShape::new("www.example.com", prefix, suffix, true, Some(1_000_000))
                .memo
                .len(),
            0,
            "no {{key}} in the template"
        );
    }
}
