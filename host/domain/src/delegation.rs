//! Delegation: an approver hands their authority to a named colleague for a dated window (out
//! of office). The delegate approves *on behalf of* the delegator, with exactly the delegator's
//! level and limits as they stand when the approval is given, never more; the approval records
//! the delegation. Delegations are a ledger subject: each grant and revocation is an entry.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validation::FieldError;

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

    /// Whether `actor` is its delegator or its delegate.
    pub fn names(&self, actor: &str) -> bool {
        self.delegator == actor || self.delegate == actor
    }
}

impl DelegationBook {
    /// The delegation in force at `at` from `delegator` to `delegate`, if any.
    pub fn in_force(&self, delegator: &str, delegate: &str, at: DateTime<Utc>) -> Option<&Delegation> {
        self.delegations.iter().find(|delegation| {
            delegation.delegator == delegator && delegation.delegate == delegate && delegation.in_force(at)
        })
    }

    /// The delegations in force at `at` that hand authority to `delegate`.
    pub fn held_by(&self, delegate: &str, at: DateTime<Utc>) -> impl Iterator<Item = &Delegation> {
        self.delegations.iter().filter(move |delegation| delegation.delegate == delegate && delegation.in_force(at))
    }

    /// The book with `delegation` granted: the next id, the next version.
    pub fn granting(&self, draft: Delegation) -> (Delegation, DelegationBook) {
        let delegation = Delegation { id: format!("DG-{}", self.delegations.len() + 1), ..draft };
        let mut next = self.clone();
        next.version += 1;
        next.delegations.push(delegation.clone());
        (delegation, next)
    }
}

impl DelegateRequest {
    /// Checks the window at `now`: it ends after it starts, is not already past and covers at
    /// most [`MAX_WINDOW_DAYS`].
    pub fn check_window(&self, now: DateTime<Utc>) -> Result<(), FieldError> {
        if self.ends_at <= self.starts_at {
            return Err(FieldError::new("ends_at", "must be after starts_at"));
        }
        if self.ends_at <= now {
            return Err(FieldError::new("ends_at", "is already past"));
        }
        if self.ends_at - self.starts_at > Duration::days(MAX_WINDOW_DAYS) {
            return Err(FieldError::new("ends_at", format!("a delegation covers at most {MAX_WINDOW_DAYS} days")));
        }
        Ok(())
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
