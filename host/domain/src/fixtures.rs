//! Test fixtures shared by the core's unit tests.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};

use crate::case::{self, Case, SubmitRequest, Transition};
use crate::decision::{self, CaseDecision};
use crate::engine::{PolicyDecision, PolicyEvaluation, PolicyFailure, PolicyIdentity, PolicyOutcome};
use crate::identity::{ApproverLevel, Authority, Principal, Role};
use crate::taxonomy::Taxonomy;

pub fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0).single().expect("a valid time")
}

pub fn principal(actor: &str, role: Role, level: Option<ApproverLevel>, usd_limit: i64) -> Principal {
    Principal {
        actor: actor.to_owned(),
        roles: vec![role],
        team: "support".to_owned(),
        authority: level.map(|level| Authority { level, limits: BTreeMap::from([("USD".to_owned(), usd_limit)]) }),
        source: "test".to_owned(),
    }
}

pub fn evaluation(name: &str, result: Result<PolicyDecision, PolicyFailure>) -> PolicyEvaluation {
    PolicyEvaluation {
        policy: PolicyIdentity { name: name.to_owned(), version: "1".to_owned(), digest: "d".repeat(64) },
        result,
        fuel_used: 10,
        elapsed_micros: 5,
        peak_memory_bytes: 65_536,
    }
}

pub fn requires(level: ApproverLevel, approvals_needed: u8) -> PolicyDecision {
    PolicyDecision {
        outcome: PolicyOutcome::RequireApproval {
            level,
            approvals_needed,
            sla_minutes: Some(240),
            reason: "band".into(),
        },
        required_evidence: vec![crate::evidence::EvidenceKind::Rationale],
        route: None,
        signals: vec![],
        rule_id: "test/band".into(),
    }
}

/// A submitted USD refund case of `minor_units`, decided as `decision`.
pub fn submitted(case_id: &str, minor_units: i64, decision: CaseDecision) -> Transition {
    let request: SubmitRequest = serde_json::from_value(serde_json::json!({
        "kind": "refund",
        "amount": {"minor_units": minor_units, "currency": "USD"},
        "customer_ref": "cus_1",
        "exception_code": "LATE_DELIVERY",
        "rationale": "late",
    }))
    .expect("a valid request");
    let agent = principal("avery", Role::Agent, None, 0);
    let taxonomy = Taxonomy::default_taxonomy();
    let submission = request.validate(&agent, &taxonomy).expect("valid");
    let context = case::SubmitContext {
        attachments_must_be_stored: false,
        case_id: case_id.to_owned(),
        requester: &agent,
        taxonomy_version: "t",
        at: at(),
        decision,
        idempotency_key: None,
        approval_groups: &[],
    };
    case::submit(submission, context)
}

/// A pending case needing one lead approval.
pub fn pending_case(case_id: &str) -> Case {
    let decision = decision::combine(&[evaluation("threshold", Ok(requires(ApproverLevel::Lead, 1)))], at());
    submitted(case_id, 40_000, decision).case
}
