//! What levee does on its own schedule, driven by a shell's background job on the clock port:
//! SLA escalation of cases still waiting past their due time, and the remediation loop (opening
//! items for codes that crossed their trigger, judging fixes, escalating overdue items). Each
//! run is idempotent, so any number of hosts may run it: what one host did is simply not due
//! for another, and a lost race is a conflict that the next run sees through.
//! Each run ends by folding new ledger entries into the metrics (`metrics::fold`) and storing
//! the Merkle nodes of the tiles of entries completed since (`ledger_proofs::store_tiles`).

use serde::Serialize;
use utoipa::ToSchema;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct GovernanceRun {
    /// Cases escalated one level (or, at the top level, reminded), by id.
    pub escalated: Vec<String>,
    /// Remediation items opened, verified, reopened or escalated, by id.
    pub remediation: Vec<String>,
    /// Executions whose silent finding a late approval resolved, by id.
    pub rematched: Vec<String>,
    /// Ledger entries folded into the metrics.
    pub metrics_folded: u64,
    /// Tiles of 256 ledger entries whose Merkle nodes were stored (`ledger_proofs::store_tiles`),
    /// so that checkpoints and proofs read them instead of the entries.
    pub merkle_tiles_stored: u64,
}

/// What one run of the whole schedule did: governance, then the outgoing webhooks that were due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ScheduleRun {
    pub governance: GovernanceRun,
    /// Per outgoing webhook endpoint: messages delivered, and the failure that stopped it.
    pub deliveries: Vec<crate::outbox::EndpointDeliveries>,
}

/// The most ledger entries one governance run folds into the metrics.
pub const METRICS_FOLD_PER_RUN: u64 = 50_000;

/// The most tiles of 256 entries whose Merkle nodes one governance run stores (51,200 entries,
/// about a second's reading): a ledger that grew before nodes were stored catches up over a
/// few runs instead of in one request.
pub const MERKLE_TILES_PER_RUN: u64 = 200;
