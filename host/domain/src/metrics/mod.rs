//! What measurement counts, as values: the slice one team's week or month adds up to, the
//! histograms of durations, the statistics signals are judged by, and the limits
//! (`MetricsSettings`). Folding the ledger into slices and reading them back is levee-core's
//! `metrics`.
//!
//! - `baseline`: the weeks before a pilot, which every metric is compared against.
//! - `histogram`: durations summed across slices, answering p50 and p90.
//! - `slice`: everything counted for one team in one week or month.
//! - `stats`: leave-one-out z-scores and the population stability index.

pub mod baseline;
pub mod histogram;
pub mod slice;
pub mod stats;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The years a metrics scope or baseline may name (date arithmetic stays far from chrono's
/// limits).
pub const MIN_YEAR: i32 = 2000;
pub const MAX_YEAR: i32 = 9998;

/// The limits signals are judged by (`[metrics]` in levee.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// An approval given sooner than this after the case reached the approver is fast.
    pub fast_approval_seconds: u64,
    /// An approver or team whose z-score against its peers reaches this stands out.
    pub outlier_z: f64,
    /// Week-over-week population stability index of the code mix that counts as drift.
    pub drift_psi_limit: f64,
    /// Week-over-week change in the approval rate, in percentage points, that counts as drift.
    pub drift_approval_rate_points: f64,
    /// Week-over-week relative change in median cycle time that counts as drift (0.5 = 50%).
    pub drift_cycle_time_change: f64,
    /// Cases with the same code for the same customer that make a repeat worth showing.
    pub repeat_code_threshold: u64,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            fast_approval_seconds: 60,
            outlier_z: 2.0,
            drift_psi_limit: 0.2,
            drift_approval_rate_points: 10.0,
            drift_cycle_time_change: 0.5,
            repeat_code_threshold: 3,
        }
    }
}

impl MetricsSettings {
    /// What is wrong with the limits, each named.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let positive = [
            ("outlier_z", self.outlier_z),
            ("drift_psi_limit", self.drift_psi_limit),
            ("drift_approval_rate_points", self.drift_approval_rate_points),
            ("drift_cycle_time_change", self.drift_cycle_time_change),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                problems.push(format!("{name} must be a positive number, got {value}"));
            }
        }
        if self.repeat_code_threshold < 2 {
            problems.push(format!("repeat_code_threshold must be at least 2, got {}", self.repeat_code_threshold));
        }
        problems
    }
}
