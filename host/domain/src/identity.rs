//! Who is acting: bearer tokens resolve to a principal with roles, a team, an approver level
//! and the authority (limits per currency) they hold, with where that authority came from.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::money::Money;

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Submits cases.
    Agent,
    /// Works the approval queue at their level, within their authority.
    Approver,
    /// Reads cases and the ledger, verifies the chain.
    Auditor,
    /// Administers levee; reads everything.
    Admin,
    /// Reviews and approves messages to customers (customer-impact communications).
    CommsReviewer,
    /// levee itself, acting on its own schedule (SLA escalation). No token may hold it.
    System,
}

/// Approver levels, lowest to highest. Mirrors `approver-level` in the WIT contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApproverLevel {
    Lead,
    Manager,
    Finance,
    Director,
}

impl ApproverLevel {
    pub const ALL: [ApproverLevel; 4] =
        [ApproverLevel::Lead, ApproverLevel::Manager, ApproverLevel::Finance, ApproverLevel::Director];
    pub const TOP: ApproverLevel = ApproverLevel::Director;

    /// The level above this one, if any.
    pub fn next(self) -> Option<ApproverLevel> {
        ApproverLevel::ALL.into_iter().find(|level| *level > self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApproverLevel::Lead => "lead",
            ApproverLevel::Manager => "manager",
            ApproverLevel::Finance => "finance",
            ApproverLevel::Director => "director",
        }
    }
}

/// The authority a principal holds: the level they approve at and how much, per currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Authority {
    pub level: ApproverLevel,
    /// Largest amount they may approve, in minor units, per ISO-4217 currency. A currency
    /// that is not listed is one they hold no authority in.
    pub limits: BTreeMap<String, i64>,
}

/// The authority an actor held at the moment they acted, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthoritySnapshot {
    pub level: ApproverLevel,
    /// The limit that applied to the case's currency, in minor units (absent: none held).
    pub limit_minor_units: Option<i64>,
    pub currency: String,
    /// Where the authority came from, e.g. `config:levee.toml#tokens[3]` or `demo`.
    pub source: String,
}

/// An authenticated actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Principal {
    pub actor: String,
    pub roles: Vec<Role>,
    pub team: String,
    pub authority: Option<Authority>,
    /// Where this identity and its authority are defined.
    pub source: String,
}

impl Principal {
    /// levee itself, as the actor of what it does on its own schedule (`job` names it).
    pub fn system(job: &str) -> Principal {
        Principal {
            actor: "levee".to_owned(),
            roles: vec![Role::System],
            team: "levee".to_owned(),
            authority: None,
            source: format!("levee:{job}"),
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The role the ledger records for an action: the most specific one held.
    pub fn primary_role(&self) -> Role {
        [Role::Approver, Role::CommsReviewer, Role::Agent, Role::Auditor, Role::Admin, Role::System]
            .into_iter()
            .find(|role| self.has_role(*role))
            .unwrap_or(Role::Agent)
    }

    /// The authority this principal holds over `amount`, as recorded in the ledger.
    pub fn authority_over(&self, amount: &Money) -> Option<AuthoritySnapshot> {
        let authority = self.authority.as_ref()?;
        Some(AuthoritySnapshot {
            level: authority.level,
            limit_minor_units: authority.limits.get(&amount.currency).copied(),
            currency: amount.currency.clone(),
            source: self.source.clone(),
        })
    }
}

/// N-of-M approval: cases waiting at `level` need `approvals` distinct approvals from the
/// group's members (each also holding authority at that level over the amount), in addition to
/// level-based routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalGroup {
    pub name: String,
    pub level: ApproverLevel,
    /// Actors (as their tokens name them).
    pub members: Vec<String>,
    /// How many of the members must approve (N of M).
    pub approvals: u8,
}

impl ApprovalGroup {
    /// Checks the group's shape, naming what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a group needs a name".to_owned());
        }
        let mut members = self.members.clone();
        members.sort();
        members.dedup();
        if members.len() != self.members.len() {
            return Err(format!("group {} lists a member twice", self.name));
        }
        if self.approvals == 0 || usize::from(self.approvals) > self.members.len() {
            return Err(format!(
                "group {} asks for {} approvals of {} members: use 1 to {}",
                self.name,
                self.approvals,
                self.members.len(),
                self.members.len()
            ));
        }
        Ok(())
    }

    pub fn has_member(&self, actor: &str) -> bool {
        self.members.iter().any(|member| member == actor)
    }
}

/// Bearer tokens and the principals they stand for. Tokens are kept only as SHA-256 digests,
/// so the table never holds a usable secret.
#[derive(Debug, Clone, Default)]
pub struct TokenDirectory {
    by_digest: HashMap<[u8; 32], Principal>,
    /// Each actor's principal (their first token's), for delegation.
    by_actor: HashMap<String, Principal>,
}

impl TokenDirectory {
    /// Adds a token; `false` (and no change) if the token is already taken.
    pub fn insert(&mut self, token: &str, principal: Principal) -> bool {
        match self.by_digest.entry(Sha256::digest(token.as_bytes()).into()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                self.by_actor.entry(principal.actor.clone()).or_insert_with(|| principal.clone());
                slot.insert(principal);
                true
            }
        }
    }

    /// The principal of a known actor.
    pub fn principal_of(&self, actor: &str) -> Option<&Principal> {
        self.by_actor.get(actor)
    }

    /// The principal of an `Authorization: Bearer …` header value, if it names a known token.
    pub fn authenticate(&self, authorization: &str) -> Option<&Principal> {
        let (scheme, token) = authorization.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim();
        if token.is_empty() {
            return None;
        }
        self.by_digest.get(&<[u8; 32]>::from(Sha256::digest(token.as_bytes())))
    }

    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}
