//! What a ledger entry is about: a case, the policy registry, or the taxonomy. Each ledger
//! slot stores the subject's whole state after its entry, so the state can be checked against
//! the entry's `state_hash` and the subject's projection rebuilt from the log.
//!
//! Every kind of subject is read and changed the same way (`Levee::load_subject`,
//! `Levee::commit_subject`): its record is only an index to its last ledger entry, and a change
//! commits by claiming the next ledger slot, under compare-and-swap.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::case::{self, Case};
use crate::controls::{CONTROLS_SUBJECT, ControlsRecord};
use crate::delegation::{DELEGATIONS_SUBJECT, DelegationBook, DelegationRecord};
use crate::identity::AuthoritySnapshot;
use crate::intake::{INTAKE_SUBJECT, IntakeLog, RejectedIntake};
use crate::ledger::EventType;
use crate::reconcile::ExecutionRecord;
use crate::registry::{PolicyRegistry, REGISTRY_SUBJECT};
use crate::remediation::RemediationItem;
use crate::taxonomy_changes::{TAXONOMY_SUBJECT, TaxonomyRecord};
use levee_domain::metrics::baseline::{BASELINES_SUBJECT, BaselineBook};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "state", rename_all = "snake_case")]
pub enum Subject {
    /// Boxed, as every state is: the states differ widely in inline size.
    Case(Box<Case>),
    PolicyRegistry(Box<PolicyRegistry>),
    Taxonomy(Box<TaxonomyRecord>),
    /// Every delegation in one book: older ledgers only (`DelegationBook`).
    Delegations(Box<DelegationBook>),
    Delegation(Box<DelegationRecord>),
    Remediation(Box<RemediationItem>),
    /// Every rejection in one list: older ledgers only (`IntakeLog`).
    Intake(Box<IntakeLog>),
    RejectedIntake(Box<RejectedIntake>),
    Execution(Box<ExecutionRecord>),
    Baselines(Box<BaselineBook>),
    Controls(Box<ControlsRecord>),
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
subject_state!(PolicyRegistry, PolicyRegistry, Box::new, |state: Box<PolicyRegistry>| *state);
subject_state!(TaxonomyRecord, Taxonomy, Box::new, |state: Box<TaxonomyRecord>| *state);
subject_state!(DelegationBook, Delegations, Box::new, |state: Box<DelegationBook>| *state);
subject_state!(DelegationRecord, Delegation, Box::new, |state: Box<DelegationRecord>| *state);
subject_state!(RemediationItem, Remediation, Box::new, |state: Box<RemediationItem>| *state);
subject_state!(IntakeLog, Intake, Box::new, |state: Box<IntakeLog>| *state);
subject_state!(RejectedIntake, RejectedIntake, Box::new, |state: Box<RejectedIntake>| *state);
subject_state!(ExecutionRecord, Execution, Box::new, |state: Box<ExecutionRecord>| *state);
subject_state!(BaselineBook, Baselines, Box::new, |state: Box<BaselineBook>| *state);
subject_state!(ControlsRecord, Controls, Box::new, |state: Box<ControlsRecord>| *state);

/// Evaluates `$body` with `$state` bound to the state inside any subject.
macro_rules! with_state {
    ($subject:expr, $state:ident => $body:expr) => {
        match $subject {
            Subject::Case($state) => $body,
            Subject::PolicyRegistry($state) => $body,
            Subject::Taxonomy($state) => $body,
            Subject::Delegations($state) => $body,
            Subject::Delegation($state) => $body,
            Subject::Remediation($state) => $body,
            Subject::Intake($state) => $body,
            Subject::RejectedIntake($state) => $body,
            Subject::Execution($state) => $body,
            Subject::Baselines($state) => $body,
            Subject::Controls($state) => $body,
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
            Subject::Delegation(record) => &record.id,
            Subject::Remediation(item) => &item.id,
            Subject::Intake(_) => INTAKE_SUBJECT,
            Subject::RejectedIntake(rejected) => &rejected.id,
            Subject::Execution(record) => &record.id,
            Subject::Baselines(_) => BASELINES_SUBJECT,
            Subject::Controls(_) => CONTROLS_SUBJECT,
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
        with_state!(self, state => crate::store::encode(state))
    }

    /// Where the subject's projection is stored.
    pub fn record_key(&self) -> String {
        subject_key(self.id())
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

/// Where a ledger subject's projection is stored.
pub fn subject_key(subject: &str) -> String {
    match subject {
        crate::registry::REGISTRY_SUBJECT => "policy/registry".to_owned(),
        crate::taxonomy_changes::TAXONOMY_SUBJECT
        | crate::delegation::DELEGATIONS_SUBJECT
        | crate::intake::INTAKE_SUBJECT
        | BASELINES_SUBJECT => subject.to_owned(),
        rejection if crate::intake::is_rejection_id(rejection) => rejection.to_owned(),
        delegation if crate::delegation::is_delegation_id(delegation) => format!("delegation/{delegation}"),
        item if crate::remediation::is_item_id(item) => format!("remediation/{item}"),
        execution if crate::reconcile::is_execution_id(execution) => format!("execution/{execution}"),
        case_id => case_key(case_id),
    }
}

pub fn case_key(case_id: &str) -> String {
    format!("case/{case_id}")
}
