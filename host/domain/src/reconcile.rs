//! Reconciliation: every executed refund is matched to an approved case, and what does not add
//! up is a finding, with an amount, a ledger entry, and a place in `GET /v1/findings`.
//!
//! An execution matches the case its references name (in this order: the case id, the charge,
//! the payment intent, the order, the ticket; cases are indexed by `order_ref` and by their
//! `charge`, `payment_intent` and `ticket` attributes). Findings:
//!
//! - **silent**: no case matches, or the case matched was never approved: the whole amount;
//! - **executed before approval**: the case was approved, but after the money left;
//! - **overage**: the executions matched to one case add up to more than it approved: the excess;
//! - **duplicate**: another execution refunded the same order by the same amount, and no
//!   approved case had room for this one: this amount;
//! - **refund discrepancy** (Shopify): what Shopify recorded as not refunded.
//!
//! Each execution is a ledger subject (`EX-<source>-<id>`), recorded once however often the
//! tool retries. A silent finding is looked at again on every governance run: an approval that
//! arrives late resolves it (and, since it came after the money left, opens an executed-before-
//! approval finding instead).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::case::{Case, CaseStatus};
use crate::executions::ExecutionReport;
use crate::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Silent,
    ExecutedBeforeApproval,
    Overage,
    Duplicate,
    RefundDiscrepancy,
}

/// One thing that does not add up about an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    pub kind: FindingKind,
    /// What leaked, or is in question.
    pub amount: Money,
    pub case_id: Option<String>,
    pub detail: String,
    pub opened_at: DateTime<Utc>,
    /// When a late approval answered it (silent findings only).
    pub resolved_at: Option<DateTime<Utc>>,
}

/// An executed refund, as recorded, with what was found about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionRecord {
    /// `EX-<source>-<the tool's refund id>`.
    pub id: String,
    pub version: u64,
    pub ledger_seqs: Vec<u64>,
    pub source: String,
    pub report: ExecutionReport,
    pub recorded_at: DateTime<Utc>,
    /// The case it was matched to, if any.
    pub case_id: Option<String>,
    pub findings: Vec<Finding>,
}

/// Whether `subject` names an execution.
pub fn is_execution_id(subject: &str) -> bool {
    subject.starts_with("EX-")
}

/// Whether the case was approved after `executed_at`, to the second (payment tools stamp
/// executions in whole seconds).
pub fn approved_after(case: &Case, executed_at: DateTime<Utc>) -> bool {
    case.decided_at.is_some_and(|decided| decided.timestamp() > executed_at.timestamp())
}

pub fn is_approved(case: &Case) -> bool {
    matches!(case.status, CaseStatus::Approved | CaseStatus::AutoApproved)
}

impl ExecutionRecord {
    /// The placeholder `commit_subject` starts from before an execution is recorded.
    pub fn missing(id: &str, source: &str, report: &ExecutionReport) -> ExecutionRecord {
        ExecutionRecord {
            id: id.to_owned(),
            version: 0,
            ledger_seqs: Vec::new(),
            source: source.to_owned(),
            report: report.clone(),
            recorded_at: DateTime::UNIX_EPOCH,
            case_id: None,
            findings: Vec::new(),
        }
    }
}
