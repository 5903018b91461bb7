//! Delegations as a service: granting, revoking and finding the delegations in force. Each
//! delegation is a ledger subject of its own (`DelegationRecord`, `DG-<n>`), found through the
//! lists of the people it names and the pages of every delegation (`projections::Listed`).
//! Older ledgers hold their delegations in one book (`DelegationBook`): still read, and written
//! only to revoke one of its delegations.

use chrono::{DateTime, Utc};

use crate::delegation::{
    DELEGATIONS_SUBJECT, DelegateRequest, Delegation, DelegationBook, DelegationRecord, Revocation, RevokeRequest,
};
use crate::identity::{Principal, Role};
use crate::ledger::EventType;
use crate::projections::{self, Listed};
use crate::service::{Levee, ServiceError};
use crate::subject::Change;
use crate::validation::{FieldError, required_text};

/// Delegations of authority: `levee.delegations()`.
pub struct Delegations<'a> {
    pub(super) levee: &'a Levee,
}

impl Delegations<'_> {
    /// Every delegation (an admin or auditor), or those naming `actor` as delegator or delegate,
    /// in the order granted.
    pub fn list(&self, actor: Option<&str>) -> Result<Vec<Delegation>, ServiceError> {
        let tip = self.levee.ledger_store().settle()?;
        let ids = match actor {
            Some(actor) => projections::delegations_naming(&*self.levee.store, actor)?,
            None => projections::listed_ids(&*self.levee.store, Listed::Delegations, tip.seq)?,
        };
        let mut delegations: Vec<Delegation> = self
            .book()?
            .delegations
            .into_iter()
            .filter(|delegation| actor.is_none_or(|actor| delegation.names(actor)))
            .collect();
        delegations.extend(self.records(&ids)?);
        Ok(delegations)
    }

    /// The delegation in force at `at` from `delegator` to `delegate`, if any.
    pub fn in_force(
        &self,
        delegator: &str,
        delegate: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Delegation>, ServiceError> {
        let naming = |candidate: &Delegation| candidate.delegator == delegator;
        Ok(self.delegators_of(delegate, at)?.into_iter().find(naming))
    }

    /// The delegations in force at `at` that hand authority to `delegate`.
    pub fn delegators_of(&self, delegate: &str, at: DateTime<Utc>) -> Result<Vec<Delegation>, ServiceError> {
        let mut held: Vec<Delegation> = self.book()?.held_by(delegate, at).cloned().collect();
        let naming = projections::delegations_naming(&*self.levee.store, delegate)?;
        let records = self.records(&naming)?;
        held.extend(
            records.into_iter().filter(|delegation| delegation.delegate == delegate && delegation.in_force(at)),
        );
        Ok(held)
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
        // Numbered after the older book's delegations, which keep theirs.
        let number = self.book()?.delegations.len() as i64 + self.levee.store.increment(DELEGATION_COUNTER, 1)?;
        let id = format!("DG-{number}");
        let draft = Delegation {
            id: id.clone(),
            delegator: delegator.actor.clone(),
            delegate: delegate.clone(),
            starts_at: request.starts_at,
            ends_at: request.ends_at,
            reason: reason.clone(),
            granted_at: self.levee.clock.now(),
            revoked: None,
        };
        let ungranted =
            || DelegationRecord { id: id.clone(), version: 0, ledger_seqs: Vec::new(), delegation: draft.clone() };
        self.levee.commit_subject(delegator, &id, ungranted, None, |record, at| {
            if record.version > 0 {
                return Err(ServiceError::Conflict(format!("delegation {id} was already granted: grant again")));
            }
            let delegation = Delegation { granted_at: at, ..record.delegation.clone() };
            let next = DelegationRecord { version: 1, delegation: delegation.clone(), ..record.clone() };
            let payload = serde_json::json!({"delegation": delegation, "authority": delegator.authority});
            Ok((delegation, Some(Change::of(next, EventType::DelegationGranted, payload))))
        })
    }

    /// Revokes a delegation (its delegator, or an admin).
    pub fn revoke(&self, actor: &Principal, id: &str, request: &RevokeRequest) -> Result<Delegation, ServiceError> {
        let reason = required_text("reason", &request.reason, 2_000)?;
        if self.book()?.delegations.iter().any(|delegation| delegation.id == id) {
            return self.revoke_from_book(actor, id, &reason);
        }
        if !crate::delegation::is_delegation_id(id) {
            return Err(ServiceError::NotFound(format!("delegation {id}")));
        }
        // Found first: a record that has no entry yet is not a delegation to revoke.
        let Some(granted) = self.levee.load_subject::<DelegationRecord>(id)? else {
            return Err(ServiceError::NotFound(format!("delegation {id}")));
        };
        self.levee.commit_subject(
            actor,
            id,
            || granted.clone(),
            None,
            |record, at| {
                let mut next = record.clone();
                let revoked = revoked(&mut next.delegation, actor, at, &reason)?;
                next.version += 1;
                let payload = serde_json::json!({"delegation": revoked});
                Ok((revoked, Some(Change::of(next, EventType::DelegationRevoked, payload))))
            },
        )
    }

    /// Revokes a delegation the older ledger's book holds, in that book.
    fn revoke_from_book(&self, actor: &Principal, id: &str, reason: &str) -> Result<Delegation, ServiceError> {
        self.levee.commit_subject(actor, DELEGATIONS_SUBJECT, DelegationBook::default, None, |book, at| {
            let mut next = book.clone();
            let Some(delegation) = next.delegations.iter_mut().find(|delegation| delegation.id == id) else {
                return Err(ServiceError::NotFound(format!("delegation {id}")));
            };
            let revoked = revoked(delegation, actor, at, reason)?;
            next.version += 1;
            let payload = serde_json::json!({"delegation": revoked});
            Ok((revoked, Some(Change::of(next, EventType::DelegationRevoked, payload))))
        })
    }

    /// The older ledger's book (empty on a ledger that never had one).
    fn book(&self) -> Result<DelegationBook, ServiceError> {
        Ok(self.levee.load_subject::<DelegationBook>(DELEGATIONS_SUBJECT)?.unwrap_or_default())
    }

    /// The delegations `ids` name, each as its last ledger entry recorded it.
    fn records(&self, ids: &[String]) -> Result<Vec<Delegation>, ServiceError> {
        let mut delegations = Vec::with_capacity(ids.len());
        for id in ids {
            delegations.extend(self.levee.load_subject::<DelegationRecord>(id)?.map(|record| record.delegation));
        }
        Ok(delegations)
    }
}

/// The counter behind the numbers of delegations granted as subjects of their own.
const DELEGATION_COUNTER: &str = "seq/delegation";

/// Revokes `delegation` as `actor` (its delegator, or an admin) at `at`: the delegation as
/// revoked.
fn revoked(
    delegation: &mut Delegation,
    actor: &Principal,
    at: DateTime<Utc>,
    reason: &str,
) -> Result<Delegation, ServiceError> {
    let id = &delegation.id;
    if delegation.delegator != actor.actor && !actor.has_role(Role::Admin) {
        return Err(ServiceError::Forbidden(format!("only {} or an admin may revoke {id}", delegation.delegator)));
    }
    if delegation.revoked.is_some() {
        return Err(ServiceError::Conflict(format!("delegation {id} is already revoked")));
    }
    delegation.revoked = Some(Revocation { by: actor.actor.clone(), at, reason: reason.to_owned() });
    Ok(delegation.clone())
}
