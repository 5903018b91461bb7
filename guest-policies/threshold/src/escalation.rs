//! Mandatory escalation: a repeat refund or a code flagged `escalate-always` raises the
//! approval one level (at most one level in total, whatever the number of causes).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use levee_policy_sdk::{ApproverLevel, CaseKind, CodeFlags, Facts};

use crate::ladder::Requirement;
use crate::params::ThresholdParams;

/// Why a case escalates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscalationCause {
    /// A refund for a customer who had `refunds_90d` refunds in the 90 days before.
    RepeatRefund { refunds_90d: u32 },
    /// The exception code has the `escalate-always` flag.
    EscalateAlwaysCode,
}

impl EscalationCause {
    /// The dashboard signal for this cause.
    pub fn signal(self) -> &'static str {
        match self {
            EscalationCause::RepeatRefund { .. } => "repeat-refund",
            EscalationCause::EscalateAlwaysCode => "escalate-always-code",
        }
    }

    /// "repeat refund (3 in 90 days)" or "code escalates always".
    pub fn describe(self) -> String {
        match self {
            EscalationCause::RepeatRefund { refunds_90d } => {
                format!("repeat refund ({refunds_90d} in 90 days)")
            }
            EscalationCause::EscalateAlwaysCode => "code escalates always".into(),
        }
    }
}

/// Every cause that applies to `facts`, repeat refund first.
pub fn escalation_causes(facts: &Facts, params: &ThresholdParams) -> Vec<EscalationCause> {
    let mut causes = Vec::new();
    let refunds_90d = facts.history.customer.refunds;
    if facts.kind == CaseKind::Refund && refunds_90d >= params.repeat_refunds_90d {
        causes.push(EscalationCause::RepeatRefund { refunds_90d });
    }
    if facts.code_flags.has(CodeFlags::ESCALATE_ALWAYS) {
        causes.push(EscalationCause::EscalateAlwaysCode);
    }
    causes
}

/// One level up: auto-approve becomes lead approval, lead becomes manager, and so on;
/// director stays director. The number of approvals is kept.
pub fn one_level_up(requirement: Option<Requirement>) -> Requirement {
    match requirement {
        None => Requirement { level: ApproverLevel::Lead, approvals: 1 },
        Some(Requirement { level, approvals }) => Requirement { level: level.one_level_up(), approvals },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_approve_escalates_to_lead_and_director_stays() {
        let lead = Requirement { level: ApproverLevel::Lead, approvals: 1 };
        assert_eq!(one_level_up(None), lead);
        let manager = Requirement { level: ApproverLevel::Manager, approvals: 1 };
        assert_eq!(one_level_up(Some(lead)), manager);
        let dual_director = Requirement { level: ApproverLevel::Director, approvals: 2 };
        assert_eq!(one_level_up(Some(dual_director)), dual_director);
    }
}
