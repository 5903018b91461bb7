//! Submission: a validated request plus the chain's decision becomes a new case, auto-approved,
//! pending approval or rejected.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Case, CaseKind, CaseStatus, Transition};
use crate::decision::{CaseDecision, Verdict};
use crate::evidence::{Evidence, EvidenceKind};
use crate::identity::{ApprovalGroup, Principal};
use crate::ledger::EventType;
use crate::money::{MAX_MINOR_UNITS, Money, MoneyError};
use crate::taxonomy::{ExceptionCode, Taxonomy};
use crate::validation::{FieldError, optional_text, required_text};

use super::attach_evidence::EvidenceRequest;

/// `POST /v1/cases`. The requester is whoever holds the bearer token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    pub kind: CaseKind,
    pub amount: MoneyInput,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub customer_ref: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub order_ref: Option<String>,
    /// Defaults to the requester's team.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub team: Option<String>,
    /// How the request arrived; defaults to `api`.
    #[serde(default)]
    #[schema(max_length = 50)]
    pub channel: Option<String>,
    /// An active code of the taxonomy in force (`GET /v1/taxonomy`); free text is refused.
    #[schema(min_length = 1)]
    pub exception_code: String,
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub rationale: String,
    #[serde(default)]
    pub evidence: Vec<EvidenceRequest>,
    #[serde(default)]
    #[schema(schema_with = attributes_schema)]
    pub attributes: BTreeMap<String, String>,
}

/// The most attributes a case carries.
const MAX_ATTRIBUTES: usize = 50;

/// `attributes`: up to 50, each key not blank and at most 64 characters, each value at most 1,000.
fn attributes_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Type};
    let text = |max: usize| ObjectBuilder::new().schema_type(Type::String).max_length(Some(max));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Free-form facts for the policies: up to 50, keys not blank and at most 64 characters, values at most 1,000",
        ))
        .max_properties(Some(MAX_ATTRIBUTES))
        .property_names(Some(text(64).min_length(Some(1)).pattern(Some(r"\S"))))
        .additional_properties(Some(text(1000)))
        .build()
}

/// An amount as submitted: integer minor units and an ISO-4217 code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyInput {
    /// A whole number written as one: no fraction and no exponent (`4000`, never `4000.0`, so
    /// an amount computed in floating point is caught), from 1 to 2^53 - 1.
    #[schema(value_type = i64, example = 4000, minimum = 1, maximum = 9007199254740991_i64)]
    pub minor_units: serde_json::Number,
    /// An ISO-4217 code with a minor unit, that the approval matrix has a ladder for.
    #[schema(example = "USD", pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

/// A submission that passed validation, before the policies have seen it.
#[derive(Debug, Clone)]
pub struct ValidSubmission {
    pub kind: CaseKind,
    pub amount: Money,
    pub customer_ref: String,
    pub order_ref: Option<String>,
    pub team: String,
    pub channel: String,
    pub code: ExceptionCode,
    pub rationale: String,
    pub evidence: Vec<super::attach_evidence::ValidEvidence>,
    pub attributes: BTreeMap<String, String>,
}

impl ValidSubmission {
    /// Evidence kinds present at submission (a non-empty rationale counts).
    pub fn evidence_kinds(&self) -> std::collections::BTreeSet<EvidenceKind> {
        let mut kinds: std::collections::BTreeSet<EvidenceKind> =
            self.evidence.iter().map(|item| item.kind()).collect();
        if !self.rationale.is_empty() {
            kinds.insert(EvidenceKind::Rationale);
        }
        kinds
    }
}

impl SubmitRequest {
    /// Checks every field, naming the first that is wrong.
    pub fn validate(&self, requester: &Principal, taxonomy: &Taxonomy) -> Result<ValidSubmission, FieldError> {
        let minor_units = self.amount.minor_units.as_i64().ok_or_else(|| {
            let message = format!(
                "must be a whole number of minor units up to {MAX_MINOR_UNITS}, got {}",
                self.amount.minor_units
            );
            FieldError::new("amount.minor_units", message)
        })?;
        let amount = Money::new(minor_units, &self.amount.currency).map_err(|error| match error {
            MoneyError::UnknownCurrency(_) | MoneyError::NoMinorUnit(_) => {
                FieldError::new("amount.currency", error.to_string())
            }
            MoneyError::NotPositive(_)
            | MoneyError::TooLarge(_)
            | MoneyError::NotDecimal { .. }
            | MoneyError::DecimalTooLarge(_) => FieldError::new("amount.minor_units", error.to_string()),
        })?;
        let code = taxonomy.code_for_new_case(self.exception_code.trim())?.clone();
        if self.attributes.len() > MAX_ATTRIBUTES {
            return Err(FieldError::new("attributes", format!("at most {MAX_ATTRIBUTES} attributes")));
        }
        for (key, value) in &self.attributes {
            required_text("attributes (a key)", key, 64)?;
            optional_text(&format!("attributes.{key}"), Some(value), 1_000)?;
        }
        let evidence = self
            .evidence
            .iter()
            .enumerate()
            .map(|(index, item)| item.validate(&format!("evidence[{index}]")))
            .collect::<Result<_, _>>()?;
        Ok(ValidSubmission {
            kind: self.kind,
            amount,
            customer_ref: required_text("customer_ref", &self.customer_ref, 200)?,
            order_ref: optional_text("order_ref", self.order_ref.as_deref(), 200)?,
            team: optional_text("team", self.team.as_deref(), 100)?.unwrap_or_else(|| requester.team.clone()),
            channel: optional_text("channel", self.channel.as_deref(), 50)?.unwrap_or_else(|| "api".to_owned()),
            code,
            rationale: optional_text("rationale", Some(&self.rationale), 10_000)?.unwrap_or_default(),
            evidence,
            attributes: self.attributes.clone(),
        })
    }
}

/// What a submission needs besides the request: the new id, who asks, when, and what the
/// policies decided.
#[derive(Debug, Clone)]
pub struct SubmitContext<'a> {
    pub case_id: String,
    pub requester: &'a Principal,
    pub taxonomy_version: &'a str,
    pub at: DateTime<Utc>,
    pub decision: CaseDecision,
    pub idempotency_key: Option<String>,
    /// The approval groups (N of M) configured; the one covering the level the case waits
    /// at, if any, is recorded on it.
    pub approval_groups: &'a [ApprovalGroup],
    /// Whether required attachments must be files levee stores (`[evidence]`).
    pub attachments_must_be_stored: bool,
}

/// The new case and its first ledger entry.
pub fn submit(submission: ValidSubmission, context: SubmitContext<'_>) -> Transition {
    let SubmitContext {
        case_id,
        requester,
        taxonomy_version,
        at,
        decision,
        idempotency_key,
        approval_groups,
        attachments_must_be_stored,
    } = context;
    let evidence: Vec<Evidence> =
        submission.evidence.into_iter().map(|item| item.into_evidence(&requester.actor, at)).collect();
    let mut case = Case {
        id: case_id,
        version: 1,
        kind: submission.kind,
        amount: submission.amount,
        customer_ref: submission.customer_ref,
        order_ref: submission.order_ref,
        requester: requester.actor.clone(),
        requester_role: requester.primary_role(),
        team: submission.team,
        channel: submission.channel,
        exception_code: submission.code.code.clone(),
        code_category: submission.code.category.clone(),
        taxonomy_version: taxonomy_version.to_owned(),
        rationale: submission.rationale,
        attributes: submission.attributes,
        evidence,
        status: CaseStatus::PendingApproval,
        decision,
        approvals: Vec::new(),
        closure: None,
        submitted_at: at,
        decided_at: None,
        updated_at: at,
        ledger_seqs: Vec::new(),
        idempotency_key,
        escalations: Vec::new(),
        approver_group: None,
        comms: None,
        attachments_must_be_stored,
    };
    let present = case.evidence_present();
    crate::decision::hold_for_missing_evidence(&mut case.decision, &present, case.submitted_at);
    case.status = match case.decision.verdict {
        Verdict::AutoApprove => CaseStatus::AutoApproved,
        Verdict::RequireApproval { .. } => CaseStatus::PendingApproval,
        Verdict::Reject => CaseStatus::Rejected,
    };
    if case.status != CaseStatus::PendingApproval {
        case.decided_at = Some(at);
    }
    if let Verdict::RequireApproval { level, .. } = case.decision.verdict {
        case.approver_group = approval_groups.iter().find(|group| group.level == level).cloned();
    }
    let payload = serde_json::json!({
        "kind": case.kind,
        "amount": case.amount,
        "customer_ref": case.customer_ref,
        "order_ref": case.order_ref,
        "exception_code": case.exception_code,
        "rationale": case.rationale,
        "evidence": case.evidence,
        "status": case.status,
        "decision": case.decision,
    });
    Transition { case, event: EventType::CaseSubmitted, authority: None, payload }
}
