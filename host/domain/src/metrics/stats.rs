//! The two statistics signals are judged by.
//!
//! - **Leave-one-out z-score**: how far one member stands from the mean of its peers, in
//!   the peers' standard deviations (population form), with the member itself left out of
//!   the mean and deviation. With the member included, one outlier among five can never
//!   score above 2 (the bound is (n−1)/√n); left out, a rubber-stamper among steady peers
//!   stands out as it should. Needs at least two peers. The peers' spread is floored (by the
//!   caller, e.g. 2 points of a rate, 5% of a mean amount), so peers who happen to agree
//!   exactly do not turn a trivial difference into a huge score.
//! - **Population stability index** (PSI) of a mix of categories between two periods:
//!   Σ (aᵢ − eᵢ) · ln(aᵢ / eᵢ) over the shares aᵢ (now) and eᵢ (before). Each count gets half a
//!   case added before shares are taken (additive smoothing), so a category that appears or
//!   vanishes counts without dividing by zero or blowing up. By convention below 0.1 is stable,
//!   0.1–0.25 a moderate shift, above 0.25 a major one, for large samples.
//! - **The PSI of chance**: with no drift at all, two samples of n₁ and n₂ cases over k
//!   categories still give a PSI of about (k − 1)·(1/n₁ + 1/n₂) (PSI is the symmetric
//!   Kullback–Leibler divergence, and n·PSI is close to χ² with k − 1 degrees of freedom). A
//!   week of 110 cases over 20 codes has a noise floor near 0.2 on its own, so drift is only
//!   flagged above the configured limit *plus* this floor.

use std::collections::{BTreeMap, BTreeSet};

/// z-scores are capped here, so that peers with no spread at all still give a number.
pub const Z_CAP: f64 = 99.0;
/// Added to every category's count before shares are taken.
const SMOOTHING: f64 = 0.5;

/// Each value's z-score against the others, or `None` for every value when there are fewer
/// than three values. `min_spread(peer mean)` is the smallest standard deviation used.
pub fn leave_one_out_z(values: &[f64], min_spread: impl Fn(f64) -> f64) -> Vec<Option<f64>> {
    if values.len() < 3 {
        return vec![None; values.len()];
    }
    (0..values.len())
        .map(|index| {
            let peers: Vec<f64> =
                values.iter().enumerate().filter(|(other, _)| *other != index).map(|(_, value)| *value).collect();
            let mean = peers.iter().sum::<f64>() / peers.len() as f64;
            let variance = peers.iter().map(|value| (value - mean).powi(2)).sum::<f64>() / peers.len() as f64;
            let spread = variance.sqrt().max(min_spread(mean));
            let difference = values[index] - mean;
            let z = if spread > 0.0 {
                difference / spread
            } else if difference == 0.0 {
                0.0
            } else {
                Z_CAP.copysign(difference)
            };
            Some(z.clamp(-Z_CAP, Z_CAP))
        })
        .collect()
}

/// The PSI of `now` against `before`, each a count per category. `None` if either is empty.
pub fn population_stability_index(before: &BTreeMap<String, u64>, now: &BTreeMap<String, u64>) -> Option<f64> {
    let total_before = before.values().sum::<u64>() as f64;
    let total_now = now.values().sum::<u64>() as f64;
    if total_before == 0.0 || total_now == 0.0 {
        return None;
    }
    let categories: BTreeSet<&String> = before.keys().chain(now.keys()).collect();
    let smoothed = SMOOTHING * categories.len() as f64;
    let share = |counts: &BTreeMap<String, u64>, category: &String, total: f64| {
        (counts.get(category).copied().unwrap_or(0) as f64 + SMOOTHING) / (total + smoothed)
    };
    let psi = categories
        .into_iter()
        .map(|category| {
            let expected = share(before, category, total_before);
            let actual = share(now, category, total_now);
            (actual - expected) * (actual / expected).ln()
        })
        .sum();
    Some(psi)
}

/// The PSI two samples of `before` and `now` cases over `categories` categories show by chance
/// alone (see the module's notes). `None` if either sample is empty.
pub fn psi_noise_floor(categories: usize, before: u64, now: u64) -> Option<f64> {
    (before > 0 && now > 0).then(|| categories.saturating_sub(1) as f64 * (1.0 / before as f64 + 1.0 / now as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outlier_among_steady_peers_stands_out() {
        // Peers 0.8, 0.9, 0.8, 0.9 (mean 0.85, sd 0.05); the fifth approves everything.
        let none = |_: f64| 0.0;
        let z = leave_one_out_z(&[0.8, 0.9, 0.8, 0.9, 1.0], none);
        let last = z[4].unwrap();
        assert!((last - 3.0).abs() < 1e-9, "(1.0 - 0.85) / 0.05 = 3, got {last}");
        assert_eq!(leave_one_out_z(&[1.0, 2.0], none), vec![None, None]);
        assert_eq!(leave_one_out_z(&[1.0, 1.0, 1.0, 2.0], none)[3], Some(Z_CAP));
        assert_eq!(leave_one_out_z(&[1.0, 1.0, 1.0], none)[0], Some(0.0));
        // Peers at exactly 100%: 99% is 0.5 below with a floor of 2 points, not −99.
        let floored = leave_one_out_z(&[1.0, 1.0, 1.0, 0.99], |_| 0.02)[3].unwrap();
        assert!((floored + 0.5).abs() < 1e-9, "{floored}");
    }

    #[test]
    fn psi_by_hand() {
        let counts = |pairs: &[(&str, u64)]| pairs.iter().map(|(code, count)| ((*code).to_owned(), *count)).collect();
        let before = counts(&[("A", 50), ("B", 50)]);
        assert_eq!(population_stability_index(&before, &before), Some(0.0));
        // Smoothed shares 50.5/101 each → 80.5/101 and 20.5/101 (0.79703, 0.20297):
        // 0.29703·ln(1.59406) + (−0.29703)·ln(0.40594) = 0.13850 + 0.26779 = 0.40629.
        let now = counts(&[("A", 80), ("B", 20)]);
        let psi = population_stability_index(&before, &now).unwrap();
        assert!((psi - 0.406_29).abs() < 1e-4, "{psi}");
        // A code that vanishes: 1 of 2 → 0 of 2 is finite.
        let vanished = population_stability_index(&counts(&[("A", 1), ("B", 1)]), &counts(&[("B", 2)])).unwrap();
        assert!(vanished.is_finite() && vanished > 0.0);
        assert_eq!(psi_noise_floor(21, 110, 440), Some(20.0 * (1.0 / 110.0 + 1.0 / 440.0)));
        assert_eq!(psi_noise_floor(21, 0, 440), None);
        assert_eq!(population_stability_index(&BTreeMap::new(), &now), None);
    }
}
