//! Four eyes on the controls. A change to what decides cases (activating a policy chain) is a
//! proposal by one admin, carrying its backtest as evidence, and takes effect only when a
//! second admin approves it; the proposer cannot. An emergency rollback to an earlier chain
//! may be done by one admin, and stays flagged until a second admin confirms it. These are
//! the rules every such step follows; the subject a change is about keeps its proposals.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most proposals a subject holds waiting at once: approve or reject one to make another.
pub const MAX_PENDING: usize = 16;

/// How many days of cases a proposal's backtest replays.
pub const BACKTEST_DAYS: u32 = 30;

/// One admin's step on a control change: who, when, why, and the authority they acted under
/// (where their identity and role are defined).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Signoff {
    pub by: String,
    pub at: DateTime<Utc>,
    pub rationale: String,
    pub authority: String,
}

impl Signoff {
    /// `actor`'s step at `at`, with the authority they acted under.
    pub fn of(actor: &crate::identity::Principal, at: DateTime<Utc>, rationale: String) -> Signoff {
        Signoff { by: actor.actor.clone(), at, rationale, authority: actor.source.clone() }
    }
}

/// `POST …/approve`, `…/reject`, `…/confirm`: why.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub rationale: String,
}

/// Why a second admin's sign-off is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondSignoffRefusal {
    /// The admin who made the first step cannot also make the second.
    SameAdmin(String),
}

impl std::fmt::Display for SecondSignoffRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecondSignoffRefusal::SameAdmin(message) => f.write_str(message),
        }
    }
}

/// Refuses another proposal of `kind` while `waiting` already wait (at most `MAX_PENDING`).
pub fn room_for_another(waiting: usize, kind: &str) -> Result<(), String> {
    if waiting >= MAX_PENDING {
        return Err(format!(
            "{MAX_PENDING} {kind} proposals are waiting for a second admin: approve or reject one first"
        ));
    }
    Ok(())
}

/// A second admin's sign-off on a step `first_by` made (`what` they did, e.g. "proposed chain
/// proposal 3"): refused when `by` is that same admin.
pub fn second_signoff(first_by: &str, by: &str, what: &str) -> Result<(), SecondSignoffRefusal> {
    if first_by == by {
        return Err(SecondSignoffRefusal::SameAdmin(format!(
            "{by} {what}, so cannot also approve it: four eyes on the controls need a second admin"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_who_made_the_first_step_cannot_make_the_second() {
        let refusal = second_signoff("ade.admin", "ade.admin", "proposed chain proposal 1").unwrap_err();
        assert!(refusal.to_string().contains("a second admin"), "{refusal}");
        assert_eq!(second_signoff("ade.admin", "alex.admin", "proposed chain proposal 1"), Ok(()));
    }
}
