//! What rule plugins answer, decoded into levee's decision types and combined into a case
//! decision. The bytes build a chain's answers as the WIT bindings carry them (generated from
//! wit/policy.wit with wit-bindgen, as the Spin component generates its own): decisions with
//! any outcome, counts, reasons, routes, signals and rule ids; `policy-error`s; sandbox
//! failures. They are read front to back, one byte per choice, count or length (integers
//! little-endian), so a seed can be written by hand: see fuzz/seeds/policy_output/.
//! The answers go through the hosts' own decoding (wit/convert.rs, included here as the server
//! and the Spin component include it) and `decision::combine`, then an auto-approval is held
//! for missing evidence as a submission holds it. Any answers never panic; a malformed
//! decision, an error or a failure is reported as that policy's failure and fails the case
//! closed, never accepted; the case decision reads back from JSON unchanged.
#![no_main]

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use levee_core::decision::{self, CaseDecision, FAIL_CLOSED_LEVEL, Verdict};
use levee_core::engine::{PolicyDecision, PolicyEvaluation, PolicyFailure, PolicyIdentity, PolicyOutcome};
use levee_core::evidence::EvidenceKind;
use levee_core::identity::ApproverLevel;
use libfuzzer_sys::arbitrary::{Result, Unstructured};

mod bindings {
    wit_bindgen::generate!({ path: "../wit", world: "policy" });
}

/// The hosts' decoding of plugin answers, compiled against these bindings.
#[allow(dead_code, reason = "facts_to_wit, the other direction, is not fuzzed here")]
mod convert {
    use crate::bindings::levee::policy::types as wit;

    include!("../../wit/convert.rs");
}

use bindings::levee::policy::types as wit;

/// At most this many plugins in a chain.
const MAX_CHAIN: usize = 6;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut input = Unstructured::new(data);
    let Ok((evaluations, present)) = chain(&mut input).and_then(|chain| Ok((chain, evidence_set(&mut input)?))) else {
        return;
    };
    let decision = decision::combine(&evaluations, at());
    check_combined(&evaluations, &decision);
    check_hold(decision.clone(), &present);
    let stored = serde_json::to_string(&decision).expect("a case decision serializes");
    assert_eq!(serde_json::from_str::<CaseDecision>(&stored).ok(), Some(decision.clone()));
    let _ = levee_core::ledger::sha256_of_json(&decision);
});

/// Every policy is reported, and accepted exactly when it answered a well-formed decision; any
/// other answer fails the case closed; the verdict follows from the accepted decisions.
fn check_combined(evaluations: &[PolicyEvaluation], decision: &CaseDecision) {
    assert_eq!(decision.policies.len(), evaluations.len());
    let accepted: Vec<Option<&PolicyDecision>> = evaluations.iter().map(accepted).collect();
    for (answer, run) in accepted.iter().zip(&decision.policies) {
        assert_eq!(run.verdict == "failed", answer.is_none(), "{run:?}");
        assert_eq!(run.failure.is_some(), answer.is_none(), "{run:?}");
        assert_eq!(run.rule_id.as_ref(), answer.map(|decision| &decision.rule_id));
    }
    let failed = evaluations.is_empty() || accepted.iter().any(Option::is_none);
    assert_eq!(decision.failed_closed, failed);
    let outcomes: Vec<&PolicyOutcome> = accepted.iter().flatten().map(|decision| &decision.outcome).collect();
    let rejected = outcomes.iter().any(|outcome| matches!(outcome, PolicyOutcome::Reject { .. }));
    match decision.verdict {
        Verdict::Reject => assert!(rejected),
        Verdict::RequireApproval { level, approvals_needed } => {
            assert!(!rejected && approvals_needed >= 1);
            assert!(!failed || level == FAIL_CLOSED_LEVEL, "a failure must reach the top level");
        }
        Verdict::AutoApprove => {
            assert!(!failed && outcomes.iter().all(|outcome| matches!(outcome, PolicyOutcome::AutoApprove)));
        }
    }
    if failed {
        assert!(decision.signals.contains("policy-failure"));
    }
}

/// The decision a policy answered, if levee accepts it. Whatever breaks the contract's own
/// rules (no rule id, no reason, no approvals) is never accepted.
fn accepted(evaluation: &PolicyEvaluation) -> Option<&PolicyDecision> {
    let decision = evaluation.result.as_ref().ok()?;
    let accepted = decision::validate(decision).is_ok();
    let blank = |text: &str| text.trim().is_empty();
    let broken = blank(&decision.rule_id)
        || match &decision.outcome {
            PolicyOutcome::RequireApproval { approvals_needed, reason, .. } => *approvals_needed == 0 || blank(reason),
            PolicyOutcome::Reject { reason } => blank(reason),
            PolicyOutcome::AutoApprove => false,
        };
    assert!(!(broken && accepted), "a malformed decision was accepted: {decision:?}");
    accepted.then_some(decision)
}

/// An auto-approval missing required evidence waits for a lead; nothing else changes.
fn check_hold(mut decision: CaseDecision, present: &BTreeSet<EvidenceKind>) {
    let before = decision.clone();
    let held = decision::hold_for_missing_evidence(&mut decision, present, at());
    let missing = !before.required_evidence.is_subset(present);
    assert_eq!(held, before.verdict == Verdict::AutoApprove && missing);
    if held {
        assert_eq!(decision.verdict, Verdict::RequireApproval { level: ApproverLevel::Lead, approvals_needed: 1 });
    } else {
        assert_eq!(decision, before);
    }
}

/// The chain's answers, each as the engine reports it.
fn chain(input: &mut Unstructured) -> Result<Vec<PolicyEvaluation>> {
    let len = input.int_in_range(0..=MAX_CHAIN)?;
    (0..len).map(|index| evaluation(input, index)).collect()
}

fn evaluation(input: &mut Unstructured, index: usize) -> Result<PolicyEvaluation> {
    let result = match input.int_in_range(0..=5u8)? {
        0 => Err(convert::policy_error_from_wit(policy_error(input)?)),
        1 => Err(sandbox_failure(input)?),
        _ => Ok(convert::decision_from_wit(wit_decision(input)?)),
    };
    Ok(PolicyEvaluation {
        policy: PolicyIdentity { name: format!("plugin-{index}"), version: "1".into(), digest: "0".repeat(64) },
        result,
        fuel_used: 0,
        elapsed_micros: 0,
        peak_memory_bytes: 0,
    })
}

fn wit_decision(input: &mut Unstructured) -> Result<wit::Decision> {
    Ok(wit::Decision {
        outcome: outcome(input)?,
        required_evidence: list(input, wit_evidence)?,
        route: if input.arbitrary()? { Some(route(input)?) } else { None },
        signals: list(input, text)?,
        rule_id: text(input)?,
    })
}

fn outcome(input: &mut Unstructured) -> Result<wit::Outcome> {
    Ok(match input.int_in_range(0..=2u8)? {
        0 => wit::Outcome::AutoApprove,
        1 => wit::Outcome::RequireApproval(wit::ApprovalRequirement {
            level: *input.choose(&[
                wit::ApproverLevel::Lead,
                wit::ApproverLevel::Manager,
                wit::ApproverLevel::Finance,
                wit::ApproverLevel::Director,
            ])?,
            approvals_needed: input.arbitrary()?,
            sla_minutes: input.arbitrary()?,
            reason: text(input)?,
        }),
        _ => wit::Outcome::Reject(text(input)?),
    })
}

fn route(input: &mut Unstructured) -> Result<wit::Route> {
    Ok(wit::Route { queue: text(input)?, team: text(input)?, sla_minutes: input.arbitrary()? })
}

fn wit_evidence(input: &mut Unstructured) -> Result<wit::EvidenceKind> {
    Ok(*input.choose(&[
        wit::EvidenceKind::Rationale,
        wit::EvidenceKind::Attachment,
        wit::EvidenceKind::CustomerComms,
        wit::EvidenceKind::OrderRecord,
        wit::EvidenceKind::PaymentRecord,
    ])?)
}

fn policy_error(input: &mut Unstructured) -> Result<wit::PolicyError> {
    Ok(match input.int_in_range(0..=2u8)? {
        0 => wit::PolicyError::InvalidParams(text(input)?),
        1 => wit::PolicyError::Unsupported(text(input)?),
        _ => wit::PolicyError::Internal(text(input)?),
    })
}

/// What the sandbox reports when a plugin gives no answer at all.
fn sandbox_failure(input: &mut Unstructured) -> Result<PolicyFailure> {
    Ok(match input.int_in_range(0..=4u8)? {
        0 => PolicyFailure::Trap { message: text(input)? },
        1 => PolicyFailure::FuelExhausted { limit: input.arbitrary()? },
        2 => PolicyFailure::DeadlineExceeded { limit_ms: input.arbitrary()? },
        3 => PolicyFailure::MemoryLimit { limit_bytes: input.arbitrary()? },
        _ => PolicyFailure::Unavailable { message: text(input)? },
    })
}

/// The evidence a case carries.
fn evidence_set(input: &mut Unstructured) -> Result<BTreeSet<EvidenceKind>> {
    list(input, |input| Ok(*input.choose(&EvidenceKind::ALL)?)).map(BTreeSet::from_iter)
}

/// Up to 40 items: past every limit a decision has on its lists.
fn list<T>(input: &mut Unstructured, item: fn(&mut Unstructured) -> Result<T>) -> Result<Vec<T>> {
    let len = input.int_in_range(0..=40usize)?;
    (0..len).map(|_| item(input)).collect()
}

/// Text: a length byte and that many bytes (lossy UTF-8), then a byte that one time in eight
/// repeats it (two more bytes: up to 2,100 times), to pass the limits on reasons and names.
fn text(input: &mut Unstructured) -> Result<String> {
    let len = usize::from(input.arbitrary::<u8>()?).min(input.len());
    let text = String::from_utf8_lossy(input.bytes(len)?).into_owned();
    let times = if input.ratio(1u8, 8u8)? { input.int_in_range(1..=2_100usize)? } else { 1 };
    Ok(text.repeat(times))
}

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_793_611_800, 0).expect("a valid time")
}
