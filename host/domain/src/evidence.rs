//! Evidence: what a case carries to justify it, and the kinds a decision can require.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Kinds of evidence. Mirrors `evidence-kind` in the WIT contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// The requester's written reason (the case's rationale counts).
    Rationale,
    /// A document: screenshot, invoice, chat transcript.
    Attachment,
    /// A reviewed customer-impact message.
    CustomerComms,
    /// A record from the order system.
    OrderRecord,
    /// A record from the payment processor.
    PaymentRecord,
}

impl EvidenceKind {
    pub const ALL: [EvidenceKind; 5] = [
        EvidenceKind::Rationale,
        EvidenceKind::Attachment,
        EvidenceKind::CustomerComms,
        EvidenceKind::OrderRecord,
        EvidenceKind::PaymentRecord,
    ];
}

/// A piece of evidence linked to a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    pub kind: EvidenceKind,
    /// Where it lives: a URL, a document id, a ticket comment id.
    pub reference: String,
    /// SHA-256 of the content (lowercase hex), so the ledger pins exactly what was seen.
    pub sha256: Option<String>,
    pub description: Option<String>,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

/// The kinds in `required` that `present` lacks.
pub fn missing(required: &BTreeSet<EvidenceKind>, present: &BTreeSet<EvidenceKind>) -> Vec<EvidenceKind> {
    required.difference(present).copied().collect()
}

/// The wire name of an evidence kind.
pub fn evidence_name(kind: &EvidenceKind) -> String {
    serde_json::to_value(kind).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
}
