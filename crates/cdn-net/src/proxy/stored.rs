//! Full responses (status, headers, body bytes) for the entries the node's cache holds, when
//! the proxy fronts a real upstream. The node keeps what it decides on (freshness,
//! validators, sizes); this keeps what is sent. Byte-bounded (least recently used out
//! first) and sharded, so tasks on different cores do not serialise on one lock.

use bytes::Bytes;
use cdn_core::message::Etag;
use cdn_core::{CacheKey, Instant};
use http::{HeaderMap, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Lock shards (a power of two).
const SHARDS: usize = 16;

/// Copies the node still holds that one [`Stored::put`] moves aside while looking for
/// ones it dropped: bounds the work of a put in a shard full of held copies.
const HELD_SKIPPED_PER_PUT: usize = 8;

/// What identifies a model response in the node's store.
pub(super) type Fingerprint = (u16, Option<Etag>, Option<Instant>);

/// One stored response.
#[derive(Clone, Debug)]
pub(super) struct Full {
    /// The status line.
    pub(super) status: StatusCode,
    /// End-to-end headers as received (hop-by-hop and the CDN's own removed).
    pub(super) headers: HeaderMap,
    /// The body.
    pub(super) body: Bytes,
    /// Which model response this is (status, `ETag`, `Last-Modified`, as the node keeps
    /// them exactly): a copy the node does not hold is never served for one it does.
    pub(super) fingerprint: Fingerprint,
    /// The request head it answered (method, URI, headers), for background revalidation.
    pub(super) request: Arc<http::request::Parts>,
    /// Whether the body was offered to [`crate::sealed::seal`] (at the first hit).
    pub(super) sealed: bool,
}

impl Full {
    fn bytes(&self) -> u64 {
        self.body.len() as u64 + u64::from(crate::real::header_bytes(&self.headers)) + 64
    }
}

struct Shard {
    entries: lru::LruCache<u64, Full>,
    bytes: u64,
    /// Per URL (the key without a `Vary` part) of this shard: the header names its
    /// responses vary on. Beside the entries, so every request's look-up takes the lock
    /// of its own shard, not one lock for the whole store.
    vary: HashMap<u64, Vec<String>>,
}

/// Varying URLs remembered per shard: past this many, the shard starts over (they are
/// learned again from the next response).
const VARY_PER_SHARD: usize = 100_000 / SHARDS;

/// The store.
pub(super) struct Stored {
    shards: Vec<Mutex<Shard>>,
    /// Bytes per shard.
    budget: u64,
}

impl Stored {
    /// A store of at most `bytes`.
    pub(super) fn new(bytes: u64) -> Stored {
        Stored {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        entries: lru::LruCache::unbounded(),
                        bytes: 0,
                        vary: HashMap::new(),
                    })
                })
                .collect(),
            budget: (bytes / SHARDS as u64).max(1),
        }
    }

    fn shard(&self, key: CacheKey) -> std::sync::MutexGuard<'_, Shard> {
        let i = (cdn_core::message::mix64(key.0) as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The copy for `key`, if it is the response the node serves.
    pub(super) fn get(&self, key: CacheKey, fingerprint: Fingerprint) -> Option<Full> {
        let mut f = {
            let mut s = self.shard(key);
            let f = s.entries.get(&key.0)?;
            (f.fingerprint == fingerprint).then(|| f.clone())?
        };
        if !f.sealed && f.body.len() >= crate::sealed::MIN_SEALED {
            // Hit once: its body moves into a sealed memory file, so this and later hits
            // send it without a copy (`sendfile`). Done at the first hit, not when stored,
            // so a copy nobody asks for again never costs the system calls. Outside the
            // lock; a copy replaced meanwhile keeps its replacement.
            let body = crate::sealed::seal(f.body.clone());
            let mut s = self.shard(key);
            if let Some(e) = s.entries.peek_mut(&key.0) {
                if e.body.as_ptr() == f.body.as_ptr() {
                    e.body = body.clone();
                    e.sealed = true;
                }
            }
            f.body = body;
        }
        Some(f)
    }

    /// The copy for `key` whatever model response it is (background revalidation).
    pub(super) fn any(&self, key: CacheKey) -> Option<Full> {
        self.shard(key).entries.peek(&key.0).cloned()
    }

    /// Keeps `full` for `key` (replacing what was there). Once the shard is over its budget,
    /// copies the node no longer holds (`held` says which it does) go, least recently used
    /// first; a copy the node holds is never dropped here — the node's capacity bounds
    /// those, and dropping one would turn the node's next hit into a refetch. The node
    /// may evict in another order (FIFO, SIEVE, S3-FIFO), so held copies met on the way
    /// move to the recent end, at most [`HELD_SKIPPED_PER_PUT`] per call: the shard can
    /// stay over its budget by copies the node holds, never by ones it dropped for long.
    pub(super) fn put(&self, key: CacheKey, full: Full, held: impl Fn(u64, &Fingerprint) -> bool) {
        let size = full.bytes();
        let mut s = self.shard(key);
        if let Some(old) = s.entries.pop(&key.0) {
            s.bytes -= old.bytes();
        }
        s.bytes += size;
        s.entries.put(key.0, full);
        let mut skipped = 0;
        while s.bytes > self.budget && skipped < HELD_SKIPPED_PER_PUT {
            let Some((k, old)) = s.entries.pop_lru() else {
                break;
            };
            if k != key.0 && !held(k, &old.fingerprint) {
                s.bytes -= old.bytes();
                continue;
            }
            s.entries.put(k, old);
            skipped += 1;
        }
    }

    /// Updates the headers of the copy for `key` from a `304` (RFC 9111 §4.3.4).
    pub(super) fn freshen(&self, key: CacheKey, not_modified: &HeaderMap) {
        let mut s = self.shard(key);
        if let Some(f) = s.entries.get_mut(&key.0) {
            for name in not_modified.keys() {
                if name == http::header::CONTENT_LENGTH {
                    continue;
                }
                f.headers.remove(name);
                for v in not_modified.get_all(name) {
                    f.headers.append(name.clone(), v.clone());
                }
            }
        }
    }

    /// Forgets the copy for `key`.
    pub(super) fn remove(&self, key: CacheKey) {
        let mut s = self.shard(key);
        if let Some(old) = s.entries.pop(&key.0) {
            s.bytes -= old.bytes();
        }
    }

    /// The header names responses for URL `base` vary on, if one said.
    pub(super) fn vary_of(&self, base: CacheKey) -> Option<Vec<String>> {
        self.shard(base).vary.get(&base.0).cloned()
    }

    /// Records what responses for URL `base` vary on.
    pub(super) fn set_vary(&self, base: CacheKey, names: Vec<String>) {
        let v = &mut self.shard(base).vary;
        if names.is_empty() {
            v.remove(&base.0);
        } else {
            if v.len() >= VARY_PER_SHARD {
                v.clear();
            }
            v.insert(base.0, names);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(body: usize) -> Full {
        Full {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from(vec![b'x'; body]),
            fingerprint: (200, None, None),
            request: Arc::new(http::Request::new(()).into_parts().0),
            sealed: false,
        }
    }

    fn held_copies(s: &Stored) -> usize {
        s.shards
            .iter()
            .map(|m| m.lock().unwrap().entries.len())
            .sum()
    }

    #[test]
    fn copies_the_node_dropped_go_once_over_the_budget() {
        // 16 KiB over 16 shards: 1 KiB each; 1,000 copies of 1 KiB the node no longer holds.
        let s = Stored::new(16 << 10);
        for k in 0..1000u64 {
            s.put(CacheKey(k), full(1024), |_, _| false);
        }
        let bytes: u64 = s.shards.iter().map(|m| m.lock().unwrap().bytes).sum();
        // Each shard keeps at most the copy just put.
        assert!(held_copies(&s) <= SHARDS, "{} copies kept", held_copies(&s));
        assert!(
            bytes <= SHARDS as u64 * full(1024).bytes(),
            "{bytes} bytes kept"
        );
    }

    #[test]
    fn copies_the_node_holds_stay_whatever_the_budget() {
        let s = Stored::new(16 << 10);
        for k in 0..200u64 {
            s.put(CacheKey(k), full(1024), |_, _| true);
        }
        assert_eq!(held_copies(&s), 200);
        for k in 0..200u64 {
            assert!(s.get(CacheKey(k), (200, None, None)).is_some(), "copy {k}");
        }
    }

    #[test]
    fn dropped_copies_go_first_and_held_ones_stay() {
        let s = Stored::new(16 << 10);
        // Even keys held by the node, odd ones dropped.
        for k in 0..400u64 {
            s.put(CacheKey(k), full(1024), |k, _| k % 2 == 0);
        }
        for k in (0..400u64).step_by(2) {
            assert!(s.any(CacheKey(k)).is_some(), "held copy {k} dropped");
        }
        let dropped_kept = (1..400u64)
            .step_by(2)
            .filter(|&k| s.any(CacheKey(k)).is_some())
            .count();
        // A shard over its budget drops every dropped copy it meets, and the held ones it
        // passes move to the recent end, so dropped copies reach the front within a few
        // puts: they do not pile up behind the held ones.
        assert!(dropped_kept <= SHARDS, "{dropped_kept} dropped copies kept");
    }
}
