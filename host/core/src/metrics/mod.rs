//! Measurement: refund leakage, approval cycle time, evidence completeness, rubber-stamp and
//! outlier signals, and drift, kept as aggregates so a dashboard over a million cases answers
//! without reading them.
//!
//! - `baseline`: the weeks before a pilot, which every metric is compared against.
//! - `histogram`: durations summed across slices, answering p50 and p90.
//! - `slice`: everything counted for one team in one week or month.
//! - `derive`: what each ledger entry adds to a slice.
//! - `fold`: the ledger folded into slices from a cursor, once per entry.
//! - `stats`: leave-one-out z-scores and the population stability index.
//! - `summary`: the dashboard's headline figures and signals.
//! - `query`: the reports (`/v1/metrics/…`) summed from slices.
//! - `charts`: the dashboard's charts as SVG (plotters).
//! - `prometheus`: the same figures as Prometheus text.
//! - `report`: the monthly review as one self-contained HTML page.

pub mod baseline;
pub mod charts;
pub mod derive;
pub mod fold;
pub mod histogram;
pub mod prometheus;
pub mod query;
pub mod report;
pub mod slice;
pub mod stats;
pub mod summary;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
