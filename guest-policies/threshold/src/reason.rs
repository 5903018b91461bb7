//! The human sentences that explain a threshold decision to the approver and the auditor.

use alloc::format;
use alloc::string::String;

use levee_policy_sdk::{ApproverLevel, Facts};

use crate::ladder::{Requirement, Rung};
use crate::params::Ladder;
use crate::split::OrderTotal;

/// Why the amount lands on `rung`, e.g. "refund of 400.00 USD is above the auto-approve
/// limit of 50.00 USD and within band 1 (up to 500.00 USD): lead approval".
pub fn rung_reason(rung: &Rung, facts: &Facts, ladder: &Ladder) -> String {
    format!("{} {}", case_phrase(facts), rung_clause(rung, facts, ladder))
}

/// Why a refund on an order with earlier refunds lands on the rung of the order's total, e.g.
/// "refund of 49.00 USD on an order with 1 earlier refund (49.00 USD): together 98.00 USD,
/// which is above the auto-approve limit of 50.00 USD and within band 1 (up to 500.00 USD):
/// lead approval".
pub fn order_total_reason(order: &OrderTotal, facts: &Facts, ladder: &Ladder) -> String {
    let earlier = order.earlier.refunds;
    let plural = if earlier == 1 { "" } else { "s" };
    format!(
        "{} on an order with {earlier} earlier refund{plural} ({}): together {}, which {}",
        case_phrase(facts),
        facts.amount.display_other(order.earlier.refunded_minor_units),
        facts.amount.display_other(order.total),
        rung_clause(&order.rung, facts, ladder),
    )
}

/// "refund of 400.00 USD".
fn case_phrase(facts: &Facts) -> String {
    format!("{} of {}", facts.kind.name(), facts.amount.display())
}

/// Where on the ladder: "is within the auto-approve limit of 50.00 USD", "is above the
/// auto-approve limit of 50.00 USD and within band 1 (up to 500.00 USD): lead approval", ...
fn rung_clause(rung: &Rung, facts: &Facts, ladder: &Ladder) -> String {
    let auto_limit = facts.amount.display_other(ladder.auto_approve_up_to);
    match *rung {
        Rung::AutoApprove => format!("is within the auto-approve limit of {auto_limit}"),
        Rung::Band { number, up_to, level } => format!(
            "is above the auto-approve limit of {auto_limit} and within band {number} (up to {}): {}",
            facts.amount.display_other(up_to),
            approval_phrase(Requirement { level, approvals: 1 }),
        ),
        Rung::AboveTopBand { top, requirement } => format!(
            "is above the top band (up to {}): {}",
            facts.amount.display_other(top),
            above_top_band_phrase(requirement),
        ),
    }
}

/// "lead approval" for one approver, "2 director approvals" for more.
pub fn approval_phrase(requirement: Requirement) -> String {
    let level = requirement.level.name();
    match requirement.approvals {
        1 => format!("{level} approval"),
        approvals => format!("{approvals} {level} approvals"),
    }
}

/// "dual approval above the top band (2 director approvals)" for two approvers.
fn above_top_band_phrase(requirement: Requirement) -> String {
    let approvals = approval_phrase(requirement);
    if requirement.approvals == 2 {
        format!("dual approval above the top band ({approvals})")
    } else {
        format!("{approvals} above the top band")
    }
}

/// The clause added when a kind that never auto-approves would have.
pub fn never_auto_approve_clause(facts: &Facts) -> String {
    let lead = Requirement { level: ApproverLevel::Lead, approvals: 1 };
    format!(", but {} is never auto-approved: {}", facts.kind.name(), approval_phrase(lead))
}
