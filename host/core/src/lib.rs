//! levee-core: the functional core of levee. Domain, workflow rules, ledger and the HTTP
//! route table, over three ports (store, policy engine, clock). No I/O, no async, no
//! wasmtime: it builds for native and for wasm32-wasip2, and every shell adapts it.
//!
//! - `money`: integer minor units of an ISO-4217 currency.
//! - `identity`: roles, approver levels, authority limits, bearer tokens.
//! - `taxonomy`: exception codes with owners, playbooks, queues, SLAs and remediation triggers.
//! - `matrix`: the approval matrix (the threshold policy's parameters).
//! - `evidence`: evidence kinds and linked evidence.
//! - `engine`: the policy-engine port and the facts policies see.
//! - `decision`: combining the chain's decisions, failing closed.
//! - `case`: the case state machine, one file per transition.
//! - `ledger`: entries, canonical hashing, chain checking.
//! - `journal`: the ledger on the store, as the commit log of every transition.
//! - `merkle`: RFC 6962 Merkle trees, inclusion and consistency proofs (pure).
//! - `ledger_tree`: the ledger as a Merkle tree; signed checkpoints and proofs over it.
//! - `checkpoint`: signed checkpoints as C2SP signed notes, ed25519 keys in the note forms.
//! - `subject`: what an entry is about (a case, the policy registry, the taxonomy), its state,
//!   and how any subject is loaded and changed.
//! - `registry`: uploaded rule plugins and activated chains.
//! - `projections`: case records, queues and customer history rebuilt from the log.
//! - `store`: the storage port and an in-memory reference backend.
//! - `clock`: the clock port.
//! - `config`: the workflow half of levee.toml (tokens, taxonomy, matrix, teams, webhooks),
//!   its check, the settings it makes, and the demo cast.
//! - `service`: the workflow's operations over the ports.
//! - `delegation`: approvers handing their authority to a colleague for a dated window.
//! - `governance`: what levee does on its own schedule (SLA escalation).
//! - `policy_admin`: uploading rule plugins, activating and rolling back chains.
//! - `taxonomy_admin`: adding, changing, deprecating and merging exception codes.
//! - `remediation`: the loop from a code crossing its trigger to a verified fix.
//! - `inbound`: verifying inbound webhooks by each vendor's signature scheme.
//! - `intake`: helpdesk tickets becoming cases, and rejected intakes recorded.
//! - `executions`: executed refunds as Stripe and Shopify report them (pure parsing).
//! - `reconcile`: matching executions to approved cases; findings of leakage.
//! - `outbox`: outgoing signals as Standard Webhooks, with the ledger as the outbox.
//! - `scorecard`: red/amber/green per code and per team.
//! - `metrics`: leakage, cycle time, evidence, outliers and drift, folded from the ledger
//!   into aggregates; charts, Prometheus text and the monthly review.
//! - `backtest`: replaying recorded facts through a candidate chain.
//! - `export`: cases and ledger entries in a date range as CSV or NDJSON, for auditors.
//! - `workflow`: the workflow the configuration in force draws (chain, ladders, SLAs, escalation).
//! - `timeline`: one case's ledger entries and the check of its lineage.
//! - `validation`: field-naming input checks.
//! - `api`: HTTP routes as plain functions over `http` types, and the OpenAPI document.

pub mod api;
pub mod backtest;
pub mod case;
pub mod checkpoint;
pub mod clock;
pub mod config;
pub mod decision;
pub mod delegation;
pub mod engine;
pub mod evidence;
pub mod executions;
pub mod export;
#[cfg(test)]
mod fixtures;
pub mod governance;
pub mod identity;
pub mod inbound;
pub mod intake;
pub mod journal;
pub mod ledger;
pub mod ledger_tree;
pub mod matrix;
pub mod merkle;
pub mod metrics;
pub mod money;
pub mod outbox;
pub mod policy_admin;
pub mod projections;
pub mod reconcile;
pub mod registry;
pub mod remediation;
pub mod scorecard;
pub mod service;
pub mod store;
pub mod subject;
pub mod taxonomy;
pub mod taxonomy_admin;
pub mod timeline;
pub mod validation;
pub mod workflow;

pub use service::{Levee, Settings};
