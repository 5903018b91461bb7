//! What a ledger entry is about: a case, the policy registry, or the taxonomy. Each ledger
//! slot stores the subject's whole state after its entry, so the state can be checked against
//! the entry's `state_hash` and the subject's projection rebuilt from the log.
//!
//! Every kind of subject is read and changed the same way (`Levee::load_subject`,
//! `Levee::commit_subject`): its record is only an index to its last ledger entry, and a change
//! commits by claiming the next ledger slot, under compare-and-swap.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::case::{self, Case};
use crate::delegation::{DELEGATIONS_SUBJECT, DelegationBook};
use crate::identity::{AuthoritySnapshot, Principal};
use crate::intake::{INTAKE_SUBJECT, IntakeLog};
use crate::journal::Journal;
use crate::ledger::EventType;
use crate::metrics::baseline::{BASELINES_SUBJECT, BaselineBook};
use crate::projections;
use crate::reconcile::ExecutionRecord;
use crate::registry::{PolicyRegistry, REGISTRY_SUBJECT};
use crate::remediation::RemediationItem;
use crate::service::{Levee, ServiceError};
use crate::taxonomy_admin::{TAXONOMY_SUBJECT, TaxonomyRecord};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "state", rename_all = "snake_case")]
pub enum Subject {
    /// Boxed: a case is several times the size of the registry's inline part.
    Case(Box<Case>),
    PolicyRegistry(PolicyRegistry),
    Taxonomy(Box<TaxonomyRecord>),
    Delegations(Box<DelegationBook>),
    Remediation(Box<RemediationItem>),
    Intake(Box<IntakeLog>),
    Execution(Box<ExecutionRecord>),
    Baselines(Box<BaselineBook>),
}

/// One kind of subject's state, as its record and its ledger slots hold it.
pub trait SubjectState: Clone + PartialEq + Serialize + DeserializeOwned {
    fn version(&self) -> u64;
    fn ledger_seqs(&self) -> &[u64];
    fn into_subject(self) -> Subject;
    fn from_subject(subject: Subject) -> Option<Self>;
}

/// Implements `SubjectState` for a state kept in `Subject::$variant` (boxed or not): every
/// state has a `version` and its `ledger_seqs`.
macro_rules! subject_state {
    ($state:ty, $variant:ident, $wrap:expr, $unwrap:expr) => {
        impl SubjectState for $state {
            fn version(&self) -> u64 {
                self.version
            }
            fn ledger_seqs(&self) -> &[u64] {
                &self.ledger_seqs
            }
            fn into_subject(self) -> Subject {
                Subject::$variant($wrap(self))
            }
            fn from_subject(subject: Subject) -> Option<Self> {
                if let Subject::$variant(state) = subject { Some($unwrap(state)) } else { None }
            }
        }
    };
}

subject_state!(Case, Case, Box::new, |state: Box<Case>| *state);
subject_state!(PolicyRegistry, PolicyRegistry, std::convert::identity, std::convert::identity);
subject_state!(TaxonomyRecord, Taxonomy, Box::new, |state: Box<TaxonomyRecord>| *state);
subject_state!(DelegationBook, Delegations, Box::new, |state: Box<DelegationBook>| *state);
subject_state!(RemediationItem, Remediation, Box::new, |state: Box<RemediationItem>| *state);
subject_state!(IntakeLog, Intake, Box::new, |state: Box<IntakeLog>| *state);
subject_state!(ExecutionRecord, Execution, Box::new, |state: Box<ExecutionRecord>| *state);
subject_state!(BaselineBook, Baselines, Box::new, |state: Box<BaselineBook>| *state);

/// Evaluates `$body` with `$state` bound to the state inside any subject.
macro_rules! with_state {
    ($subject:expr, $state:ident => $body:expr) => {
        match $subject {
            Subject::Case($state) => $body,
            Subject::PolicyRegistry($state) => $body,
            Subject::Taxonomy($state) => $body,
            Subject::Delegations($state) => $body,
            Subject::Remediation($state) => $body,
            Subject::Intake($state) => $body,
            Subject::Execution($state) => $body,
            Subject::Baselines($state) => $body,
        }
    };
}

impl Subject {
    /// The subject's id in the ledger: a case id, `policy-registry` or `taxonomy`.
    pub fn id(&self) -> &str {
        match self {
            Subject::Case(case) => &case.id,
            Subject::PolicyRegistry(_) => REGISTRY_SUBJECT,
            Subject::Taxonomy(_) => TAXONOMY_SUBJECT,
            Subject::Delegations(_) => DELEGATIONS_SUBJECT,
            Subject::Remediation(item) => &item.id,
            Subject::Intake(_) => INTAKE_SUBJECT,
            Subject::Execution(record) => &record.id,
            Subject::Baselines(_) => BASELINES_SUBJECT,
        }
    }

    pub fn version(&self) -> u64 {
        with_state!(self, state => state.version)
    }

    /// The ledger entries about this subject, oldest first.
    pub fn ledger_seqs(&self) -> &[u64] {
        with_state!(self, state => &state.ledger_seqs)
    }

    pub(crate) fn record_seq(&mut self, seq: u64) {
        with_state!(self, state => state.ledger_seqs.push(seq))
    }

    /// SHA-256 of the state itself (what the subject's record holds).
    pub fn state_hash(&self) -> String {
        with_state!(self, state => crate::ledger::sha256_of_json(state))
    }

    /// The state as its record stores it.
    pub fn encode_state(&self) -> Result<Vec<u8>, crate::store::StoreError> {
        with_state!(self, state => projections::encode(state))
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

impl Change {
    /// A change of any subject.
    pub fn of<S: SubjectState>(next: S, event: EventType, payload: serde_json::Value) -> Change {
        Change { subject: next.into_subject(), event, authority: None, payload }
    }
}

impl Levee {
    /// A subject, as its last ledger entry recorded it (`None`: it has no entries yet). The
    /// record is only an index to that entry: a record that does not match it (edited behind
    /// the ledger's back) is refused, so nothing is ever decided from a forged record.
    pub(crate) fn load_subject<S: SubjectState>(&self, id: &str) -> Result<Option<S>, ServiceError> {
        let Some((record, _)) = projections::read::<S>(&*self.store, &projections::subject_key(id))? else {
            return Ok(None);
        };
        let slot = match record.ledger_seqs().last() {
            Some(seq) => self.journal().slot(*seq)?,
            None => None,
        };
        match slot.filter(|slot| slot.entry.subject == id).and_then(|slot| S::from_subject(slot.subject)) {
            Some(state) if state == record => Ok(Some(state)),
            _ => Err(ServiceError::Integrity(format!(
                "the stored record of {id} does not match its ledger entry: run `levee audit verify`"
            ))),
        }
    }

    /// Commits one change of subject `id` under compare-and-swap: `decide` gets the subject as
    /// it stands (or `initial()` if it has no entries yet) and returns the answer and the
    /// change to record (`None`: nothing to record). With `expected_version`, a subject that
    /// has moved on loses with 409.
    pub(crate) fn commit_subject<S, T, F>(
        &self,
        actor: &Principal,
        id: &str,
        initial: impl Fn() -> S,
        expected_version: Option<u64>,
        mut decide: F,
    ) -> Result<T, ServiceError>
    where
        S: SubjectState,
        T: Clone,
        F: FnMut(&S, DateTime<Utc>) -> Result<(T, Option<Change>), ServiceError>,
    {
        let mut seen_version = expected_version;
        self.commit(|journal: &Journal<'_>| {
            let tip = journal.settle()?;
            let subject = self.load_subject::<S>(id)?.unwrap_or_else(&initial);
            if seen_version.is_some_and(|version| version != subject.version()) {
                return Err(ServiceError::Conflict(format!(
                    "{id} is at version {}: re-read it and act again",
                    subject.version()
                )));
            }
            seen_version = Some(subject.version());
            let at = self.clock.now();
            let (answer, change) = decide(&subject, at)?;
            let Some(change) = change else { return Ok(Some(answer)) };
            Ok(journal.try_append(&tip, change, self.entry_context(actor, at)?)?.map(|_| answer.clone()))
        })
    }
}
