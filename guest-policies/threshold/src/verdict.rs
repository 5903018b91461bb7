//! A threshold decision being built: the approval required so far, its reason and its
//! signals, as the rules apply one after the other.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use levee_policy_sdk::{ApprovalRequirement, ApproverLevel, Decision, EvidenceKind, Facts, Outcome};

use crate::escalation::{EscalationCause, one_level_up};
use crate::ladder::{Requirement, Rung};
use crate::params::{Ladder, ThresholdParams};
use crate::reason;
use crate::split::{OrderTotal, SPLIT_REFUND_SIGNAL};

/// The signal given when a kind that never auto-approves would have.
pub const NEVER_AUTO_APPROVE_SIGNAL: &str = "never-auto-approve-kind";

#[derive(Debug)]
pub struct Verdict {
    /// `None` means auto-approve.
    pub requirement: Option<Requirement>,
    pub reason: String,
    pub signals: Vec<String>,
}

impl Verdict {
    /// The verdict of the ladder alone.
    pub fn from_rung(rung: &Rung, facts: &Facts, ladder: &Ladder) -> Verdict {
        Verdict {
            requirement: rung.requirement(),
            reason: reason::rung_reason(rung, facts, ladder),
            signals: Vec::new(),
        }
    }

    /// The verdict of the ladder for a refund's order total (`split`).
    pub fn from_order_total(order: &OrderTotal, facts: &Facts, ladder: &Ladder) -> Verdict {
        Verdict {
            requirement: order.rung.requirement(),
            reason: reason::order_total_reason(order, facts, ladder),
            signals: Vec::from([SPLIT_REFUND_SIGNAL.to_string()]),
        }
    }

    /// Turns an auto-approve into lead approval, for kinds that never auto-approve.
    pub fn refuse_auto_approve(&mut self, facts: &Facts) {
        if self.requirement.is_none() {
            self.requirement = Some(Requirement { level: ApproverLevel::Lead, approvals: 1 });
            self.reason.push_str(&reason::never_auto_approve_clause(facts));
            self.signals.push(NEVER_AUTO_APPROVE_SIGNAL.to_string());
        }
    }

    /// Raises the requirement one level for `causes` (one level in total, however many).
    pub fn escalate(&mut self, causes: &[EscalationCause]) {
        if causes.is_empty() {
            return;
        }
        let before = self.requirement;
        let after = one_level_up(before);
        let why: Vec<String> = causes.iter().map(|cause| cause.describe()).collect();
        let why = why.join(" and ");
        let clause = if before == Some(after) {
            format!("; already at the highest level, no escalation above it: {why}")
        } else {
            format!("; escalated one level: {why}; {}", reason::approval_phrase(after))
        };
        self.reason.push_str(&clause);
        self.requirement = Some(after);
        self.signals.extend(causes.iter().map(|cause| cause.signal().to_string()));
    }

    /// The decision to return, with the level's SLA from params.
    pub fn into_decision(
        self,
        rule_id: String,
        required_evidence: Vec<EvidenceKind>,
        params: &ThresholdParams,
    ) -> Decision {
        let outcome = match self.requirement {
            None => Outcome::AutoApprove,
            Some(Requirement { level, approvals }) => Outcome::RequireApproval(ApprovalRequirement {
                level,
                approvals_needed: approvals,
                sla_minutes: params.sla_minutes_for(level),
                reason: self.reason,
            }),
        };
        Decision { outcome, required_evidence, route: None, signals: self.signals, rule_id }
    }
}
