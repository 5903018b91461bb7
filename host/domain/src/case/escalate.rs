//! SLA escalation: a case still waiting for approval after its SLA ran out moves up one approver
//! level, and its SLA starts again at the new level. It is never approved (nor rejected) by
//! the clock. At the top level there is no higher level: the escalation is recorded again, once
//! per SLA period, so the top level is reminded.
//!
//! Escalation only adds: approvals given before it still count, the approvals still needed must
//! come from the new level, and the case keeps every requirement it had (the approvals it
//! needed, each approval group and its N, its evidence); the new level's group, if any, joins them.

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

    fn group(name: &str, level: ApproverLevel, members: &[&str], approvals: u8) -> ApprovalGroup {
        let members = members.iter().map(|member| (*member).to_owned()).collect();
        ApprovalGroup { name: name.to_owned(), level, members, approvals }
    }

    fn approver(actor: &str, level: ApproverLevel) -> crate::identity::Principal {
        fixtures::principal(actor, crate::identity::Role::Approver, Some(level), 10_000_000)
    }

    fn approved_by(case: &Case, actor: &str, level: ApproverLevel) -> Result<Case, TransitionError> {
        let request =
            crate::case::ApproveRequest { rationale: "checked".into(), expected_version: None, on_behalf_of: None };
        let person = approver(actor, level);
        crate::case::approve(case, &crate::case::Acting::own(&person), &request, fixtures::at()).map(|done| done.case)
    }

    fn past_due(case: &Case) -> DateTime<Utc> {
        case.sla_due_at().unwrap() + Duration::seconds(1)
    }

    #[test]
    fn escalation_keeps_a_group_the_new_level_does_not_have() {
        let mut case = fixtures::pending_case("LV-1");
        case.approver_group = Some(group("leads", ApproverLevel::Lead, &["lee", "lou", "dana"], 2));
        let case = escalate(&case, past_due(&case), &[], &matrix()).unwrap().case;
        assert_eq!(case.pending_requirement(), Some((ApproverLevel::Manager, 2)), "the group's N is kept");
        let refused = approved_by(&case, "max", ApproverLevel::Director);
        assert!(matches!(refused, Err(TransitionError::Refused { rule: "approval_group", .. })), "{refused:?}");
        let once = approved_by(&case, "dana", ApproverLevel::Director).unwrap();
        assert!(once.is_pending(), "one member alone does not approve it");
        let refused = approved_by(&once, "max", ApproverLevel::Director);
        assert!(matches!(refused, Err(TransitionError::Refused { rule: "approval_group", .. })), "{refused:?}");
        // A member still needs the level the case waits at now.
        let refused = approved_by(&once, "lee", ApproverLevel::Lead);
        assert!(matches!(refused, Err(TransitionError::Refused { rule: "approver_level", .. })), "{refused:?}");
        assert!(!approved_by(&once, "lou", ApproverLevel::Manager).unwrap().is_pending());
    }

    #[test]
    fn escalation_adds_the_new_levels_group_to_the_one_the_case_had() {
        let mut case = fixtures::pending_case("LV-1");
        case.approver_group = Some(group("leads", ApproverLevel::Lead, &["lee", "mia"], 1));
        let managers = group("managers", ApproverLevel::Manager, &["max", "mia"], 1);
        let case = escalate(&case, past_due(&case), &[managers], &matrix()).unwrap().case;
        let names: Vec<&str> = case.approval_groups().iter().map(|group| group.name.as_str()).collect();
        assert_eq!(names, ["leads", "managers"]);
        // mia sits on both groups: one approval meets both. max meets only the managers'.
        let after_max = approved_by(&case, "max", ApproverLevel::Manager).unwrap();
        assert!(after_max.is_pending(), "the leads' group still waits");
        assert!(!approved_by(&case, "mia", ApproverLevel::Manager).unwrap().is_pending());
    }

    #[test]
    fn escalation_keeps_the_approvals_the_decision_needed() {
        let decision = crate::decision::combine(
            &[fixtures::evaluation("threshold", Ok(fixtures::requires(ApproverLevel::Manager, 2)))],
            fixtures::at(),
        );
        let case = fixtures::submitted("LV-1", 100_000, decision).case;
        let case = escalate(&case, past_due(&case), &[], &matrix()).unwrap().case;
        assert_eq!(case.pending_requirement(), Some((ApproverLevel::Finance, 2)));
        let once = approved_by(&case, "fay", ApproverLevel::Finance).unwrap();
        assert!(once.is_pending(), "dual approval survives the escalation");
        assert!(!approved_by(&once, "fin", ApproverLevel::Finance).unwrap().is_pending());
    }

    #[test]
    fn the_group_of_the_level_a_case_waits_at_still_decides_who_approves_once_its_n_is_met() {
        let decision = crate::decision::combine(
            &[fixtures::evaluation("threshold", Ok(fixtures::requires(ApproverLevel::Lead, 2)))],
            fixtures::at(),
        );
        let mut case = fixtures::submitted("LV-1", 40_000, decision).case;
        case.approver_group = Some(group("leads", ApproverLevel::Lead, &["lee", "lou"], 1));
        let once = approved_by(&case, "lee", ApproverLevel::Lead).unwrap();
        assert!(case.unmet_groups().len() == 1 && once.unmet_groups().is_empty() && once.is_pending());
        let refused = approved_by(&once, "max", ApproverLevel::Manager);
        assert!(matches!(refused, Err(TransitionError::Refused { rule: "approval_group", .. })), "{refused:?}");
        assert!(!approved_by(&once, "lou", ApproverLevel::Lead).unwrap().is_pending());
    }
}
