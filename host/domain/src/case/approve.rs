//! Approval: one approver's approval, checked against the floor the host enforces whatever a
//! plugin said. The approval that completes the count approves the case.
//!
//! An approver may act on behalf of a colleague who delegated to them (`on_behalf_of`): the
//! approval then uses exactly the delegator's authority, and every separation-of-duties rule
//! holds for both people. Where an approval group (N of M) covers the level, the authority
//! holder must be a member, and N distinct approvals are needed.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Approval, Case, CaseStatus, Transition, TransitionError, advanced, require_pending, require_rationale};
use crate::delegation::{Delegation, DelegationUsed};
use crate::evidence::evidence_name;
use crate::identity::{ApprovalGroup, ApproverLevel, AuthoritySnapshot, Principal, Role};
use crate::ledger::EventType;
use crate::validation::optional_whole_number;

/// `POST /v1/cases/{id}/approve`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// Why; not blank.
    #[schema(min_length = 1, pattern = r"\S")]
    pub rationale: String,
    /// The case version the approver looked at; if the case has moved on, 409.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub expected_version: Option<u64>,
    /// Approve with the authority a colleague delegated to you (their actor name).
    #[serde(default)]
    pub on_behalf_of: Option<String>,
}

/// Who approves: the person, and whose authority they use.
#[derive(Debug, Clone, Copy)]
pub struct Acting<'a> {
    pub person: &'a Principal,
    /// A delegation in force to this person, and the delegator as their token defines them now.
    pub delegation: Option<(&'a Delegation, &'a Principal)>,
}

impl<'a> Acting<'a> {
    /// Acting on one's own authority.
    pub fn own(person: &'a Principal) -> Self {
        Acting { person, delegation: None }
    }

    /// Whose authority the approval uses.
    pub fn holder(&self) -> &'a Principal {
        self.delegation.map_or(self.person, |(_, delegator)| delegator)
    }
}

pub fn approve(
    case: &Case,
    acting: &Acting<'_>,
    request: &ApproveRequest,
    at: DateTime<Utc>,
) -> Result<Transition, TransitionError> {
    let approver = acting.person;
    if !approver.has_role(Role::Approver) {
        return Err(TransitionError::Forbidden(format!("{} does not hold the approver role", approver.actor)));
    }
    require_pending(case, "approved")?;
    check_version(case, request.expected_version)?;
    let rationale = require_rationale(&request.rationale)?;
    let Permitted { level, approvals_needed, checks, authority, completes } = permit(case, acting)?;

    let mut next = advanced(case, at);
    next.approvals.push(Approval {
        approver: approver.actor.clone(),
        role: approver.primary_role(),
        authority: authority.clone(),
        rationale: rationale.clone(),
        at,
        checks: checks.clone(),
        on_behalf_of: acting.delegation.map(|(_, delegator)| delegator.actor.clone()),
        delegation: acting.delegation.map(|(delegation, _)| DelegationUsed {
            id: delegation.id.clone(),
            delegator: delegation.delegator.clone(),
            starts_at: delegation.starts_at,
            ends_at: delegation.ends_at,
        }),
    });
    let event = if completes {
        next.status = CaseStatus::Approved;
        next.decided_at = Some(at);
        EventType::CaseApproved
    } else {
        EventType::ApprovalRecorded
    };
    let payload = serde_json::json!({
        "rationale": rationale,
        "approval": next.approvals.len(),
        "approvals_needed": approvals_needed,
        "required_level": level,
        "checks": checks,
        "status": next.status,
    });
    Ok(Transition { case: next, event, authority: Some(authority), payload })
}

/// What an approval the rules allow would record.
#[derive(Debug, Clone)]
pub struct Permitted {
    /// The level the case waits at, and how many approvals it needs there.
    pub level: ApproverLevel,
    pub approvals_needed: u8,
    /// The checks the approval passed, as the ledger records them.
    pub checks: Vec<String>,
    /// The authority the approval uses (a delegator's, under a delegation).
    pub authority: AuthoritySnapshot,
    /// This approval completes the approvals the case needs.
    pub completes: bool,
}

/// Whether `acting` may give `case` its next approval: the one place the approval rules live,
/// asked by `approve` and by the queue (its "can approve"). The case waits for approval; the
/// approver, and the colleague whose authority they use, are neither its requester nor counted
/// among its approvals already; that authority's holder is a member of the approval group of
/// the level the case waits at, if it has one, and of a group still owed its N, if any is
/// (escalation keeps every group a case had), and their level and limit cover the case; and the
/// required evidence is present, for every approval, not only the one that completes the count.
pub fn permit(case: &Case, acting: &Acting<'_>) -> Result<Permitted, TransitionError> {
    let (level, approvals_needed) = require_pending(case, "approved")?;
    let holder = acting.holder();
    let mut checks = separation_of_duties(case, acting.person)?;
    if let Some((delegation, delegator)) = acting.delegation {
        checks.extend(separation_of_duties(case, delegator)?);
        checks.push(format!(
            "on behalf of {} under delegation {} ({} to {})",
            delegator.actor, delegation.id, delegation.starts_at, delegation.ends_at
        ));
    }
    // Outside the group of the level the case waits at, or outside every group still owed its
    // N, an approver is refused.
    let unmet = case.unmet_groups();
    let seats: Vec<&ApprovalGroup> = unmet.iter().copied().filter(|group| group.has_member(&holder.actor)).collect();
    let outside_current = case.current_group().filter(|group| !group.has_member(&holder.actor));
    let outside_unmet = unmet.first().copied().filter(|_| seats.is_empty());
    if let Some(group) = outside_current.or(outside_unmet) {
        return Err(TransitionError::Refused {
            rule: "approval_group",
            message: format!(
                "case {} needs {} approvals from group {} ({}); {} is not a member",
                case.id,
                group.approvals,
                group.name,
                group.members.join(", "),
                holder.actor
            ),
        });
    }
    for group in &seats {
        checks.push(format!("{} is a member of approval group {}", holder.actor, group.name));
    }
    let mut authority = authority_covers(case, holder, level)?;
    if let Some((delegation, delegator)) = acting.delegation {
        authority.source = format!("delegation {} from {} ({})", delegation.id, delegator.actor, authority.source);
    }
    checks.push(format!(
        "level {} at or above required {}; limit {} {} covers {}",
        authority.level.as_str(),
        level.as_str(),
        authority.limit_minor_units.unwrap_or_default(),
        authority.currency,
        case.amount
    ));
    // Each group's members must reach its N on their own (approvals given by others count only
    // towards the total), and every group the case ever waited for still counts.
    let groups_met = unmet.iter().all(|group| {
        group.has_member(&holder.actor) && case.group_approvals(group) + 1 >= usize::from(group.approvals)
    });
    let completes = groups_met && case.approvals.len() + 1 >= usize::from(approvals_needed);
    // Every approval counts toward the level that requires the evidence, so each one needs it
    // present, not only the last: otherwise a first approval would stand on evidence that
    // never came.
    require_evidence(case)?;
    checks.push("required evidence present".to_owned());
    Ok(Permitted { level, approvals_needed, checks, authority, completes })
}

/// A stale view of the case loses.
pub(super) fn check_version(case: &Case, expected: Option<u64>) -> Result<(), TransitionError> {
    match expected {
        Some(version) if version != case.version => Err(TransitionError::WrongState(format!(
            "case {} is at version {}, not {version}: re-read it and act again",
            case.id, case.version
        ))),
        _ => Ok(()),
    }
}

/// Approver ≠ requester, and no person counts twice (whether they approved in their own name
/// or on someone's behalf).
fn separation_of_duties(case: &Case, approver: &Principal) -> Result<Vec<String>, TransitionError> {
    if approver.actor == case.requester {
        return Err(TransitionError::Refused {
            rule: "separation_of_duties",
            message: format!("{} requested case {} and cannot approve it", approver.actor, case.id),
        });
    }
    let counted = |approval: &Approval| {
        approval.approver == approver.actor || approval.on_behalf_of.as_deref() == Some(approver.actor.as_str())
    };
    if case.approvals.iter().any(counted) {
        return Err(TransitionError::Refused {
            rule: "distinct_approvers",
            message: format!(
                "{} has already approved case {}; the remaining approvals must come from other people",
                approver.actor, case.id
            ),
        });
    }
    Ok(vec![
        format!("approver {} is not the requester {}", approver.actor, case.requester),
        "approver distinct from earlier approvers".to_owned(),
    ])
}

/// The approver's level and limit must cover the case; returns the authority as recorded.
pub(super) fn authority_covers(
    case: &Case,
    approver: &Principal,
    required: ApproverLevel,
) -> Result<AuthoritySnapshot, TransitionError> {
    let authority = approver.authority_over(&case.amount).ok_or_else(|| TransitionError::Refused {
        rule: "authority",
        message: format!("{} holds no approval authority", approver.actor),
    })?;
    if authority.level < required {
        return Err(TransitionError::Refused {
            rule: "approver_level",
            message: format!(
                "case {} needs {} approval; {} approves at {} level",
                case.id,
                required.as_str(),
                approver.actor,
                authority.level.as_str()
            ),
        });
    }
    match authority.limit_minor_units {
        Some(limit) if limit >= case.amount.minor_units => Ok(authority),
        Some(limit) => Err(TransitionError::Refused {
            rule: "authority_limit",
            message: format!(
                "{}'s authority limit of {} {} minor units does not cover {}",
                approver.actor, limit, authority.currency, case.amount
            ),
        }),
        None => Err(TransitionError::Refused {
            rule: "authority_limit",
            message: format!("{} holds no authority in {}", approver.actor, case.amount.currency),
        }),
    }
}

fn require_evidence(case: &Case) -> Result<(), TransitionError> {
    let missing = case.missing_evidence();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing.iter().map(evidence_name).collect();
    Err(TransitionError::Refused {
        rule: "evidence_required",
        message: format!(
            "case {} cannot be approved until the required evidence is attached: {}",
            case.id,
            names.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{at, pending_case, principal};

    fn request() -> ApproveRequest {
        ApproveRequest { rationale: "checked".into(), expected_version: None, on_behalf_of: None }
    }

    fn refused_rule(result: Result<Transition, TransitionError>) -> &'static str {
        match result {
            Err(TransitionError::Refused { rule, .. }) => rule,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn approves_within_level_and_limit_recording_the_authority() {
        let lead = principal("lee", Role::Approver, Some(ApproverLevel::Lead), 100_000);
        let transition = approve(&pending_case("LV-1"), &Acting::own(&lead), &request(), at()).unwrap();
        assert_eq!(transition.case.status, CaseStatus::Approved);
        assert_eq!(transition.event, EventType::CaseApproved);
        assert_eq!(transition.authority.map(|authority| authority.limit_minor_units), Some(Some(100_000)));
    }

    #[test]
    fn refuses_the_requester_a_low_level_and_a_low_limit() {
        let case = pending_case("LV-1");
        let requester = principal("avery", Role::Approver, Some(ApproverLevel::Director), 10_000_000);
        assert_eq!(refused_rule(approve(&case, &Acting::own(&requester), &request(), at())), "separation_of_duties");
        let junior = principal("jo", Role::Approver, Some(ApproverLevel::Lead), 100);
        assert_eq!(refused_rule(approve(&case, &Acting::own(&junior), &request(), at())), "authority_limit");
        let no_authority = principal("ned", Role::Approver, None, 0);
        assert_eq!(refused_rule(approve(&case, &Acting::own(&no_authority), &request(), at())), "authority");
    }

    #[test]
    fn agents_cannot_approve_and_decided_cases_cannot_be_approved() {
        let agent = principal("amy", Role::Agent, None, 0);
        assert!(matches!(
            approve(&pending_case("LV-1"), &Acting::own(&agent), &request(), at()),
            Err(TransitionError::Forbidden(_))
        ));
        let lead = principal("lee", Role::Approver, Some(ApproverLevel::Lead), 100_000);
        let approved = approve(&pending_case("LV-1"), &Acting::own(&lead), &request(), at()).unwrap().case;
        let manager = principal("max", Role::Approver, Some(ApproverLevel::Manager), 500_000);
        assert!(matches!(
            approve(&approved, &Acting::own(&manager), &request(), at()),
            Err(TransitionError::WrongState(_))
        ));
    }

    #[test]
    fn a_group_needs_its_own_members_approvals_whatever_came_before() {
        use crate::identity::ApprovalGroup;
        let mut case = pending_case("LV-1");
        case.approver_group = Some(ApprovalGroup {
            name: "committee".into(),
            level: ApproverLevel::Lead,
            members: vec!["gil".into(), "gus".into()],
            approvals: 2,
        });
        let outsider = principal("olive", Role::Approver, Some(ApproverLevel::Lead), 100_000);
        assert_eq!(refused_rule(approve(&case, &Acting::own(&outsider), &request(), at())), "approval_group");
        // An approval from outside the group given earlier (say, before an escalation).
        let mut earlier = approve(&pending_case("LV-1"), &Acting::own(&outsider), &request(), at()).unwrap().case;
        earlier.status = CaseStatus::PendingApproval;
        earlier.approver_group = case.approver_group.clone();
        let gil = principal("gil", Role::Approver, Some(ApproverLevel::Lead), 100_000);
        let after_gil = approve(&earlier, &Acting::own(&gil), &request(), at()).unwrap().case;
        assert_eq!(after_gil.status, CaseStatus::PendingApproval, "one member of two is not enough");
        let gus = principal("gus", Role::Approver, Some(ApproverLevel::Lead), 100_000);
        assert_eq!(
            approve(&after_gil, &Acting::own(&gus), &request(), at()).unwrap().case.status,
            CaseStatus::Approved
        );
    }
}
