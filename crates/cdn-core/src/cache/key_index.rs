//! The hash index of a store: [`CacheKey`](crate::CacheKey) → slot number, open addressing.
//!
//! Why not a `HashMap`: a lookup that misses (40 % of a CDN's lookups) should touch one cache
//! line, and a hit two (the bucket, then the slot it names, which holds the value anyway).
//! Each bucket is one `u64`: the top 32 bits of the key's Fibonacci hash, then the slot
//! number plus one (so that an empty bucket is 0, and a new table is zeroed memory the kernel
//! maps lazily, not 8 bytes written per bucket). Those 32 bits decide a bucket's home position too, so growing the table and
//! deleting (backward shift, no tombstones) never read the slab; a match on them is confirmed
//! against the key stored in the slot, which a hit reads anyway.

/// A bucket with no entry. A real bucket's low half is its slot plus one, never 0 (slot
/// `u32::MAX` is never handed out; see `Slab::alloc`).
const EMPTY: u64 = 0;

fn bucket(hash: u32, slot: u32) -> u64 {
    u64::from(hash) << 32 | u64::from(slot + 1)
}

fn slot_of(bucket: u64) -> u32 {
    bucket as u32 - 1
}

/// Fibonacci hashing: multiply by 2⁶⁴/φ and keep the top bits (Knuth, TAOCP vol. 3, §6.4).
/// Keys are already hashes, but test keys are small integers: the multiply spreads both.
const FIB: u64 = 0x9e37_79b9_7f4a_7c15;

/// The 32-bit hash kept in a bucket.
fn hash32(key: u64) -> u32 {
    (key.wrapping_mul(FIB) >> 32) as u32
}

/// An open-addressing (linear probing) map from keys to slot numbers. It stores no keys: the
/// caller confirms a candidate slot with `is_key`.
pub(crate) struct KeyIndex {
    buckets: Vec<u64>,
    /// `32 - log2(buckets.len())`: the home of hash `h` is `h >> shift`.
    shift: u32,
    len: usize,
}

impl KeyIndex {
    /// An empty index (8 buckets; it grows by doubling).
    pub(crate) fn new() -> KeyIndex {
        KeyIndex {
            buckets: vec![EMPTY; 8],
            shift: 32 - 3,
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    fn home(&self, hash: u32) -> usize {
        (hash >> self.shift) as usize
    }

    /// The slot holding `key`, if any. `is_key(slot)` says whether `slot` holds `key`.
    #[inline]
    pub(crate) fn find(&self, key: u64, is_key: impl Fn(u32) -> bool) -> Option<u32> {
        let hash = hash32(key);
        let mut i = self.home(hash);
        loop {
            let b = self.buckets[i];
            if b == EMPTY {
                return None;
            }
            if (b >> 32) as u32 == hash && is_key(slot_of(b)) {
                return Some(slot_of(b));
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Asks the CPU for the bucket where a search for `key` starts (see `prefetch`).
    #[inline]
    pub(crate) fn prefetch(&self, key: u64) {
        crate::hint::prefetch(&self.buckets[self.home(hash32(key))]);
    }

    /// Records that `key` lives in `slot`. `key` must not be in the index.
    pub(crate) fn insert(&mut self, key: u64, slot: u32) {
        // Grow at 3/4 full. Linear probing examines (1 + 1/(1-α))/2 buckets for a hit and
        // (1 + 1/(1-α)²)/2 for a miss (Knuth, TAOCP vol. 3, §6.4): 2.7 per lookup on average
        // on the standard workload, mostly within one cache line. Growing at half full
        // examined fewer (1.2 % fewer instructions in the simulator) but doubled the small
        // stores' tables and missed the last-level cache 6 % more often (callgrind, 8 MiB
        // LL): a wash, for more memory.
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.grow();
        }
        self.place(bucket(hash32(key), slot));
        self.len += 1;
    }

    fn place(&mut self, bucket: u64) {
        let mut i = self.home((bucket >> 32) as u32);
        while self.buckets[i] != EMPTY {
            i = (i + 1) & self.mask();
        }
        self.buckets[i] = bucket;
    }

    fn grow(&mut self) {
        let doubled = vec![EMPTY; self.buckets.len() * 2];
        let old = std::mem::replace(&mut self.buckets, doubled);
        self.shift -= 1;
        for b in old.into_iter().filter(|&b| b != EMPTY) {
            self.place(b);
        }
    }

    /// Forgets that `key` lives in `slot`. `key` must be in the index, at `slot`.
    pub(crate) fn remove(&mut self, key: u64, slot: u32) {
        let target = bucket(hash32(key), slot);
        let mask = self.mask();
        let mut hole = self.home(hash32(key));
        while self.buckets[hole] != target {
            debug_assert_ne!(self.buckets[hole], EMPTY, "removing a key not in the index");
            hole = (hole + 1) & mask;
        }
        // Backward-shift deletion: pull later members of the probe run into the hole unless
        // their home lies cyclically after the hole (then they must stay where they are).
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let b = self.buckets[j];
            if b == EMPTY {
                break;
            }
            let home = self.home((b >> 32) as u32);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.buckets[hole] = b;
                hole = j;
            }
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A reference run: random inserts and removes, with keys chosen so that many share a
    /// home bucket (small integers and multiples of a large power of two), checked against a
    /// `HashMap` after every step.
    #[test]
    fn agrees_with_a_hash_map() {
        let mut index = KeyIndex::new();
        let mut slot_key: Vec<u64> = Vec::new();
        let mut reference: HashMap<u64, u32> = HashMap::new();
        let mut x = 0x1234_5678_u64;
        for step in 0..20_000u64 {
            // xorshift: a deterministic sequence, no RNG crate needed in a unit test.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = if step % 3 == 0 {
                x % 97
            } else {
                (x % 512) << 40
            };
            let is_key = |s: u32| slot_key[s as usize] == key;
            match reference.get(&key).copied() {
                Some(slot) if x % 5 < 2 => {
                    assert_eq!(index.find(key, is_key), Some(slot));
                    index.remove(key, slot);
                    reference.remove(&key);
                }
                Some(slot) => assert_eq!(index.find(key, is_key), Some(slot)),
                None => {
                    assert_eq!(index.find(key, is_key), None);
                    let slot = slot_key.len() as u32;
                    slot_key.push(key);
                    index.insert(key, slot);
                    reference.insert(key, slot);
                }
            }
            assert_eq!(index.len, reference.len());
        }
        for (&key, &slot) in &reference {
            assert_eq!(index.find(key, |s| slot_key[s as usize] == key), Some(slot));
        }
    }

    /// Two keys whose 32-bit hashes are equal (found by search): the index must tell them
    /// apart through `is_key`, and removing one must leave the other findable.
    #[test]
    fn equal_hashes_are_confirmed_by_key() {
        let (a, b) = (0x1b96_70ad_0567_d6c1_u64, 0x7895_8aea_d814_18c7_u64);
        assert_eq!(hash32(a), hash32(b));
        let keys = [a, b];
        let mut index = KeyIndex::new();
        index.insert(a, 0);
        index.insert(b, 1);
        assert_eq!(index.find(a, |s| keys[s as usize] == a), Some(0));
        assert_eq!(index.find(b, |s| keys[s as usize] == b), Some(1));
        index.remove(a, 0);
        assert_eq!(index.find(a, |s| keys[s as usize] == a), None);
        assert_eq!(index.find(b, |s| keys[s as usize] == b), Some(1));
    }
}
