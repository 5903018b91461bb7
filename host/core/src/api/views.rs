//! What the API answers about a case: the decision in the terms a requester and an approver
//! need (outcome, level, approvals, SLA, why, evidence still missing), the case, its ledger.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::case::{Case, CaseStatus};
use crate::decision::PolicyRun;
use crate::evidence::EvidenceKind;
use crate::identity::ApproverLevel;
use crate::ledger::LedgerEntry;

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    /// `auto_approved`, `pending_approval`, `approved`, `rejected` or `cancelled`.
    pub outcome: CaseStatus,
    pub level: Option<ApproverLevel>,
    pub approvals_needed: Option<u8>,
    pub approvals_received: usize,
    pub sla_due_at: Option<DateTime<Utc>>,
    pub reasons: Vec<String>,
    pub required_evidence: Vec<EvidenceKind>,
    pub missing_evidence: Vec<EvidenceKind>,
    pub queue: Option<String>,
    /// What the policies flagged for the approver (e.g. `repeat-refund`, `policy-failure`).
    pub signals: Vec<String>,
    pub failed_closed: bool,
    pub policies: Vec<PolicyRun>,
    /// The floors (`[floors]`, outside every policy) the decision was raised to, each named.
    pub floors: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    pub case_id: String,
    pub status: CaseStatus,
    pub version: u64,
    pub decision: DecisionView,
    pub case: Case,
    /// The case's ledger entries (on `GET /v1/cases/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<Vec<LedgerEntry>>,
}

impl CaseView {
    pub fn new(case: Case, ledger: Option<Vec<LedgerEntry>>) -> Self {
        // While pending, the level it waits for now (raised by any SLA escalation).
        let requirement = case.pending_requirement().or(match case.decision.verdict {
            crate::decision::Verdict::RequireApproval { level, approvals_needed } => Some((level, approvals_needed)),
            _ => None,
        });
        let decision = DecisionView {
            outcome: case.status,
            level: requirement.map(|(level, _)| level),
            approvals_needed: requirement.map(|(_, approvals)| approvals),
            approvals_received: case.approvals.len(),
            sla_due_at: case.sla_due_at(),
            reasons: case.decision.reasons.clone(),
            required_evidence: case.decision.required_evidence.iter().copied().collect(),
            missing_evidence: case.missing_evidence(),
            queue: case.decision.queue.clone(),
            signals: case.decision.signals.iter().cloned().collect(),
            failed_closed: case.decision.failed_closed,
            policies: case.decision.policies.clone(),
            floors: case.decision.floors.clone(),
        };
        CaseView { case_id: case.id.clone(), status: case.status, version: case.version, decision, case, ledger }
    }
}
