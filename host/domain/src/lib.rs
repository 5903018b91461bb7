//! levee-domain: what an exception *is* and the rules it obeys, as plain values and pure
//! functions. Nothing here reads a store, calls a service or speaks HTTP: Cargo holds it to
//! that, since this crate depends on none of them. levee-core runs these rules over its ports.
//!
//! - `money`: integer minor units of an ISO-4217 currency.
//! - `kind`: what kind of exception a case is (refund, credit, fee waiver, write-off, override).
//! - `digest`: canonical JSON and SHA-256, as every hash in the ledger is made.
//! - `validation`: field-naming input checks.
//! - `identity`: roles, approver levels, authority limits, bearer tokens.
//! - `taxonomy`: exception codes with owners, playbooks, queues, SLAs and remediation triggers.
//! - `matrix`: the approval matrix (the threshold policy's parameters).
//! - `evidence`: evidence kinds and linked evidence.
//! - `engine`: the policy-engine port and the facts policies see.
//! - `decision`: combining the chain's decisions, failing closed.
//! - `case`: the case state machine, one file per transition.
//! - `ledger`: entries, canonical hashing, chain checking.
//! - `delegation`: approvers handing their authority to a colleague for a dated window.
//! - `registry`: uploaded rule plugins, proposed and activated chains.
//! - `proposal`: four eyes on the controls: who may propose, approve and confirm a change.
//! - `controls`: approval groups, floors and code routing changed through proposals.
//! - `executions`: executed refunds as Stripe and Shopify report them (pure parsing).
//! - `reconcile`: matching executions to approved cases; findings of leakage.
//! - `inbound`: verifying inbound webhooks by each vendor's signature scheme.
//! - `intake`: helpdesk tickets mapped to case submissions; rejected intakes.
//! - `taxonomy_changes`: the rules for adding, changing, deprecating and merging codes.
//! - `remediation`: the loop from a code crossing its trigger to a verified fix, as rules:
//!   triggers, windows, statuses, SLAs, verification.
//! - `backtest`: what a replay of recorded cases through a candidate chain compares and reports.
//! - `metrics`: what measurement counts (slices, histograms, statistics, limits).

pub mod backtest;
pub mod case;
pub mod controls;
pub mod decision;
pub mod delegation;
pub mod digest;
pub mod engine;
pub mod evidence;
pub mod executions;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod floors;
pub mod identity;
pub mod inbound;
pub mod intake;
pub mod kind;
pub mod ledger;
pub mod matrix;
pub mod metrics;
pub mod money;
pub mod proposal;
pub mod reconcile;
pub mod registry;
pub mod remediation;
pub mod taxonomy;
pub mod taxonomy_changes;
pub mod validation;
