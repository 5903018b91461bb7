//! Delegation: an approver hands their authority to a named colleague for a dated window (out
//! of office). The delegate approves *on behalf of* the delegator, with exactly the delegator's
//! level and limits as they stand when the approval is given, never more; the approval records
//! the delegation. Delegations are a ledger subject: each grant and revocation is an entry.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::identity::{Principal, Role};
use crate::ledger::EventType;
use crate::service::{Levee, ServiceError};
use crate::subject::Change;
use crate::validation::{FieldError, required_text};

/// The delegations' id as a ledger subject.
pub const DELEGATIONS_SUBJECT: &str = "delegations";
/// The longest window a delegation may cover.
pub const MAX_WINDOW_DAYS: i64 = 90;

/// One delegation of authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Delegation {
    /// `DG-1`, `DG-2`, …
    pub id: String,
    pub delegator: String,
    pub delegate: String,
    /// In force from `starts_at` (inclusive) to `ends_at` (exclusive).
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
    pub granted_at: DateTime<Utc>,
    pub revoked: Option<Revocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Revocation {
    pub by: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

impl Delegation {
    /// Whether it is in force at `at`.
    pub fn in_force(&self, at: DateTime<Utc>) -> bool {
        self.revoked.is_none() && self.starts_at <= at && at < self.ends_at
    }
}

/// Every delegation ever granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DelegationBook {
    pub version: u64,
    pub ledger_seqs: Vec<u64>,
    pub delegations: Vec<Delegation>,
}

/// `POST /v1/delegations`: hand your authority to `delegate` from `starts_at` to `ends_at`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegateRequest {
    /// An approver known to levee, not yourself.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub delegate: String,
    pub starts_at: DateTime<Utc>,
    /// After `starts_at` and after now, at most 90 days after `starts_at`.
    pub ends_at: DateTime<Utc>,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

/// `POST /v1/delegations/{id}/revoke`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

/// The delegation an approval is given under, as the approval records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DelegationUsed {
    pub id: String,
    pub delegator: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl Levee {
    /// Every delegation (an admin or auditor), or those naming `actor` as delegator or delegate.
    pub fn delegations(&self, actor: Option<&str>) -> Result<Vec<Delegation>, ServiceError> {
        self.journal().settle()?;
        let book = self.load_subject::<DelegationBook>(DELEGATIONS_SUBJECT)?.unwrap_or_default();
        let mine = |delegation: &Delegation| {
            actor.is_none_or(|actor| delegation.delegator == actor || delegation.delegate == actor)
        };
        Ok(book.delegations.into_iter().filter(mine).collect())
    }

    /// The delegation in force at `at` from `delegator` to `delegate`, if any.
    pub fn delegation_in_force(
        &self,
        delegator: &str,
        delegate: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Delegation>, ServiceError> {
        let book = self.load_subject::<DelegationBook>(DELEGATIONS_SUBJECT)?.unwrap_or_default();
        Ok(book.delegations.into_iter().find(|delegation| {
            delegation.delegator == delegator && delegation.delegate == delegate && delegation.in_force(at)
        }))
    }

    /// The delegators whose authority `delegate` holds at `at`.
    pub fn delegators_of(&self, delegate: &str, at: DateTime<Utc>) -> Result<Vec<Delegation>, ServiceError> {
        let book = self.load_subject::<DelegationBook>(DELEGATIONS_SUBJECT)?.unwrap_or_default();
        Ok(book.delegations.into_iter().filter(|d| d.delegate == delegate && d.in_force(at)).collect())
    }

    /// Grants a delegation of the caller's own authority.
    pub fn delegate(&self, delegator: &Principal, request: &DelegateRequest) -> Result<Delegation, ServiceError> {
        if !delegator.has_role(Role::Approver) || delegator.authority.is_none() {
            return Err(ServiceError::Forbidden(format!(
                "{} holds no approval authority to delegate",
                delegator.actor
            )));
        }
        let reason = required_text("reason", &request.reason, 2_000)?;
        let delegate = required_text("delegate", &request.delegate, 200)?;
        if delegate == delegator.actor {
            return Err(FieldError::new("delegate", "you cannot delegate to yourself").into());
        }
        let known = self.settings.tokens.principal_of(&delegate);
        if !known.is_some_and(|principal| principal.has_role(Role::Approver)) {
            return Err(FieldError::new("delegate", format!("{delegate} is not an approver known to levee")).into());
        }
        let now = self.clock.now();
        if request.ends_at <= request.starts_at {
            return Err(FieldError::new("ends_at", "must be after starts_at").into());
        }
        if request.ends_at <= now {
            return Err(FieldError::new("ends_at", "is already past").into());
        }
        if request.ends_at - request.starts_at > Duration::days(MAX_WINDOW_DAYS) {
            return Err(
                FieldError::new("ends_at", format!("a delegation covers at most {MAX_WINDOW_DAYS} days")).into()
            );
        }
        self.commit_subject(delegator, DELEGATIONS_SUBJECT, DelegationBook::default, None, |book, at| {
            let delegation = Delegation {
                id: format!("DG-{}", book.delegations.len() + 1),
                delegator: delegator.actor.clone(),
                delegate: delegate.clone(),
                starts_at: request.starts_at,
                ends_at: request.ends_at,
                reason: reason.clone(),
                granted_at: at,
                revoked: None,
            };
            let mut next = book.clone();
            next.version += 1;
            next.delegations.push(delegation.clone());
            let payload = serde_json::json!({"delegation": delegation, "authority": delegator.authority});
            Ok((delegation, Some(Change::of(next, EventType::DelegationGranted, payload))))
        })
    }

    /// Revokes a delegation (its delegator, or an admin).
    pub fn revoke_delegation(
        &self,
        actor: &Principal,
        id: &str,
        request: &RevokeRequest,
    ) -> Result<Delegation, ServiceError> {
        let reason = required_text("reason", &request.reason, 2_000)?;
        self.commit_subject(actor, DELEGATIONS_SUBJECT, DelegationBook::default, None, |book, at| {
            let mut next = book.clone();
            let Some(delegation) = next.delegations.iter_mut().find(|delegation| delegation.id == id) else {
                return Err(ServiceError::NotFound(format!("delegation {id}")));
            };
            if delegation.delegator != actor.actor && !actor.has_role(Role::Admin) {
                return Err(ServiceError::Forbidden(format!(
                    "only {} or an admin may revoke {id}",
                    delegation.delegator
                )));
            }
            if delegation.revoked.is_some() {
                return Err(ServiceError::Conflict(format!("delegation {id} is already revoked")));
            }
            delegation.revoked = Some(Revocation { by: actor.actor.clone(), at, reason: reason.clone() });
            let revoked = delegation.clone();
            next.version += 1;
            let payload = serde_json::json!({"delegation": revoked});
            Ok((revoked, Some(Change::of(next, EventType::DelegationRevoked, payload))))
        })
    }
}
