//! Cases and their state machine.
//!
//! ```text
//! submitted ─┬─> auto_approved
//!            ├─> rejected
//!            └─> pending_approval ─┬─> approved
//!                 (escalated) ─────┼─> rejected
//!                                  └─> cancelled
//! ```
//!
//! One file per transition; each is a pure function from the case as it stands (and the
//! acting principal) to the case as it will be and the ledger entry that records it. The host
//! enforces the floor here, whatever a plugin said: separation of duties, authority limits,
//! evidence before the final approval, distinct approvers.

mod approve;
mod attach_evidence;
mod cancel;
mod reject;
pub mod submit;

pub use approve::{ApproveRequest, approve};
pub use attach_evidence::{EvidenceRequest, attach_evidence};
pub use cancel::{CancelRequest, cancel};
pub use reject::{RejectRequest, reject};
pub use submit::{SubmitContext, SubmitRequest, submit};

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::decision::CaseDecision;
use crate::evidence::{Evidence, EvidenceKind};
use crate::identity::{ApproverLevel, AuthoritySnapshot, Role};
use crate::ledger::EventType;
use crate::money::Money;

/// What kind of money movement or exception a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    Refund,
    Credit,
    FeeWaiver,
    WriteOff,
    Override,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    AutoApproved,
    PendingApproval,
    Approved,
    Rejected,
    Cancelled,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::AutoApproved => "auto_approved",
            CaseStatus::PendingApproval => "pending_approval",
            CaseStatus::Approved => "approved",
            CaseStatus::Rejected => "rejected",
            CaseStatus::Cancelled => "cancelled",
        }
    }
}

/// An approval given by one approver, with the authority they held when they gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Approval {
    pub approver: String,
    pub role: Role,
    pub authority: AuthoritySnapshot,
    pub rationale: String,
    pub at: DateTime<Utc>,
    /// The separation-of-duties checks this approval passed.
    pub checks: Vec<String>,
}

/// The close of a case that did not end in approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Closure {
    pub by: String,
    pub rationale: String,
    pub at: DateTime<Utc>,
}

/// A refund, credit, fee waiver, write-off or override, from request to decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Case {
    pub id: String,
    /// Bumped by every transition; a transition based on an older version loses with 409.
    pub version: u64,
    pub kind: CaseKind,
    pub amount: Money,
    pub customer_ref: String,
    pub order_ref: Option<String>,
    pub requester: String,
    pub requester_role: Role,
    pub team: String,
    pub channel: String,
    pub exception_code: String,
    pub code_category: String,
    pub taxonomy_version: String,
    pub rationale: String,
    pub attributes: BTreeMap<String, String>,
    pub evidence: Vec<Evidence>,
    pub status: CaseStatus,
    pub decision: CaseDecision,
    pub approvals: Vec<Approval>,
    pub closure: Option<Closure>,
    pub submitted_at: DateTime<Utc>,
    /// When the case reached a final status (auto-approved, approved, rejected, cancelled).
    pub decided_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Ledger sequence numbers of this case's entries, oldest first.
    pub ledger_seqs: Vec<u64>,
}

impl Case {
    /// Evidence kinds the case carries now (a non-empty rationale counts as `rationale`).
    pub fn evidence_present(&self) -> BTreeSet<EvidenceKind> {
        let mut present: BTreeSet<EvidenceKind> = self.evidence.iter().map(|evidence| evidence.kind).collect();
        if !self.rationale.trim().is_empty() {
            present.insert(EvidenceKind::Rationale);
        }
        present
    }

    /// Required evidence that is not attached yet.
    pub fn missing_evidence(&self) -> Vec<EvidenceKind> {
        crate::evidence::missing(&self.decision.required_evidence, &self.evidence_present())
    }

    /// The level and number of approvals the case waits for, if it waits.
    pub fn pending_requirement(&self) -> Option<(ApproverLevel, u8)> {
        match (self.status, &self.decision.verdict) {
            (CaseStatus::PendingApproval, crate::decision::Verdict::RequireApproval { level, approvals_needed }) => {
                Some((*level, *approvals_needed))
            }
            _ => None,
        }
    }

    pub fn is_pending(&self) -> bool {
        self.status == CaseStatus::PendingApproval
    }
}

/// A transition worked out but not yet committed: the case as it will be and what the
/// ledger entry will say.
#[derive(Debug, Clone)]
pub struct Transition {
    pub case: Case,
    pub event: EventType,
    pub authority: Option<AuthoritySnapshot>,
    pub payload: serde_json::Value,
}

/// Why a transition was refused. Nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The request is well-formed but breaks a rule (HTTP 422).
    #[error("{message}")]
    Refused { rule: &'static str, message: String },
    /// The actor may not do this at all (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// The case is not in a state that allows this (HTTP 409).
    #[error("{0}")]
    WrongState(String),
}

impl TransitionError {
    fn refused(rule: &'static str, message: impl Into<String>) -> Self {
        TransitionError::Refused { rule, message: message.into() }
    }
}

/// Refuses unless the case waits for approval.
fn require_pending(case: &Case, action: &str) -> Result<(ApproverLevel, u8), TransitionError> {
    case.pending_requirement().ok_or_else(|| {
        TransitionError::WrongState(format!("case {} is {}, so it cannot be {action}", case.id, case.status.as_str()))
    })
}

/// Refuses an empty rationale.
fn require_rationale(rationale: &str) -> Result<String, TransitionError> {
    let trimmed = rationale.trim();
    if trimmed.is_empty() {
        return Err(TransitionError::refused("rationale_required", "rationale must not be empty"));
    }
    Ok(trimmed.to_owned())
}

/// The next version of a case, stamped at `at`.
fn advanced(case: &Case, at: DateTime<Utc>) -> Case {
    let mut next = case.clone();
    next.version += 1;
    next.updated_at = at;
    next
}
