//! Plugins built against the frozen contract `levee:policy@0.1.0` (`wit/frozen/v0.1.0/`),
//! forwarded to the latest host code: each case's facts are the latest facts without what
//! 0.1.0 lacks (the order's refund history), the params go with every `evaluate`, and what the
//! plugin answers becomes the latest contract's answer, so the rest of the host knows one
//! contract.

use super::levee::policy::types as latest;

wasmtime::component::bindgen!({
    path: "../../wit/frozen/v0.1.0",
    world: "policy",
});

use self::levee::policy::types as v0_1;

/// The facts as 0.1.0 has them.
pub fn facts(facts: &latest::Facts) -> v0_1::Facts {
    v0_1::Facts {
        case_id: facts.case_id.clone(),
        kind: match facts.kind {
            latest::CaseKind::Refund => v0_1::CaseKind::Refund,
            latest::CaseKind::Credit => v0_1::CaseKind::Credit,
            latest::CaseKind::FeeWaiver => v0_1::CaseKind::FeeWaiver,
            latest::CaseKind::WriteOff => v0_1::CaseKind::WriteOff,
            latest::CaseKind::Override => v0_1::CaseKind::Override,
        },
        amount: v0_1::Money {
            minor_units: facts.amount.minor_units,
            currency: facts.amount.currency.clone(),
            exponent: facts.amount.exponent,
        },
        exception_code: facts.exception_code.clone(),
        code_category: facts.code_category.clone(),
        code_flags: code_flags(facts.code_flags),
        requester_role: facts.requester_role.clone(),
        requester_team: facts.requester_team.clone(),
        channel: facts.channel.clone(),
        history: v0_1::CustomerHistory {
            refunds_90d: facts.history.customer.refunds,
            refunded_90d_minor_units: facts.history.customer.refunded_minor_units,
        },
        evidence_present: facts.evidence_present.iter().map(|kind| evidence_to_frozen(*kind)).collect(),
        attributes: facts.attributes.clone(),
        submitted_at: facts.submitted_at,
    }
}

fn code_flags(flags: latest::CodeFlags) -> v0_1::CodeFlags {
    let flag = |latest: latest::CodeFlags, frozen: v0_1::CodeFlags| {
        if flags.contains(latest) { frozen } else { v0_1::CodeFlags::empty() }
    };
    flag(latest::CodeFlags::ESCALATE_ALWAYS, v0_1::CodeFlags::ESCALATE_ALWAYS)
        | flag(latest::CodeFlags::CUSTOMER_COMMS_REQUIRED, v0_1::CodeFlags::CUSTOMER_COMMS_REQUIRED)
}

/// A 0.1.0 answer as the latest contract's.
pub fn answer(answer: Result<v0_1::Decision, v0_1::PolicyError>) -> Result<latest::Decision, latest::PolicyError> {
    answer.map(decision).map_err(|error| match error {
        v0_1::PolicyError::InvalidParams(message) => latest::PolicyError::InvalidParams(message),
        v0_1::PolicyError::Unsupported(message) => latest::PolicyError::Unsupported(message),
        v0_1::PolicyError::Internal(message) => latest::PolicyError::Internal(message),
    })
}

/// What a 0.1.0 plugin says of itself, as the latest contract's.
pub fn info(info: v0_1::PolicyInfo) -> latest::PolicyInfo {
    latest::PolicyInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        params_schema: info.params_schema,
    }
}

fn decision(decision: v0_1::Decision) -> latest::Decision {
    let outcome = match decision.outcome {
        v0_1::Outcome::AutoApprove => latest::Outcome::AutoApprove,
        v0_1::Outcome::RequireApproval(requirement) => latest::Outcome::RequireApproval(latest::ApprovalRequirement {
            level: match requirement.level {
                v0_1::ApproverLevel::Lead => latest::ApproverLevel::Lead,
                v0_1::ApproverLevel::Manager => latest::ApproverLevel::Manager,
                v0_1::ApproverLevel::Finance => latest::ApproverLevel::Finance,
                v0_1::ApproverLevel::Director => latest::ApproverLevel::Director,
            },
            approvals_needed: requirement.approvals_needed,
            sla_minutes: requirement.sla_minutes,
            reason: requirement.reason,
        }),
        v0_1::Outcome::Reject(reason) => latest::Outcome::Reject(reason),
    };
    latest::Decision {
        outcome,
        required_evidence: decision.required_evidence.into_iter().map(evidence_from_frozen).collect(),
        route: decision.route.map(|route| latest::Route {
            queue: route.queue,
            team: route.team,
            sla_minutes: route.sla_minutes,
        }),
        signals: decision.signals,
        rule_id: decision.rule_id,
    }
}

fn evidence_to_frozen(kind: latest::EvidenceKind) -> v0_1::EvidenceKind {
    match kind {
        latest::EvidenceKind::Rationale => v0_1::EvidenceKind::Rationale,
        latest::EvidenceKind::Attachment => v0_1::EvidenceKind::Attachment,
        latest::EvidenceKind::CustomerComms => v0_1::EvidenceKind::CustomerComms,
        latest::EvidenceKind::OrderRecord => v0_1::EvidenceKind::OrderRecord,
        latest::EvidenceKind::PaymentRecord => v0_1::EvidenceKind::PaymentRecord,
    }
}

fn evidence_from_frozen(kind: v0_1::EvidenceKind) -> latest::EvidenceKind {
    match kind {
        v0_1::EvidenceKind::Rationale => latest::EvidenceKind::Rationale,
        v0_1::EvidenceKind::Attachment => latest::EvidenceKind::Attachment,
        v0_1::EvidenceKind::CustomerComms => latest::EvidenceKind::CustomerComms,
        v0_1::EvidenceKind::OrderRecord => latest::EvidenceKind::OrderRecord,
        v0_1::EvidenceKind::PaymentRecord => latest::EvidenceKind::PaymentRecord,
    }
}
