//! Presentation: what the API sends that is not JSON, drawn from the service's data at the
//! edge, so that no domain or service module knows about SVG, HTML or CSV.
//!
//! - `charts`: the dashboard's charts as SVG (plotters), from `metrics::chart::ChartData`.
//! - `report`: the monthly review as one self-contained HTML page, from
//!   `metrics::review::MonthlyReview`.
//! - `export`: cases and ledger entries in a date range as CSV or NDJSON, for auditors.

pub mod charts;
pub mod export;
pub mod report;
