// Facts and decisions between levee-core's types and Rust bindings of policy.wit. Both hosts
// include this file after bringing their bindings' `levee:policy/types` into scope as `wit`:
// wasmtime's `bindgen!` (host/server/src/policy/convert.rs) and wit-bindgen in the Spin
// component (host/spin/src/engine.rs); so do the policy_output fuzz target and the policy
// benchmark's native chain (over the plugin SDK's bindings). The generators give the types the
// same names.

use levee_core::case::CaseKind;
use levee_core::engine::{Facts, PolicyDecision, PolicyFailure, PolicyOutcome, Route};
use levee_core::evidence::EvidenceKind;
use levee_core::identity::ApproverLevel;

pub fn facts_to_wit(facts: &Facts) -> wit::Facts {
    // `|`, not `|=`: the SDK's bindings (wit-bindgen without the bitflags crate) have only `|`.
    let flag = |set: bool, flag: wit::CodeFlags| if set { flag } else { wit::CodeFlags::empty() };
    let code_flags = flag(facts.escalate_always, wit::CodeFlags::ESCALATE_ALWAYS)
        | flag(facts.customer_comms_required, wit::CodeFlags::CUSTOMER_COMMS_REQUIRED);
    wit::Facts {
        case_id: facts.case_id.clone(),
        kind: kind_to_wit(facts.kind),
        amount: wit::Money {
            minor_units: facts.amount.minor_units,
            currency: facts.amount.currency.clone(),
            exponent: facts.amount.exponent(),
        },
        exception_code: facts.exception_code.clone(),
        code_category: facts.code_category.clone(),
        code_flags,
        requester_role: facts.requester_role.clone(),
        requester_team: facts.requester_team.clone(),
        channel: facts.channel.clone(),
        history: wit::History {
            window_days: Facts::HISTORY_WINDOW_DAYS,
            customer: wit::RefundsGranted {
                refunds: facts.refunds_90d,
                refunded_minor_units: facts.refunded_90d_minor_units,
            },
            order: facts.order_refunds.map(|order| wit::RefundsGranted {
                refunds: order.refunds,
                refunded_minor_units: order.refunded_minor_units,
            }),
        },
        evidence_present: facts.evidence_present.iter().map(|kind| evidence_to_wit(*kind)).collect(),
        attributes: facts.attributes.iter().map(|(key, value)| (key.clone(), value.clone())).collect(),
        submitted_at: facts.submitted_at.timestamp(),
    }
}

pub fn decision_from_wit(decision: wit::Decision) -> PolicyDecision {
    let outcome = match decision.outcome {
        wit::Outcome::AutoApprove => PolicyOutcome::AutoApprove,
        wit::Outcome::RequireApproval(requirement) => PolicyOutcome::RequireApproval {
            level: level_from_wit(requirement.level),
            approvals_needed: requirement.approvals_needed,
            sla_minutes: requirement.sla_minutes,
            reason: requirement.reason,
        },
        wit::Outcome::Reject(reason) => PolicyOutcome::Reject { reason },
    };
    PolicyDecision {
        outcome,
        required_evidence: decision.required_evidence.into_iter().map(evidence_from_wit).collect(),
        route: decision.route.map(|route| Route {
            queue: route.queue,
            team: route.team,
            sla_minutes: route.sla_minutes,
        }),
        signals: decision.signals,
        rule_id: decision.rule_id,
    }
}

pub fn policy_error_from_wit(error: wit::PolicyError) -> PolicyFailure {
    let (kind, message) = match error {
        wit::PolicyError::InvalidParams(message) => ("invalid-params", message),
        wit::PolicyError::Unsupported(message) => ("unsupported", message),
        wit::PolicyError::Internal(message) => ("internal", message),
    };
    PolicyFailure::PolicyError { kind: kind.to_owned(), message }
}

fn kind_to_wit(kind: CaseKind) -> wit::CaseKind {
    match kind {
        CaseKind::Refund => wit::CaseKind::Refund,
        CaseKind::Credit => wit::CaseKind::Credit,
        CaseKind::FeeWaiver => wit::CaseKind::FeeWaiver,
        CaseKind::WriteOff => wit::CaseKind::WriteOff,
        CaseKind::Override => wit::CaseKind::Override,
    }
}

fn level_from_wit(level: wit::ApproverLevel) -> ApproverLevel {
    match level {
        wit::ApproverLevel::Lead => ApproverLevel::Lead,
        wit::ApproverLevel::Manager => ApproverLevel::Manager,
        wit::ApproverLevel::Finance => ApproverLevel::Finance,
        wit::ApproverLevel::Director => ApproverLevel::Director,
    }
}

fn evidence_to_wit(kind: EvidenceKind) -> wit::EvidenceKind {
    match kind {
        EvidenceKind::Rationale => wit::EvidenceKind::Rationale,
        EvidenceKind::Attachment => wit::EvidenceKind::Attachment,
        EvidenceKind::CustomerComms => wit::EvidenceKind::CustomerComms,
        EvidenceKind::OrderRecord => wit::EvidenceKind::OrderRecord,
        EvidenceKind::PaymentRecord => wit::EvidenceKind::PaymentRecord,
    }
}

fn evidence_from_wit(kind: wit::EvidenceKind) -> EvidenceKind {
    match kind {
        wit::EvidenceKind::Rationale => EvidenceKind::Rationale,
        wit::EvidenceKind::Attachment => EvidenceKind::Attachment,
        wit::EvidenceKind::CustomerComms => EvidenceKind::CustomerComms,
        wit::EvidenceKind::OrderRecord => EvidenceKind::OrderRecord,
        wit::EvidenceKind::PaymentRecord => EvidenceKind::PaymentRecord,
    }
}
