//! levee-core: levee's application core. The workflow's operations, the ledger on the store,
//! projections and the HTTP route table, over three ports (store, policy engine, clock), with
//! the domain's rules from `levee-domain`. No I/O, no async, no wasmtime: it builds for native
//! and for wasm32-wasip2, and every shell adapts it.
//!
//! The domain's modules are re-exported here under their own names (`levee_core::case` is
//! `levee_domain::case`), so a path names the rule wherever it is used:
//! `money`, `validation`, `identity`, `taxonomy`, `matrix`, `floors`, `evidence`, `engine`, `decision`,
//! `case`, `ledger`, `delegation`, `registry`, `proposal`, `controls`, `executions`, `reconcile`, `inbound`, `intake`,
//! `taxonomy_changes`, `remediation`, `backtest` (and the values `metrics` counts).
//!
//! The core's own modules:
//! - `ledger_store`: the ledger on the store, as the commit log of every transition.
//! - `merkle`: RFC 6962 Merkle trees, inclusion and consistency proofs (pure).
//! - `ledger_proofs`: the ledger as a Merkle tree; signed checkpoints and proofs over it.
//! - `checkpoint`: signed checkpoints as C2SP signed notes, ed25519 keys in the note forms.
//! - `subject`: what an entry is about (a case, the policy registry, the taxonomy), its state,
//!   and how any subject is loaded and changed.
//! - `projections`: case records, queues and customer history rebuilt from the log.
//! - `store`: the storage port and an in-memory reference backend.
//! - `clock`: the clock port.
//! - `config`: the workflow half of levee.toml (tokens, taxonomy, matrix, teams, webhooks),
//!   its check, the settings it makes, and the demo cast.
//! - `service`: the workflow's operations over the ports, one module per capability.
//! - `schedule`: what one run of levee's own schedule reports (the governance run, deliveries).
//! - `registry_changes`: the requests that change the policy registry (upload, activate, roll
//!   back, shadow) and their checks.
//! - `outbox`: outgoing signals as Standard Webhooks, with the ledger as the outbox.
//! - `scorecard`: red/amber/green per code and per team.
//! - `metrics`: leakage, cycle time, evidence, outliers and drift, folded from the ledger
//!   into aggregates; Prometheus text; the figures of charts and the monthly review.
//! - `workflow`: the workflow the configuration in force draws (chain, ladders, SLAs, escalation).
//! - `timeline`: one case's ledger entries and the check of its lineage.
//! - `api`: HTTP routes as plain functions over `http` types, the OpenAPI document, and
//!   presentation at the edge (`api::render`: SVG charts, the HTML review, CSV and NDJSON
//!   exports; `api::console`: the console's files).

#[cfg(test)]
use levee_domain::fixtures;
pub use levee_domain::{
    backtest, case, controls, decision, delegation, engine, evidence, executions, floors, identity, inbound, intake,
    ledger, matrix, money, proposal, reconcile, registry, remediation, taxonomy, taxonomy_changes, validation,
};

pub mod api;
pub mod checkpoint;
pub mod clock;
pub mod config;
pub mod ledger_proofs;
pub mod ledger_store;
pub mod merkle;
pub mod metrics;
pub mod outbox;
pub mod projections;
pub mod registry_changes;
pub mod schedule;
pub mod scorecard;
pub mod service;
pub mod store;
pub mod subject;
pub mod timeline;
pub mod workflow;

pub use service::{Levee, Settings};
