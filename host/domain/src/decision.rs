//! Combining the chain's decisions into one case decision: the most restrictive outcome wins
//! (reject > require approval at the highest level asked > auto-approve), required evidence is
//! the union, and any policy that failed or answered nonsense fails closed.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::engine::{PolicyDecision, PolicyEvaluation, PolicyFailure, PolicyIdentity, PolicyOutcome};
use crate::evidence::EvidenceKind;
use crate::identity::ApproverLevel;

/// What a policy failure turns into: approval at the top level, with a rationale.
pub const FAIL_CLOSED_LEVEL: ApproverLevel = ApproverLevel::TOP;

/// The combined verdict on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Verdict {
    AutoApprove,
    RequireApproval { level: ApproverLevel, approvals_needed: u8 },
    Reject,
}

/// How one policy took part in a decision, as the case and the ledger record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyRun {
    #[serde(flatten)]
    pub policy: PolicyIdentity,
    /// `auto_approve`, `require_approval`, `reject`, or `failed`.
    pub verdict: String,
    pub rule_id: Option<String>,
    pub failure: Option<String>,
    pub fuel_used: u64,
    pub elapsed_micros: u64,
    pub peak_memory_bytes: u64,
}

/// The decision on a case, combined from every policy in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaseDecision {
    pub verdict: Verdict,
    /// Why, one sentence per policy that asked for something.
    pub reasons: Vec<String>,
    pub required_evidence: BTreeSet<EvidenceKind>,
    pub queue: Option<String>,
    pub team: Option<String>,
    pub sla_minutes: Option<u32>,
    pub sla_due_at: Option<DateTime<Utc>>,
    pub rule_ids: Vec<String>,
    pub signals: BTreeSet<String>,
    /// True when a policy failed and the decision fell back to top-level approval.
    pub failed_closed: bool,
    pub policies: Vec<PolicyRun>,
    /// The floors (`[floors]`, outside every policy) the decision was raised to, each named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub floors: Vec<String>,
}

/// The most a policy may say, so that one answer cannot flood a ledger entry.
const MAX_TEXT: usize = 2_000;
const MAX_NAME: usize = 200;
const MAX_SIGNALS: usize = 32;

/// Checks a decision for what the WIT types cannot rule out: counts, empty reasons, sizes.
pub fn validate(decision: &PolicyDecision) -> Result<(), String> {
    if decision.rule_id.trim().is_empty() {
        return Err("rule-id is empty".into());
    }
    let mut names = decision.route.iter().flat_map(|route| [&route.queue, &route.team]).chain(&decision.signals);
    let reason_len = match &decision.outcome {
        PolicyOutcome::RequireApproval { reason, .. } | PolicyOutcome::Reject { reason } => reason.len(),
        PolicyOutcome::AutoApprove => 0,
    };
    if reason_len > MAX_TEXT || decision.rule_id.len() > MAX_NAME || names.any(|name| name.len() > MAX_NAME) {
        return Err(format!("the decision is too large (reasons up to {MAX_TEXT} bytes, names up to {MAX_NAME})"));
    }
    if decision.signals.len() > MAX_SIGNALS || decision.required_evidence.len() > EvidenceKind::ALL.len() * 4 {
        return Err(format!("the decision lists too much (at most {MAX_SIGNALS} signals)"));
    }
    match &decision.outcome {
        PolicyOutcome::RequireApproval { approvals_needed: 0, .. } => {
            Err("require-approval asks for 0 approvals".into())
        }
        PolicyOutcome::RequireApproval { reason, .. } | PolicyOutcome::Reject { reason }
            if reason.trim().is_empty() =>
        {
            Err("the outcome gives no reason".into())
        }
        _ => Ok(()),
    }
}

/// Builds the case decision from the chain's evaluations, at submission time `at`.
pub fn combine(evaluations: &[PolicyEvaluation], at: DateTime<Utc>) -> CaseDecision {
    let mut combined = Combined::default();
    if evaluations.is_empty() {
        combined.fail_closed("no policy is active");
    }
    for evaluation in evaluations {
        let run = combined.absorb(evaluation);
        combined.policies.push(run);
    }
    combined.finish(at)
}

#[derive(Default)]
struct Combined {
    rejected: bool,
    requirement: Option<(ApproverLevel, u8)>,
    reasons: Vec<String>,
    required_evidence: BTreeSet<EvidenceKind>,
    route: Option<crate::engine::Route>,
    sla_minutes: Option<u32>,
    rule_ids: Vec<String>,
    signals: BTreeSet<String>,
    failed_closed: bool,
    policies: Vec<PolicyRun>,
}

impl Combined {
    fn absorb(&mut self, evaluation: &PolicyEvaluation) -> PolicyRun {
        let checked = evaluation.result.clone().and_then(|decision| match validate(&decision) {
            Ok(()) => Ok(decision),
            Err(message) => Err(PolicyFailure::Malformed { message }),
        });
        let (verdict, rule_id, failure) = match checked {
            Ok(decision) => {
                let verdict = self.merge(&decision);
                (verdict, Some(decision.rule_id), None)
            }
            Err(failure) => {
                let message = format!("policy {} {}", evaluation.policy.name, failure);
                self.fail_closed(&message);
                ("failed".to_owned(), None, Some(failure.to_string()))
            }
        };
        PolicyRun {
            policy: evaluation.policy.clone(),
            verdict,
            rule_id,
            failure,
            fuel_used: evaluation.fuel_used,
            elapsed_micros: evaluation.elapsed_micros,
            peak_memory_bytes: evaluation.peak_memory_bytes,
        }
    }

    fn merge(&mut self, decision: &PolicyDecision) -> String {
        self.required_evidence.extend(decision.required_evidence.iter().copied());
        self.signals.extend(decision.signals.iter().cloned());
        self.rule_ids.push(decision.rule_id.clone());
        if let Some(route) = &decision.route {
            self.tighten_sla(Some(route.sla_minutes));
            self.route.get_or_insert_with(|| route.clone());
        }
        match &decision.outcome {
            PolicyOutcome::AutoApprove => "auto_approve".to_owned(),
            PolicyOutcome::RequireApproval { level, approvals_needed, sla_minutes, reason } => {
                self.require(*level, *approvals_needed);
                self.tighten_sla(*sla_minutes);
                self.reasons.push(reason.clone());
                "require_approval".to_owned()
            }
            PolicyOutcome::Reject { reason } => {
                self.rejected = true;
                self.reasons.push(reason.clone());
                "reject".to_owned()
            }
        }
    }

    fn require(&mut self, level: ApproverLevel, approvals: u8) {
        let (current_level, current_approvals) = self.requirement.unwrap_or((level, approvals));
        self.requirement = Some((current_level.max(level), current_approvals.max(approvals)));
    }

    fn tighten_sla(&mut self, minutes: Option<u32>) {
        if let Some(minutes) = minutes {
            self.sla_minutes = Some(self.sla_minutes.map_or(minutes, |current| current.min(minutes)));
        }
    }

    fn fail_closed(&mut self, why: &str) {
        self.failed_closed = true;
        self.require(FAIL_CLOSED_LEVEL, 1);
        self.required_evidence.insert(EvidenceKind::Rationale);
        self.signals.insert("policy-failure".to_owned());
        self.reasons.push(format!("{why}: failing closed to {} approval", FAIL_CLOSED_LEVEL.as_str()));
    }

    fn finish(self, at: DateTime<Utc>) -> CaseDecision {
        let verdict = match (self.rejected, self.requirement) {
            (true, _) => Verdict::Reject,
            (false, Some((level, approvals_needed))) => Verdict::RequireApproval { level, approvals_needed },
            (false, None) => Verdict::AutoApprove,
        };
        let pending = matches!(verdict, Verdict::RequireApproval { .. });
        CaseDecision {
            verdict,
            reasons: self.reasons,
            required_evidence: if matches!(verdict, Verdict::Reject) {
                BTreeSet::new()
            } else {
                self.required_evidence
            },
            queue: self.route.as_ref().map(|route| route.queue.clone()),
            team: self.route.as_ref().map(|route| route.team.clone()),
            sla_minutes: self.sla_minutes,
            sla_due_at: if pending { sla_due_at(at, self.sla_minutes) } else { None },
            rule_ids: self.rule_ids,
            signals: self.signals,
            failed_closed: self.failed_closed,
            policies: self.policies,
            floors: Vec::new(),
        }
    }
}

/// An auto-approval is a final approval, so it too needs the required evidence: without it
/// the case waits for the lowest approver level instead. Returns whether it held the case.
pub fn hold_for_missing_evidence(
    decision: &mut CaseDecision,
    present: &BTreeSet<EvidenceKind>,
    at: DateTime<Utc>,
) -> bool {
    if decision.verdict != Verdict::AutoApprove {
        return false;
    }
    let missing: Vec<String> =
        decision.required_evidence.difference(present).map(crate::evidence::evidence_name).collect();
    if missing.is_empty() {
        return false;
    }
    decision.verdict = Verdict::RequireApproval { level: ApproverLevel::Lead, approvals_needed: 1 };
    decision.reasons.push(format!(
        "would auto-approve, but required evidence is missing ({}): lead approval once it is attached",
        missing.join(", ")
    ));
    decision.signals.insert("auto-approval-held-for-evidence".to_owned());
    decision.sla_due_at = sla_due_at(at, decision.sla_minutes);
    true
}

/// When an SLA of `minutes` that starts at `at` runs out.
pub fn sla_due_at(at: DateTime<Utc>, minutes: Option<u32>) -> Option<DateTime<Utc>> {
    minutes.map(|minutes| at + Duration::minutes(i64::from(minutes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{PolicyOutcome, Route};
    use crate::fixtures::{at, evaluation, requires};

    fn no_objection(rule_id: &str, route: Option<Route>) -> PolicyDecision {
        let outcome = PolicyOutcome::AutoApprove;
        PolicyDecision { outcome, required_evidence: vec![], route, signals: vec![], rule_id: rule_id.into() }
    }

    #[test]
    fn highest_level_and_most_approvals_win_and_evidence_is_the_union() {
        let mut finance = requires(ApproverLevel::Finance, 1);
        finance.required_evidence = vec![EvidenceKind::Attachment];
        let route = Route { queue: "billing".into(), team: "billing-ops".into(), sla_minutes: 60 };
        let decision = combine(
            &[
                evaluation("a", Ok(requires(ApproverLevel::Lead, 2))),
                evaluation("b", Ok(finance)),
                evaluation("c", Ok(no_objection("route", Some(route)))),
            ],
            at(),
        );
        assert_eq!(decision.verdict, Verdict::RequireApproval { level: ApproverLevel::Finance, approvals_needed: 2 });
        assert_eq!(decision.required_evidence, BTreeSet::from([EvidenceKind::Rationale, EvidenceKind::Attachment]));
        assert_eq!((decision.sla_minutes, decision.queue.as_deref()), (Some(60), Some("billing")));
        assert_eq!(decision.sla_due_at, Some(at() + Duration::minutes(60)));
        assert!(!decision.failed_closed);
    }

    #[test]
    fn reject_beats_everything() {
        let reject = PolicyDecision {
            outcome: PolicyOutcome::Reject { reason: "blocked customer".into() },
            ..no_objection("deny", None)
        };
        let decision =
            combine(&[evaluation("a", Ok(requires(ApproverLevel::Director, 2))), evaluation("b", Ok(reject))], at());
        assert_eq!(decision.verdict, Verdict::Reject);
        assert!(decision.required_evidence.is_empty());
    }

    #[test]
    fn all_no_objection_auto_approves() {
        let decision = combine(&[evaluation("a", Ok(no_objection("ok", None)))], at());
        assert_eq!(decision.verdict, Verdict::AutoApprove);
    }

    #[test]
    fn a_failed_or_malformed_policy_fails_closed_to_the_top_level() {
        let failed = evaluation("loop", Err(PolicyFailure::FuelExhausted { limit: 5 }));
        let decision = combine(&[evaluation("a", Ok(no_objection("ok", None))), failed], at());
        assert_eq!(decision.verdict, Verdict::RequireApproval { level: FAIL_CLOSED_LEVEL, approvals_needed: 1 });
        assert!(decision.failed_closed);
        assert_eq!(decision.policies[1].failure.as_deref(), Some("ran out of fuel (limit 5)"));

        let malformed = evaluation("zero", Ok(requires(ApproverLevel::Lead, 0)));
        let decision = combine(&[malformed], at());
        assert!(decision.failed_closed);
        assert_eq!(decision.policies[0].verdict, "failed");
    }

    #[test]
    fn an_empty_chain_fails_closed() {
        assert!(combine(&[], at()).failed_closed);
    }
}
