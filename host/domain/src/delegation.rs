//! Delegation: an approver hands their authority to a named colleague for a dated window (out
//! of office). The delegate approves *on behalf of* the delegator, with exactly the delegator's
//! level and limits as they stand when the approval is given, never more; the approval records
//! the delegation. Each delegation is a ledger subject of its own (`DG-<n>`): its grant and its
//! revocation are entries.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validation::FieldError;

/// The ledger subject that held every delegation in one book, before each delegation was a
/// subject of its own: still read (older ledgers have it) and written only to revoke a
/// delegation it holds.
pub const DELEGATIONS_SUBJECT: &str = "delegations";

/// Whether a subject id is a delegation's (`DG-<n>`).
pub fn is_delegation_id(subject: &str) -> bool {
    subject.strip_prefix("DG-").is_some_and(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
}
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
    /// The delegations in force at `at` that hand authority to `delegate`.
    pub fn held_by(&self, delegate: &str, at: DateTime<Utc>) -> impl Iterator<Item = &Delegation> {
        self.delegations.iter().filter(move |delegation| delegation.delegate == delegate && delegation.in_force(at))
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

/// One delegation as a ledger subject, its id the delegation's: granted (version 1), then
/// perhaps revoked (version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DelegationRecord {
    pub id: String,
    pub version: u64,
    pub ledger_seqs: Vec<u64>,
    pub delegation: Delegation,
}

/// Every delegation granted up to this version, in one subject (`DELEGATIONS_SUBJECT`): how
/// older ledgers recorded them. Each slot held the whole book, so every grant cost more than
/// the last; a delegation is now a subject of its own (`DelegationRecord`).
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
