//! What each of the dashboard's charts shows, as data read from the aggregates
//! (`Metrics::chart`). Drawing it is the API's (`api::render::charts`).

use chrono::{DateTime, Utc};

use super::query::{CycleTimeReport, DriftReport, LeakageReport, OutlierReport};
use super::slice::Slice;
use crate::remediation::RemediationItem;

/// The charts there are, by the id `GET /v1/charts/{id}` takes.
pub const CHART_IDS: [&str; 6] = ["leakage", "cycle-time", "pareto", "approver-outliers", "remediation-sla", "drift"];

/// One chart's figures.
#[derive(Debug, Clone)]
pub enum ChartData {
    /// Leakage by month, stacked by cause, in the scope's main currency.
    Leakage {
        report: LeakageReport,
        currency: String,
    },
    CycleTime(CycleTimeReport),
    /// The Pareto of codes over the scope's total.
    Pareto(Slice),
    ApproverOutliers(OutlierReport),
    /// The remediation items of the scope's team (or all), judged at `now`.
    RemediationSla {
        items: Vec<RemediationItem>,
        now: DateTime<Utc>,
    },
    Drift(DriftReport),
}
