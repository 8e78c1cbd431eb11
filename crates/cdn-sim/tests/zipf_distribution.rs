//! The Zipf samplers draw from the Zipf distribution: a chi-square goodness-of-fit test of
//! their output against the exact pmf.
//!
//! The threshold is the chi-square quantile at significance level `ALPHA` for the test's
//! degrees of freedom (computed with `statrs`), not a chosen number: a correct sampler
//! fails a run with probability `ALPHA`. The seeds are fixed, so a run is reproducible; a
//! test that samples a *wrong* exponent shows the test has the power to notice.

use cdn_sim::zipf::{pmf, AliasTable, RejectionInversion};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Probability that a correct sampler fails one check.
const ALPHA: f64 = 1e-6;
/// Draws per check.
const SAMPLES: u64 = 400_000;
/// The smallest expected count per bin for the chi-square approximation to hold (the usual
/// rule of thumb is 5; bins are merged until they reach it).
const MIN_EXPECTED: f64 = 5.0;

/// Bins over keys `1..=n`: single keys while their expected count is large, then runs of
/// consecutive keys merged until each bin expects at least `MIN_EXPECTED` draws. Returns
/// the first key of each bin (and `n + 1` at the end) and the expected count per bin.
fn bins(p: &[f64], samples: u64) -> (Vec<u64>, Vec<f64>) {
    let mut starts = vec![1u64];
    let mut expected = Vec::new();
    let mut acc = 0.0;
    for (i, &pi) in p.iter().enumerate() {
        acc += pi * samples as f64;
        if acc >= MIN_EXPECTED {
            expected.push(acc);
            starts.push(i as u64 + 2);
            acc = 0.0;
        }
    }
    if acc > 0.0 {
        // The tail that never reached MIN_EXPECTED joins the last bin.
        *expected.last_mut().expect("at least one bin") += acc;
        *starts.last_mut().expect("bins") = p.len() as u64 + 1;
    }
    (starts, expected)
}

/// The chi-square statistic of `draw`'s samples against the pmf, and the threshold.
fn chi_square(
    n: u64,
    exponent: f64,
    seed: u64,
    mut draw: impl FnMut(&mut ChaCha8Rng) -> u64,
) -> (f64, f64) {
    let p = pmf(n, exponent);
    let (starts, expected) = bins(&p, SAMPLES);
    // Key k falls in the bin whose start is the last one <= k.
    let mut bin_of = vec![0usize; n as usize + 1];
    for b in 0..expected.len() {
        for k in starts[b]..starts[b + 1] {
            bin_of[k as usize] = b;
        }
    }
    let mut observed = vec![0u64; expected.len()];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..SAMPLES {
        let k = draw(&mut rng);
        assert!((1..=n).contains(&k), "key {k} outside 1..={n}");
        observed[bin_of[k as usize]] += 1;
    }
    let stat: f64 = observed
        .iter()
        .zip(&expected)
        .map(|(&o, &e)| (o as f64 - e).powi(2) / e)
        .sum();
    let df = (expected.len() - 1) as f64;
    let threshold = ChiSquared::new(df)
        .expect("df > 0")
        .inverse_cdf(1.0 - ALPHA);
    (stat, threshold)
}

#[test]
fn rejection_inversion_follows_the_zipf_pmf() {
    for (n, s) in [
        (10, 0.6),
        (1000, 0.6),
        (1000, 1.0),
        (1000, 1.2),
        (100_000, 1.0),
        (50, 2.5),
    ] {
        let z = RejectionInversion::new(n, s);
        let (stat, threshold) = chi_square(n, s, 11, |r| z.sample(r));
        assert!(
            stat < threshold,
            "n={n} s={s}: chi-square {stat:.1} >= {threshold:.1}"
        );
    }
}

#[test]
fn alias_table_follows_the_zipf_pmf() {
    for (n, s) in [
        (10, 0.6),
        (1000, 0.6),
        (1000, 1.0),
        (1000, 1.2),
        (100_000, 1.0),
        (50, 2.5),
    ] {
        let z = AliasTable::new(n, s);
        let (stat, threshold) = chi_square(n, s, 12, |r| z.sample(r));
        assert!(
            stat < threshold,
            "n={n} s={s}: chi-square {stat:.1} >= {threshold:.1}"
        );
    }
}

#[test]
fn the_test_notices_a_wrong_exponent() {
    // Samples of exponent 1.05 tested against the pmf of exponent 1.0: a difference of 5%
    // in the exponent must be far beyond the threshold with this many samples.
    for (n, s) in [(1000, 1.0), (100_000, 1.0)] {
        let z = RejectionInversion::new(n, s * 1.05);
        let (stat, threshold) = chi_square(n, s, 13, |r| z.sample(r));
        assert!(
            stat > threshold,
            "n={n}: chi-square {stat:.1} < {threshold:.1} for a wrong exponent"
        );
    }
}
