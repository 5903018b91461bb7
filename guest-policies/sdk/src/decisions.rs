//! Constructors for the common [`Decision`] shapes.

use alloc::string::String;
use alloc::vec::Vec;

use crate::{ApprovalRequirement, Decision, Outcome};

impl Decision {
    /// "No objection": auto-approve, no evidence, no route, no signals.
    pub fn auto_approve(rule_id: impl Into<String>) -> Decision {
        Decision::with_outcome(Outcome::AutoApprove, rule_id)
    }

    /// Require `requirement`, with no evidence, route or signals yet.
    pub fn require_approval(requirement: ApprovalRequirement, rule_id: impl Into<String>) -> Decision {
        Decision::with_outcome(Outcome::RequireApproval(requirement), rule_id)
    }

    /// Refuse the case for `reason`.
    pub fn reject(reason: impl Into<String>, rule_id: impl Into<String>) -> Decision {
        Decision::with_outcome(Outcome::Reject(reason.into()), rule_id)
    }

    fn with_outcome(outcome: Outcome, rule_id: impl Into<String>) -> Decision {
        Decision { outcome, required_evidence: Vec::new(), route: None, signals: Vec::new(), rule_id: rule_id.into() }
    }
}
