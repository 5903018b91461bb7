//! Rejection by an approver at or above the level the case waits for.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::approve::{authority_covers, check_version};
use super::{Case, CaseStatus, Closure, Transition, TransitionError, advanced, require_pending, require_rationale};
use crate::identity::{Principal, Role};
use crate::ledger::EventType;
use crate::validation::optional_whole_number;

/// `POST /v1/cases/{id}/reject`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Why; not blank.
    #[schema(min_length = 1, pattern = r"\S")]
    pub rationale: String,
    /// The case version the approver looked at; if the case has moved on, 409.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub expected_version: Option<u64>,
}

pub fn reject(
    case: &Case,
    approver: &Principal,
    request: &RejectRequest,
    at: DateTime<Utc>,
) -> Result<Transition, TransitionError> {
    if !approver.has_role(Role::Approver) {
        return Err(TransitionError::Forbidden(format!("{} does not hold the approver role", approver.actor)));
    }
    let (level, _) = require_pending(case, "rejected")?;
    check_version(case, request.expected_version)?;
    let rationale = require_rationale(&request.rationale)?;
    if approver.actor == case.requester {
        return Err(TransitionError::Refused {
            rule: "separation_of_duties",
            message: format!("{} requested case {}: cancel it instead of rejecting it", approver.actor, case.id),
        });
    }
    let authority = authority_covers(case, approver, level)?;
    let mut next = advanced(case, at);
    next.status = CaseStatus::Rejected;
    next.decided_at = Some(at);
    next.closure = Some(Closure { by: approver.actor.clone(), rationale: rationale.clone(), at });
    let payload = serde_json::json!({"rationale": rationale, "required_level": level, "status": next.status});
    Ok(Transition { case: next, event: EventType::CaseRejected, authority: Some(authority), payload })
}
