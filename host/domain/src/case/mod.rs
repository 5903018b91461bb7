//! Cases and their state machine.
//!
//! ```text
//! submitted ─┬─> auto_approved
//!            ├─> rejected
//!            └─> pending_approval ─┬─> approved
//!                 │    ▲            ├─> rejected
//!                 └────┘            └─> cancelled
//!        escalated past its SLA (one level up; still pending)
//! ```
//!
//! One file per transition; each is a pure function from the case as it stands (and the
//! acting principal) to the case as it will be and the ledger entry that records it. The host
//! enforces the floor here, whatever a plugin said: separation of duties, authority limits,
//! evidence before the final approval, distinct approvers.

mod approve;
mod attach_evidence;
mod cancel;
mod comms;
mod escalate;
mod reject;
pub mod submit;

pub use approve::{Acting, ApproveRequest, Permitted, approve, permit};
pub use attach_evidence::{EvidenceRequest, ValidEvidence, attach_evidence, may_attach};
pub use cancel::{CancelRequest, cancel};
pub use comms::{CommsReview, CustomerMessage, DraftRequest, ReviewRequest, draft_comms, render, review_comms};
pub use escalate::{Escalation, escalate};
pub use reject::{RejectRequest, reject};
pub use submit::{SubmitContext, SubmitRequest, submit};

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::decision::CaseDecision;
use crate::evidence::{Evidence, EvidenceKind};
use crate::identity::{ApprovalGroup, ApproverLevel, AuthoritySnapshot, Role};
pub use crate::kind::CaseKind;
use crate::ledger::EventType;
use crate::money::Money;

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

/// Whether `id` has the shape of a case id (`LV-000001`), as opposed to another subject's.
pub fn is_case_id(id: &str) -> bool {
    id.strip_prefix("LV-").is_some_and(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
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
    /// The delegator whose authority was used, if the approver acted on their behalf.
    #[serde(default)]
    pub on_behalf_of: Option<String>,
    #[serde(default)]
    pub delegation: Option<crate::delegation::DelegationUsed>,
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
    /// Bumped by every transition. A request that sends `expected_version` loses with 409 if
    /// the case has moved on; any transition loses with 409 if the case changes between being
    /// read and being committed.
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
    /// The submitter's `Idempotency-Key`, if they sent one: a retry with the same key returns
    /// this case instead of creating another.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Each time the case went past its SLA while waiting, oldest first.
    #[serde(default)]
    pub escalations: Vec<Escalation>,
    /// The approval group (N of M) that covered the level the case first waited at, if any.
    #[serde(default)]
    pub approver_group: Option<ApprovalGroup>,
    /// The message to the customer, while drafted, and once reviewed.
    #[serde(default)]
    pub comms: Option<CustomerMessage>,
    /// Whether a required attachment counts only when levee stores the file (`[evidence]
    /// stored_attachments`, as configured when the case was submitted); an asserted reference
    /// then does not satisfy the gate.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attachments_must_be_stored: bool,
}

impl Case {
    /// Evidence kinds the case carries now (a non-empty rationale counts as `rationale`).
    /// An attachment counts only if levee stores its file when the case's gate asks for that.
    pub fn evidence_present(&self) -> BTreeSet<EvidenceKind> {
        let counts = |evidence: &&crate::evidence::Evidence| {
            evidence.kind != EvidenceKind::Attachment || !self.attachments_must_be_stored || evidence.stored.is_some()
        };
        let mut present: BTreeSet<EvidenceKind> =
            self.evidence.iter().filter(counts).map(|evidence| evidence.kind).collect();
        if !self.rationale.trim().is_empty() {
            present.insert(EvidenceKind::Rationale);
        }
        present
    }

    /// Required evidence that is not attached yet.
    pub fn missing_evidence(&self) -> Vec<EvidenceKind> {
        crate::evidence::missing(&self.decision.required_evidence, &self.evidence_present())
    }

    /// The level and number of approvals the case waits for, if it waits: the decision's level,
    /// or the level its last SLA escalation raised it to.
    pub fn pending_requirement(&self) -> Option<(ApproverLevel, u8)> {
        match (self.status, &self.decision.verdict) {
            (CaseStatus::PendingApproval, crate::decision::Verdict::RequireApproval { level, approvals_needed }) => {
                let level = self.escalations.last().map_or(*level, |escalation| escalation.to);
                let group_approvals = self.approval_groups().iter().map(|group| group.approvals).max().unwrap_or(0);
                Some((level, (*approvals_needed).max(group_approvals)))
            }
            _ => None,
        }
    }

    /// The approval groups (N of M) whose members must give their N: the one covering the level
    /// the case first waited at, and each covering a level it was escalated to. Escalation only
    /// adds a group, never drops one: a case keeps every requirement it had when it moves up.
    pub fn approval_groups(&self) -> Vec<&ApprovalGroup> {
        let mut groups: Vec<&ApprovalGroup> = Vec::new();
        let escalated = self.escalations.iter().filter_map(|escalation| escalation.approver_group.as_ref());
        for group in self.approver_group.iter().chain(escalated) {
            if !groups.iter().any(|known| known.name == group.name) {
                groups.push(group);
            }
        }
        groups
    }

    /// The approval group (N of M) covering the level the case waits at now, if any.
    pub fn current_group(&self) -> Option<&ApprovalGroup> {
        match self.escalations.last() {
            Some(escalation) => escalation.approver_group.as_ref(),
            None => self.approver_group.as_ref(),
        }
    }

    /// The approval groups whose members have not yet given their N.
    pub fn unmet_groups(&self) -> Vec<&ApprovalGroup> {
        let unmet = |group: &&ApprovalGroup| self.group_approvals(group) < usize::from(group.approvals);
        self.approval_groups().into_iter().filter(unmet).collect()
    }

    /// The approvals given by (or on behalf of) members of `group`.
    pub fn group_approvals(&self, group: &ApprovalGroup) -> usize {
        let holder = |approval: &&Approval| approval.on_behalf_of.clone().unwrap_or_else(|| approval.approver.clone());
        self.approvals.iter().filter(|approval| group.has_member(&holder(approval))).count()
    }

    /// When the current level's SLA runs out, if the case waits and has an SLA.
    pub fn sla_due_at(&self) -> Option<DateTime<Utc>> {
        if !self.is_pending() {
            return None;
        }
        self.escalations.last().map(|escalation| escalation.next_due_at).or(self.decision.sla_due_at)
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

/// What the ledger check remembers of a case between its entries, to prove that each entry
/// follows legally from the one before: one version on, one more ledger entry, the request and
/// decision unchanged, approvals and evidence only ever appended, and only a pending case moved.
/// Digests keep it small, so a ledger of many cases can be walked in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    /// The entry this state was recorded at.
    pub last_seq: u64,
    pub version: u64,
    pub status: CaseStatus,
    pub state_hash: String,
    fixed: String,
    ledger_seqs: (usize, String),
    approvals: (usize, String),
    evidence: (usize, String),
    escalations: (usize, String),
    /// The customer message once approved: it never changes after that.
    approved_comms: Option<String>,
}

impl Lineage {
    /// The lineage of `case` as an entry recorded it (`state_hash` is that entry's).
    pub fn of(case: &Case, state_hash: &str) -> Lineage {
        Lineage {
            last_seq: case.ledger_seqs.last().copied().unwrap_or_default(),
            version: case.version,
            status: case.status,
            state_hash: state_hash.to_owned(),
            fixed: fixed_digest(case),
            ledger_seqs: prefix_digest(&case.ledger_seqs, case.ledger_seqs.len()),
            approvals: prefix_digest(&case.approvals, case.approvals.len()),
            evidence: prefix_digest(&case.evidence, case.evidence.len()),
            escalations: prefix_digest(&case.escalations, case.escalations.len()),
            approved_comms: approved_comms(case),
        }
    }

    /// Checks the first entry of a case: a submission at version 1 naming only itself.
    pub fn check_first(case: &Case, event: EventType, seq: u64) -> Result<(), String> {
        if event != EventType::CaseSubmitted || case.version != 1 || case.ledger_seqs != [seq] {
            return Err(format!("the first entry of case {} is not its submission at version 1", case.id));
        }
        Ok(())
    }

    /// Checks that `next`, recorded at `seq`, legally follows this state.
    pub fn check_successor(&self, next: &Case, seq: u64) -> Result<(), String> {
        let problem = if self.status != CaseStatus::PendingApproval {
            Some(format!("case {} changed after it was {}", next.id, self.status.as_str()))
        } else if next.version != self.version + 1 {
            Some(format!("case {} jumped from version {} to {}", next.id, self.version, next.version))
        } else if next.ledger_seqs.len() != self.ledger_seqs.0 + 1 || next.ledger_seqs.last() != Some(&seq) {
            Some(format!("case {} does not list entry {seq} as its next entry", next.id))
        } else if fixed_digest(next) != self.fixed {
            Some(format!("the request or decision of case {} changed", next.id))
        } else if !keeps_prefix(&next.ledger_seqs, &self.ledger_seqs)
            || !keeps_prefix(&next.approvals, &self.approvals)
            || !keeps_prefix(&next.evidence, &self.evidence)
            || !keeps_prefix(&next.escalations, &self.escalations)
        {
            Some(format!("earlier entries, approvals, evidence or escalations of case {} were rewritten", next.id))
        } else if self.approved_comms.is_some() && approved_comms(next) != self.approved_comms {
            Some(format!("the approved customer message of case {} was rewritten", next.id))
        } else {
            None
        };
        problem.map_or(Ok(()), Err)
    }
}

/// The digest of the case's customer message, once a reviewer has approved it.
fn approved_comms(case: &Case) -> Option<String> {
    case.comms
        .as_ref()
        .filter(|message| message.review.as_ref().is_some_and(|review| review.approved))
        .map(crate::digest::sha256_of_json)
}

/// The parts of a case no transition after submission may change.
fn fixed_digest(case: &Case) -> String {
    crate::digest::sha256_of_json(&serde_json::json!([
        case.id,
        case.kind,
        case.amount,
        case.customer_ref,
        case.order_ref,
        case.requester,
        case.requester_role,
        case.team,
        case.channel,
        case.exception_code,
        case.code_category,
        case.taxonomy_version,
        case.rationale,
        case.attributes,
        case.decision,
        case.submitted_at,
        case.idempotency_key,
        case.approver_group,
    ]))
}

fn prefix_digest<T: Serialize>(items: &[T], length: usize) -> (usize, String) {
    (length, crate::digest::sha256_of_json(&items[..length.min(items.len())]))
}

/// Whether `items` starts with the recorded prefix (its length and digest).
fn keeps_prefix<T: Serialize>(items: &[T], (length, digest): &(usize, String)) -> bool {
    items.len() >= *length && prefix_digest(items, *length).1 == *digest
}
