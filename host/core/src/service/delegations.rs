//! Delegations as a service: granting, revoking and finding the delegations in force, over
//! the delegation book (a ledger subject, `levee_domain::delegation`).

use chrono::{DateTime, Utc};

use crate::delegation::{DELEGATIONS_SUBJECT, DelegateRequest, Delegation, DelegationBook, Revocation, RevokeRequest};
use crate::identity::{Principal, Role};
use crate::ledger::EventType;
use crate::service::{Levee, ServiceError};
use crate::subject::Change;
use crate::validation::{FieldError, required_text};

/// Delegations of authority: `levee.delegations()`.
pub struct Delegations<'a> {
    pub(super) levee: &'a Levee,
}

impl Delegations<'_> {
    /// Every delegation (an admin or auditor), or those naming `actor` as delegator or delegate.
    pub fn list(&self, actor: Option<&str>) -> Result<Vec<Delegation>, ServiceError> {
        self.levee.ledger_store().settle()?;
        let book = self.book()?;
        Ok(book
            .delegations
            .into_iter()
            .filter(|delegation| actor.is_none_or(|actor| delegation.names(actor)))
            .collect())
    }

    /// The delegation in force at `at` from `delegator` to `delegate`, if any.
    pub fn in_force(
        &self,
        delegator: &str,
        delegate: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Delegation>, ServiceError> {
        Ok(self.book()?.in_force(delegator, delegate, at).cloned())
    }

    /// The delegators whose authority `delegate` holds at `at`.
    pub fn delegators_of(&self, delegate: &str, at: DateTime<Utc>) -> Result<Vec<Delegation>, ServiceError> {
        Ok(self.book()?.held_by(delegate, at).cloned().collect())
    }

    /// Grants a delegation of the caller's own authority.
    pub fn grant(&self, delegator: &Principal, request: &DelegateRequest) -> Result<Delegation, ServiceError> {
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
        let known = self.levee.settings.tokens.principal_of(&delegate);
        if !known.is_some_and(|principal| principal.has_role(Role::Approver)) {
            return Err(FieldError::new("delegate", format!("{delegate} is not an approver known to levee")).into());
        }
        request.check_window(self.levee.clock.now())?;
        self.levee.commit_subject(delegator, DELEGATIONS_SUBJECT, DelegationBook::default, None, |book, at| {
            let (delegation, next) = book.granting(Delegation {
                id: String::new(),
                delegator: delegator.actor.clone(),
                delegate: delegate.clone(),
                starts_at: request.starts_at,
                ends_at: request.ends_at,
                reason: reason.clone(),
                granted_at: at,
                revoked: None,
            });
            let payload = serde_json::json!({"delegation": delegation, "authority": delegator.authority});
            Ok((delegation, Some(Change::of(next, EventType::DelegationGranted, payload))))
        })
    }

    /// Revokes a delegation (its delegator, or an admin).
    pub fn revoke(&self, actor: &Principal, id: &str, request: &RevokeRequest) -> Result<Delegation, ServiceError> {
        let reason = required_text("reason", &request.reason, 2_000)?;
        self.levee.commit_subject(actor, DELEGATIONS_SUBJECT, DelegationBook::default, None, |book, at| {
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

    fn book(&self) -> Result<DelegationBook, ServiceError> {
        Ok(self.levee.load_subject::<DelegationBook>(DELEGATIONS_SUBJECT)?.unwrap_or_default())
    }
}
