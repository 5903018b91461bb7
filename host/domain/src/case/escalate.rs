//! SLA escalation: a case still waiting for approval after its SLA ran out moves up one approver
//! level, and its SLA starts again at the new level. It is never approved (nor rejected) by
//! the clock. At the top level there is no higher level: the escalation is recorded again, once
//! per SLA period, so the top level is reminded.
//!
//! Approvals given before the escalation still count; the approvals still needed must come
//! from the new level.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Case, Transition, TransitionError, advanced, require_pending};
use crate::identity::{ApprovalGroup, ApproverLevel};
use crate::ledger::EventType;
use crate::matrix::ApprovalMatrix;

/// One escalation of a case past its SLA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Escalation {
    pub at: DateTime<Utc>,
    pub from: ApproverLevel,
    pub to: ApproverLevel,
    /// The SLA due time that was missed.
    pub missed_due_at: DateTime<Utc>,
    /// When the new level's SLA runs out.
    pub next_due_at: DateTime<Utc>,
    /// The approval group (N of M) covering the new level, if any.
    #[serde(default)]
    pub approver_group: Option<ApprovalGroup>,
}

/// Escalates `case` if it is pending and its SLA ran out before `at`. `groups` are the approval
/// groups configured now, one of which may cover the new level; the new level's SLA is the
/// matrix's for that level (at the top level, the top level's again, as a reminder period).
pub fn escalate(
    case: &Case,
    at: DateTime<Utc>,
    groups: &[ApprovalGroup],
    matrix: &ApprovalMatrix,
) -> Result<Transition, TransitionError> {
    let (from, approvals_needed) = require_pending(case, "escalated")?;
    let Some(due) = case.sla_due_at() else {
        return Err(TransitionError::WrongState(format!("case {} has no SLA to escalate on", case.id)));
    };
    if at <= due {
        return Err(TransitionError::WrongState(format!("case {} is not past its SLA ({due})", case.id)));
    }
    let to = from.next().unwrap_or(from);
    let escalation = Escalation {
        at,
        from,
        to,
        missed_due_at: due,
        next_due_at: at + Duration::minutes(i64::from(matrix.sla_minutes(to))),
        approver_group: groups.iter().find(|group| group.level == to).cloned(),
    };
    let mut next = advanced(case, at);
    next.escalations.push(escalation.clone());
    let payload = serde_json::json!({
        "escalation": escalation,
        "overdue_minutes": (at - due).num_minutes(),
        "approvals_needed": approvals_needed,
        "approvals_received": case.approvals.len(),
        "at_top_level": from == to,
    });
    Ok(Transition { case: next, event: EventType::CaseEscalated, authority: None, payload })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn matrix() -> ApprovalMatrix {
        ApprovalMatrix::default_matrix()
    }

    #[test]
    fn escalates_only_once_past_the_due_time_one_level_up() {
        let case = fixtures::pending_case("LV-1");
        let due = case.sla_due_at().unwrap();
        assert!(
            matches!(escalate(&case, due, &[], &matrix()), Err(TransitionError::WrongState(_))),
            "not at the due time itself"
        );
        let escalated = escalate(&case, due + Duration::seconds(1), &[], &matrix()).unwrap().case;
        assert_eq!(escalated.pending_requirement(), Some((ApproverLevel::Manager, 1)));
        // The manager's SLA in the matrix (8 h), not the lead's the case started with.
        assert_eq!(escalated.sla_due_at(), Some(due + Duration::seconds(1) + Duration::minutes(480)));
        assert!(escalated.is_pending(), "never decided by the clock");
    }

    #[test]
    fn at_the_top_level_it_reminds_once_per_sla_period() {
        let mut case = fixtures::pending_case("LV-1");
        let mut at = case.sla_due_at().unwrap();
        for expected in
            [ApproverLevel::Manager, ApproverLevel::Finance, ApproverLevel::Director, ApproverLevel::Director]
        {
            at = case.sla_due_at().unwrap() + Duration::seconds(1);
            case = escalate(&case, at, &[], &matrix()).unwrap().case;
            assert_eq!(case.pending_requirement().map(|(level, _)| level), Some(expected));
        }
        assert!(escalate(&case, at + Duration::minutes(1), &[], &matrix()).is_err(), "the new SLA has not run out");
        assert_eq!(case.escalations.len(), 4);
    }
}
