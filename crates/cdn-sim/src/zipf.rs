//! Zipf key sampling: key `k` of `1..=n` with probability `k^-s / H(n, s)`.
//!
//! Two exact samplers, measured against each other and against `rand_distr::Zipf` (the one
//! the workloads used before) by `examples/zipf_samplers.rs`:
//!
//! * [`RejectionInversion`]: Hörmann and Derflinger's rejection-inversion method
//!   ("Rejection-inversion to generate variates from monotone discrete distributions",
//!   ACM TOMACS 6(3), 1996), in the form Apache Commons RNG's
//!   `RejectionInversionZipfSampler` uses. No table: one uniform, two transcendental
//!   functions on the usual path, and an acceptance rate close to 1.
//! * [`AliasTable`]: Walker's alias method with Vose's construction ("A linear algorithm for
//!   generating random numbers with a given distribution", IEEE TSE 17(9), 1991): one
//!   64-bit random number and one table read per sample, 8 bytes of table per key.
//!
//! Both are exact: their output follows the Zipf pmf to floating-point precision, which
//! `tests/zipf_distribution.rs` checks with a chi-square test.

use rand_chacha::rand_core::RngCore;

/// Draws a uniform number in `[0, 1)` with 53 random bits.
fn uniform01<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `x.floor()`, bit for bit, without a call into libm where it is not needed: for
/// `0 < x < 2^52` flooring is truncation, which a conversion to an integer does (baseline
/// x86-64 has no rounding instruction, so `floor` is a function call; this runs twice per
/// key drawn). Anything else (NaN, infinities, negatives, large values) takes `floor`.
fn floor_exact(x: f64) -> f64 {
    if x > 0.0 && x < 4_503_599_627_370_496.0 {
        (x as u64) as f64
    } else {
        x.floor()
    }
}

/// `(e^x - 1) / x`, accurate near 0 (where it tends to 1).
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + x * 0.25))
    }
}

/// `ln(1 + x) / x`, accurate near 0 (where it tends to 1).
fn ln1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - x * 0.25))
    }
}

/// Zipf by rejection-inversion: no table, O(1) memory for any number of keys.
///
/// ```
/// use cdn_sim::zipf::RejectionInversion;
/// use rand_chacha::rand_core::SeedableRng;
/// let zipf = RejectionInversion::new(1_000_000, 1.0);
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// let k = zipf.sample(&mut rng);
/// assert!((1..=1_000_000).contains(&k));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RejectionInversion {
    n: f64,
    exponent: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    s: f64,
}

impl RejectionInversion {
    /// A sampler of `1..=n` with exponent `exponent`.
    ///
    /// # Panics
    /// If `n` is 0 or `exponent` is not a finite number above 0 (the scenario loader
    /// rejects both first).
    pub fn new(n: u64, exponent: f64) -> RejectionInversion {
        assert!(n >= 1, "zipf over no keys");
        assert!(
            exponent > 0.0 && exponent.is_finite(),
            "zipf exponent {exponent}"
        );
        let mut z = RejectionInversion {
            n: n as f64,
            exponent,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            s: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(z.n + 0.5);
        z.s = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// `x^-s`.
    fn h(&self, x: f64) -> f64 {
        (-self.exponent * x.ln()).exp()
    }

    /// An antiderivative of `h`: `(x^(1-s) - 1) / (1-s)`, and `ln x` when `s = 1`.
    fn h_integral(&self, x: f64) -> f64 {
        let ln_x = x.ln();
        expm1_over_x((1.0 - self.exponent) * ln_x) * ln_x
    }

    /// The inverse of [`Self::h_integral`].
    fn h_integral_inverse(&self, x: f64) -> f64 {
        // Clamped at -1: rounding may push the argument just below the domain's edge.
        let t = (x * (1.0 - self.exponent)).max(-1.0);
        (ln1p_over_x(t) * x).exp()
    }

    /// How many values it samples from (`n` of `1..=n`; rounded above 2^53).
    pub fn n(&self) -> u64 {
        // Exact up to 2^53; above, the nearest value a f64 holds.
        self.n as u64
    }

    /// One key in `1..=n`.
    pub fn sample<R: RngCore + ?Sized>(&self, rng: &mut R) -> u64 {
        loop {
            let u = self.h_integral_n + uniform01(rng) * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = floor_exact(x + 0.5).clamp(1.0, self.n);
            // The first test accepts most draws without evaluating h; the second is the
            // exact acceptance condition of rejection-inversion.
            if k - x <= self.s || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }
}

/// Zipf by Walker's alias method: one random number and one table read per key, 8 bytes of
/// table per key (built in O(n)).
///
/// ```
/// use cdn_sim::zipf::AliasTable;
/// use rand_chacha::rand_core::SeedableRng;
/// let zipf = AliasTable::new(1000, 0.8);
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// assert!((1..=1000).contains(&zipf.sample(&mut rng)));
/// assert_eq!(zipf.table_bytes(), 8 * 1000);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AliasTable {
    /// Per bucket: the probability of keeping the bucket, scaled to `2^32`, and its alias.
    buckets: Vec<(u32, u32)>,
}

impl AliasTable {
    /// The largest number of keys a table is built for (8 bytes each).
    pub const MAX_KEYS: u64 = u32::MAX as u64;

    /// A table for `1..=n` with exponent `exponent`.
    ///
    /// # Panics
    /// If `n` is 0 or above [`AliasTable::MAX_KEYS`], or `exponent` is not finite and
    /// positive.
    pub fn new(n: u64, exponent: f64) -> AliasTable {
        assert!(
            (1..=Self::MAX_KEYS).contains(&n),
            "alias table over {n} keys"
        );
        assert!(exponent > 0.0 && exponent.is_finite());
        let n_usize = n as usize;
        // Weights scaled so they average 1: bucket i keeps itself with probability w_i.
        let mut w: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-exponent)).collect();
        let total: f64 = w.iter().rev().sum(); // smallest first, for accuracy
        let scale = n as f64 / total;
        w.iter_mut().for_each(|x| *x *= scale);
        let mut buckets = vec![(u32::MAX, 0u32); n_usize];
        let (mut small, mut large): (Vec<u32>, Vec<u32>) =
            (0..n as u32).partition(|&i| w[i as usize] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            buckets[s as usize] = (threshold(w[s as usize]), l);
            w[l as usize] -= 1.0 - w[s as usize];
            if w[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left has weight 1 up to rounding: it always keeps itself.
        for i in small.into_iter().chain(large) {
            buckets[i as usize] = (u32::MAX, i);
        }
        AliasTable { buckets }
    }

    /// Bytes the table holds.
    pub fn table_bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<(u32, u32)>()
    }

    /// One key in `1..=n`.
    pub fn sample<R: RngCore + ?Sized>(&self, rng: &mut R) -> u64 {
        // One 64-bit draw gives both the bucket (the high half of r × n, Lemire's method)
        // and an independent uniform for the coin (the next 32 bits of the low half).
        let r = rng.next_u64();
        let wide = u128::from(r) * self.buckets.len() as u128;
        let bucket = (wide >> 64) as usize;
        let coin = (wide as u64 >> 32) as u32;
        let (keep, alias) = self.buckets[bucket];
        let i = if coin < keep { bucket as u32 } else { alias };
        u64::from(i) + 1
    }
}

/// A probability in `[0, 1)` as a 32-bit threshold for a uniform `u32`.
fn threshold(p: f64) -> u32 {
    (p * 4_294_967_296.0).clamp(0.0, u32::MAX as f64) as u32
}

/// The exact Zipf probabilities of keys `1..=n`, for tests (`n` small enough to hold).
pub fn pmf(n: u64, exponent: f64) -> Vec<f64> {
    let w: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-exponent)).collect();
    let total: f64 = w.iter().rev().sum();
    w.into_iter().map(|x| x / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn floor_exact_is_floor() {
        let cases = [
            0.0,
            -0.0,
            0.5,
            0.999_999_999_999_999_9,
            1.0,
            1.5,
            -1.5,
            999_999.5,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for x in cases {
            assert_eq!(floor_exact(x).to_bits(), x.floor().to_bits(), "{x}");
        }
        assert!(floor_exact(f64::NAN).is_nan());
        for i in 0..100_000u32 {
            let x = f64::from(i) * 1.000_000_7 + 0.5;
            assert_eq!(floor_exact(x).to_bits(), x.floor().to_bits(), "{x}");
        }
    }

    #[test]
    fn helpers_are_accurate_near_zero() {
        for x in [1e-9, -1e-9, 1e-7, 0.0] {
            assert!((expm1_over_x(x) - 1.0).abs() < 1e-6);
            assert!((ln1p_over_x(x) - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn h_integral_inverse_inverts() {
        for s in [0.3, 1.0, 1.7] {
            let z = RejectionInversion::new(100, s);
            for x in [1.5, 2.0, 10.0, 100.5] {
                let y = z.h_integral_inverse(z.h_integral(x));
                assert!((y - x).abs() < 1e-9 * x, "s={s} x={x} y={y}");
            }
        }
    }

    #[test]
    fn one_key_is_always_key_one() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let a = AliasTable::new(1, 1.0);
        let r = RejectionInversion::new(1, 1.0);
        for _ in 0..100 {
            assert_eq!(a.sample(&mut rng), 1);
            assert_eq!(r.sample(&mut rng), 1);
        }
    }
}
