//! The monthly review as data (`Metrics::monthly_review`): a month's headline figures against
//! the month before, leakage, exceptions by code, evidence completeness, cycle time, drift and
//! red remediation items. The API renders it as one HTML page (`api::render::report`).

use chrono::{DateTime, NaiveDate, Utc};

use super::query::{CycleTimeReport, DriftReport, LeakageReport};
use super::slice::Slice;
use super::summary::Headline;
use crate::remediation::RemediationItem;

/// One month's review.
#[derive(Debug, Clone)]
pub struct MonthlyReview {
    /// `YYYY-MM`.
    pub month: String,
    /// The month's first and last day (UTC).
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub generated_at: DateTime<Utc>,
    /// The headline figures, each against the month before.
    pub headline: Vec<Headline>,
    pub leakage: LeakageReport,
    /// Leakage over the six months ending with this one, in `context_currency`.
    pub leakage_context: LeakageReport,
    pub context_currency: String,
    /// Everything counted in the month, every team.
    pub total: Slice,
    pub cycle_time: CycleTimeReport,
    pub drift: DriftReport,
    /// The remediation items that are red at `generated_at`.
    pub red_items: Vec<RemediationItem>,
}
