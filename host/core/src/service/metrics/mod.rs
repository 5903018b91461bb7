//! The metrics as a service: folding the ledger into aggregates and reading them back as
//! figures, charts, the Prometheus exposition and the monthly review (`crate::metrics`).

mod baseline;
mod charts;
mod fold;
mod prometheus;
mod query;
mod report;
mod summary;

use crate::service::Levee;

/// Measurement: `levee.metrics()`.
pub struct Metrics<'a> {
    pub(in crate::service) levee: &'a Levee,
}
