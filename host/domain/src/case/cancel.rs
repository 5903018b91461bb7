//! Cancellation of a pending case by its requester or an admin.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::approve::check_version;
use super::{Case, CaseStatus, Closure, Transition, TransitionError, advanced, require_pending, require_rationale};
use crate::identity::{Principal, Role};
use crate::ledger::EventType;
use crate::validation::optional_whole_number;

/// `POST /v1/cases/{id}/cancel`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why; not blank.
    #[schema(min_length = 1, pattern = r"\S")]
    pub rationale: String,
    /// The case version the requester looked at; if the case has moved on, 409.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub expected_version: Option<u64>,
}

pub fn cancel(
    case: &Case,
    actor: &Principal,
    request: &CancelRequest,
    at: DateTime<Utc>,
) -> Result<Transition, TransitionError> {
    if actor.actor != case.requester && !actor.has_role(Role::Admin) {
        return Err(TransitionError::Forbidden(format!(
            "only the requester ({}) or an admin can cancel case {}",
            case.requester, case.id
        )));
    }
    require_pending(case, "cancelled")?;
    check_version(case, request.expected_version)?;
    let rationale = require_rationale(&request.rationale)?;
    let mut next = advanced(case, at);
    next.status = CaseStatus::Cancelled;
    next.decided_at = Some(at);
    next.closure = Some(Closure { by: actor.actor.clone(), rationale: rationale.clone(), at });
    let payload = serde_json::json!({"rationale": rationale, "status": next.status});
    Ok(Transition { case: next, event: EventType::CaseCancelled, authority: None, payload })
}
