//! Measurement: refund leakage, approval cycle time, evidence completeness, rubber-stamp and
//! outlier signals, and drift, kept as aggregates so a dashboard over a million cases answers
//! without reading them.
//!
//! The values counted (slices, histograms, statistics, the limits) are levee-domain's
//! `metrics`, re-exported here under the same names.
//!
//! - `derive`: what each ledger entry adds to a slice.
//! - `fold`: the ledger folded into slices from a cursor, once per entry.
//! - `summary`: the dashboard's headline figures and signals.
//! - `query`: the reports (`/v1/metrics/…`) summed from slices.
//! - `chart`: what each of the dashboard's charts shows, as data.
//! - `prometheus`: the same figures as Prometheus text.
//! - `review`: the monthly review, as data.
//!
//! Drawing charts and the review page is the API's (`api::render`).

pub mod chart;
pub mod derive;
pub mod fold;
pub mod prometheus;
pub mod query;
pub mod review;
pub mod summary;

pub use levee_domain::metrics::{MetricsSettings, baseline, histogram, slice, stats};
