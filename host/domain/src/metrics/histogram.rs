//! Durations kept as a histogram that can be summed across weeks, teams and approvers, and
//! still answer p50 and p90 without the individual cases.
//!
//! Each duration is rounded down to two significant figures (the precision HdrHistogram calls
//! "2 significant digits": at most 1% low), and the histogram is a sparse map from that
//! rounded value to a count. Durations under 100 s are exact. A sparse map keeps a record
//! small (a few dozen entries) and readable in the store, where a dense bucket array would
//! be mostly zeros.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counts of durations in seconds, each rounded down to two significant figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Histogram {
    counts: BTreeMap<u64, u64>,
}

/// `value` rounded down to two significant figures.
pub fn round_two_figures(value: u64) -> u64 {
    let mut scale = 1;
    while value / scale >= 100 {
        scale *= 10;
    }
    value / scale * scale
}

impl Histogram {
    pub fn record(&mut self, seconds: u64) {
        *self.counts.entry(round_two_figures(seconds)).or_default() += 1;
    }

    pub fn add(&mut self, other: &Histogram) {
        for (value, count) in &other.counts {
            *self.counts.entry(*value).or_default() += count;
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The nearest-rank percentile (`q` in 0..=1): the smallest recorded value with at least
    /// `q` of all values at or below it. `None` when empty.
    pub fn percentile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // Nearest rank: ceil(q · n), at least 1.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        self.counts.iter().find_map(|(value, count)| {
            seen += count;
            (seen >= rank).then_some(*value)
        })
    }

    /// How many recorded values are below `seconds` (rounded as values are).
    pub fn below(&self, seconds: u64) -> u64 {
        self.counts.range(..round_two_figures(seconds)).map(|(_, count)| count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_significant_figures() {
        assert_eq!(round_two_figures(0), 0);
        assert_eq!(round_two_figures(99), 99);
        assert_eq!(round_two_figures(100), 100);
        assert_eq!(round_two_figures(3_599), 3_500);
        assert_eq!(round_two_figures(86_400), 86_000);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut histogram = Histogram::default();
        for seconds in [60, 120, 120, 3_600, 7_200] {
            histogram.record(seconds);
        }
        // Five values: p50 is the 3rd (120), p90 the 5th (7,200).
        assert_eq!(histogram.percentile(0.5), Some(120));
        assert_eq!(histogram.percentile(0.9), Some(7_200));
        assert_eq!(histogram.percentile(0.0), Some(60));
        assert_eq!(Histogram::default().percentile(0.5), None);
        let mut doubled = histogram.clone();
        doubled.add(&histogram);
        assert_eq!(doubled.count(), 10);
        assert_eq!(doubled.percentile(0.5), Some(120));
        assert_eq!(histogram.below(120), 1);
    }
}
