//! What a ledger entry is about: a case, or the policy registry. Each ledger slot stores the
//! subject's whole state after its entry, so the state can be checked against the entry's
//! `state_hash` and the subject's projection rebuilt from the log.

use serde::{Deserialize, Serialize};

use crate::case::{self, Case};
use crate::identity::AuthoritySnapshot;
use crate::ledger::EventType;
use crate::registry::{PolicyRegistry, REGISTRY_SUBJECT};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "state", rename_all = "snake_case")]
pub enum Subject {
    /// Boxed: a case is several times the size of the registry's inline part.
    Case(Box<Case>),
    PolicyRegistry(PolicyRegistry),
}

impl Subject {
    /// The subject's id in the ledger: a case id, or `policy-registry`.
    pub fn id(&self) -> &str {
        match self {
            Subject::Case(case) => &case.id,
            Subject::PolicyRegistry(_) => REGISTRY_SUBJECT,
        }
    }

    pub fn version(&self) -> u64 {
        match self {
            Subject::Case(case) => case.version,
            Subject::PolicyRegistry(registry) => registry.version,
        }
    }

    /// The ledger entries about this subject, oldest first.
    pub fn ledger_seqs(&self) -> &[u64] {
        match self {
            Subject::Case(case) => &case.ledger_seqs,
            Subject::PolicyRegistry(registry) => &registry.ledger_seqs,
        }
    }

    pub(crate) fn record_seq(&mut self, seq: u64) {
        match self {
            Subject::Case(case) => case.ledger_seqs.push(seq),
            Subject::PolicyRegistry(registry) => registry.ledger_seqs.push(seq),
        }
    }

    /// SHA-256 of the state itself (what the subject's record holds).
    pub fn state_hash(&self) -> String {
        match self {
            Subject::Case(case) => crate::ledger::sha256_of_json(case),
            Subject::PolicyRegistry(registry) => crate::ledger::sha256_of_json(registry),
        }
    }

    /// Where the subject's projection is stored.
    pub fn record_key(&self) -> String {
        crate::projections::subject_key(self.id())
    }
}

/// A change worked out but not yet committed: the subject as it will be, and what the ledger
/// entry will say.
#[derive(Debug, Clone)]
pub struct Change {
    pub subject: Subject,
    pub event: EventType,
    pub authority: Option<AuthoritySnapshot>,
    pub payload: serde_json::Value,
}

impl From<case::Transition> for Change {
    fn from(transition: case::Transition) -> Self {
        let case::Transition { case, event, authority, payload } = transition;
        Change { subject: Subject::Case(Box::new(case)), event, authority, payload }
    }
}
