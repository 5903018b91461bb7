//! Four eyes on the controls other than the policy chain (`crate::controls` has the rules):
//! approval groups, floors, and changes to how a code's cases are routed or approved. One admin
//! proposes; the proposal carries what it alters and, where it can change outcomes, its
//! backtest; a second admin approves it (the proposer cannot) and it is in force on every host,
//! or any admin rejects it. Each step is one ledger entry about `controls` (a code's change is
//! also the taxonomy revision it makes).

use std::sync::Arc;

use crate::controls::{
    CONTROLS_SUBJECT, ControlChange, ControlChangeRequest, ControlProposal, ControlsRecord, ProposalOutcome,
    ProposeControlRequest, code_alters, floors_alter, group_problems, groups_alter,
};
use crate::floors::Floors;
use crate::identity::{ApprovalGroup, Principal};
use crate::ledger::EventType;
use crate::proposal::{ReviewRequest, Signoff, room_for_another, second_signoff};
use crate::service::backtests::Conditions;
use crate::service::taxonomy::put;
use crate::service::{Levee, ServiceError};
use crate::subject::Change;
use crate::taxonomy::ExceptionCode;
use crate::validation::{FieldError, required_text};

/// Approval groups, floors and code routing under four eyes: `levee.controls()`.
pub struct Controls<'a> {
    pub(super) levee: &'a Levee,
}

/// The groups and floors in force, each with where it comes from.
#[derive(Debug, Clone)]
pub struct InForce {
    pub approval_groups: Vec<ApprovalGroup>,
    pub floors: Floors,
    pub record: ControlsRecord,
}

impl InForce {
    /// What `record` sets, and the configuration's for what it does not.
    fn of(record: ControlsRecord, settings: &crate::service::Settings) -> InForce {
        InForce {
            approval_groups: record.approval_groups.clone().unwrap_or_else(|| settings.approval_groups.clone()),
            floors: record.floors.clone().unwrap_or_else(|| settings.floors.clone()),
            record,
        }
    }
}

impl Controls<'_> {
    /// The groups and floors in force: a control an approved proposal set, or the
    /// configuration's. Every submission asks, so the record is decoded once per stored
    /// record and shared while it stands (`Levee::cached_subject`); it is still read every
    /// time, so a change approved on another host is in force at once.
    pub fn current(&self) -> Result<Arc<InForce>, ServiceError> {
        let settings = &self.levee.settings;
        self.levee.cached_subject(CONTROLS_SUBJECT, &self.levee.caches.controls, |record: Option<ControlsRecord>| {
            Arc::new(InForce::of(record.unwrap_or_default(), settings))
        })
    }

    /// The record, as its last ledger entry has it.
    pub fn read(&self) -> Result<InForce, ServiceError> {
        self.levee.ledger_store().settle()?;
        Ok(Arc::unwrap_or_clone(self.current()?))
    }

    /// Proposes approval groups or floors.
    pub fn propose(&self, actor: &Principal, request: &ProposeControlRequest) -> Result<ControlProposal, ServiceError> {
        let rationale = required_text("rationale", &request.rationale, 2_000)?;
        let in_force = self.read()?;
        let (change, alters, backtest) = match &request.change {
            ControlChangeRequest::ApprovalGroups { approval_groups } => {
                if let Some(problem) = self.group_problems(approval_groups).into_iter().next() {
                    return Err(FieldError::new("change.approval_groups", problem).into());
                }
                let alters = groups_alter(&in_force.approval_groups, approval_groups);
                let before = in_force.approval_groups.clone();
                (ControlChange::ApprovalGroups { approval_groups: approval_groups.clone(), before }, alters, None)
            }
            ControlChangeRequest::Floors { floors } => {
                let floors = floors.resolve(&self.levee.settings.matrix);
                if let Some(problem) = floors.problems().into_iter().next() {
                    return Err(FieldError::new("change.floors", problem).into());
                }
                let alters = floors_alter(&in_force.floors, &floors);
                let taxonomy = self.levee.taxonomy().current()?.taxonomy;
                let backtest = self.backtest(&Conditions { taxonomy: &taxonomy, floors: &floors })?;
                (ControlChange::Floors { floors, before: in_force.floors.clone() }, alters, Some(backtest))
            }
        };
        if alters.is_empty() {
            return Err(FieldError::new("change", "this is what is in force already: nothing would change").into());
        }
        self.record_proposal(actor, change, alters, backtest, rationale)
    }

    /// Proposes a code the taxonomy adds, or a change of how its cases are routed or approved
    /// (`alters`, from `code_alters`), backtested under the taxonomy with it.
    pub(super) fn propose_code(
        &self,
        actor: &Principal,
        code: ExceptionCode,
        before: Option<ExceptionCode>,
        rationale: String,
    ) -> Result<ControlProposal, ServiceError> {
        let alters = code_alters(before.as_ref(), &code);
        let mut taxonomy = Arc::unwrap_or_clone(self.levee.taxonomy().current()?.taxonomy);
        put(&mut taxonomy, &code);
        let in_force = self.current()?;
        let backtest = self.backtest(&Conditions { taxonomy: &taxonomy, floors: &in_force.floors })?;
        let change = ControlChange::TaxonomyCode { code: Box::new(code), before: before.map(Box::new) };
        self.record_proposal(actor, change, alters, Some(backtest), rationale)
    }

    /// The active chain replayed on the last 30 days' cases under `conditions`.
    fn backtest(&self, conditions: &Conditions<'_>) -> Result<crate::backtest::BacktestReport, ServiceError> {
        let policies = self.levee.policies();
        let links = policies.registry()?.active().map(|chain| chain.links.clone()).unwrap_or_default();
        policies.replay(links, crate::proposal::BACKTEST_DAYS, conditions)
    }

    fn record_proposal(
        &self,
        actor: &Principal,
        change: ControlChange,
        alters: Vec<String>,
        backtest: Option<crate::backtest::BacktestReport>,
        rationale: String,
    ) -> Result<ControlProposal, ServiceError> {
        self.commit(actor, |record, at| {
            room_for_another(record.proposals.len(), "control").map_err(ServiceError::Conflict)?;
            let mut next = record.clone();
            next.version += 1;
            next.proposals_made += 1;
            let proposal = ControlProposal {
                number: next.proposals_made,
                change: change.clone(),
                proposed: Signoff::of(actor, at, rationale.clone()),
                alters: alters.clone(),
                backtest: backtest.clone(),
            };
            next.proposals.push(proposal.clone());
            let payload = serde_json::json!({"proposal": proposal});
            Ok((proposal, Some(Change::of(next, EventType::ControlProposed, payload))))
        })
    }

    /// A second admin approves a waiting proposal: it is in force on every host from the next
    /// request. Refused when its subject changed since it was proposed.
    pub fn approve(&self, actor: &Principal, number: u64, request: &ReviewRequest) -> Result<InForce, ServiceError> {
        let rationale = required_text("rationale", &request.rationale, 2_000)?;
        let proposal = waiting(&self.read()?.record, number)?.clone();
        second_signoff(&proposal.proposed.by, &actor.actor, &format!("proposed control proposal {number}"))
            .map_err(|refusal| ServiceError::Forbidden(refusal.to_string()))?;
        if let ControlChange::TaxonomyCode { code, before } = &proposal.change {
            self.levee.taxonomy().apply_proposed_code(actor, number, code, before.as_deref(), &rationale)?;
        }
        let settings = &self.levee.settings;
        self.commit(actor, |record, at| {
            let proposal = waiting(record, number)?.clone();
            let in_force = InForce::of(record.clone(), settings);
            let mut next = record.clone();
            match &proposal.change {
                ControlChange::TaxonomyCode { .. } => {}
                ControlChange::ApprovalGroups { approval_groups, before } => {
                    unchanged_since(number, "the approval groups", &in_force.approval_groups == before)?;
                    // The tokens may have changed since it was proposed.
                    if let Some(problem) = self.group_problems(approval_groups).into_iter().next() {
                        return Err(ServiceError::Conflict(format!("control proposal {number}: {problem}")));
                    }
                    next.approval_groups = Some(approval_groups.clone());
                }
                ControlChange::Floors { floors, before } => {
                    unchanged_since(number, "the floors", &in_force.floors == before)?;
                    next.floors = Some(floors.clone());
                }
            }
            let approved = Signoff::of(actor, at, rationale.clone());
            Ok((next.clone(), Some(close(next, proposal, ProposalOutcome::Approved { approved }))))
        })?;
        self.read()
    }

    /// Rejects a waiting proposal (its proposer's rejection withdraws it): it never takes effect.
    pub fn reject(&self, actor: &Principal, number: u64, request: &ReviewRequest) -> Result<InForce, ServiceError> {
        let rationale = required_text("rationale", &request.rationale, 2_000)?;
        self.commit(actor, |record, at| {
            let proposal = waiting(record, number)?.clone();
            // Checked in this commit: an approval whose taxonomy revision lands first wins.
            if self.levee.taxonomy().revision_of_proposal(number)?.is_some() {
                return Err(ServiceError::Conflict(format!(
                    "control proposal {number} is already in force in the taxonomy: approve it again to close it"
                )));
            }
            let withdrawn = proposal.proposed.by == actor.actor;
            let rejected = Signoff::of(actor, at, rationale.clone());
            let next = record.clone();
            Ok((next.clone(), Some(close(next, proposal, ProposalOutcome::Rejected { rejected, withdrawn }))))
        })?;
        self.read()
    }

    /// Fails unless control proposal `number` is waiting (as the ledger's tip has it).
    pub(super) fn still_waiting(&self, number: u64) -> Result<(), ServiceError> {
        let record = self.levee.load_subject::<ControlsRecord>(CONTROLS_SUBJECT)?.unwrap_or_default();
        waiting(&record, number).map(|_| ())
    }

    /// What is wrong with `groups`, given the approvers this host's tokens name.
    fn group_problems(&self, groups: &[ApprovalGroup]) -> Vec<String> {
        let tokens = &self.levee.settings.tokens;
        group_problems(groups, |actor| tokens.principal_of(actor).map(|principal| principal.roles.clone()))
    }

    /// Commits one change of the controls under compare-and-swap.
    fn commit<T: Clone, F>(&self, actor: &Principal, mut decide: F) -> Result<T, ServiceError>
    where
        F: FnMut(&ControlsRecord, chrono::DateTime<chrono::Utc>) -> Result<(T, Option<Change>), ServiceError>,
    {
        self.levee
            .commit_subject(actor, CONTROLS_SUBJECT, ControlsRecord::default, None, |record, at| decide(record, at))
    }
}

/// The change that moves a proposal from waiting to decided.
fn close(mut next: ControlsRecord, proposal: ControlProposal, outcome: ProposalOutcome) -> Change {
    let number = proposal.number;
    next.version += 1;
    next.proposals.retain(|waiting| waiting.number != number);
    let (event, payload) = match &outcome {
        ProposalOutcome::Approved { approved } => {
            (EventType::ControlApproved, serde_json::json!({"proposal": number, "approved": approved}))
        }
        ProposalOutcome::Rejected { rejected, withdrawn } => (
            EventType::ControlRejected,
            serde_json::json!({"proposal": number, "rejected": rejected, "withdrawn": withdrawn}),
        ),
    };
    next.decided.push(proposal.decide(outcome));
    Change::of(next, event, payload)
}

/// Refuses a proposal whose subject has changed since it was proposed.
fn unchanged_since(number: u64, what: &str, unchanged: bool) -> Result<(), ServiceError> {
    if unchanged {
        return Ok(());
    }
    Err(ServiceError::Conflict(format!(
        "{what} changed after control proposal {number} was made: reject it and propose the change again"
    )))
}

/// A proposal that is waiting for a second admin.
fn waiting(record: &ControlsRecord, number: u64) -> Result<&ControlProposal, ServiceError> {
    if let Some(proposal) = record.proposals.iter().find(|proposal| proposal.number == number) {
        return Ok(proposal);
    }
    match record.decided.iter().find(|decided| decided.number == number) {
        Some(decided) => {
            let outcome = match &decided.outcome {
                ProposalOutcome::Approved { approved } => format!("approved by {}", approved.by),
                ProposalOutcome::Rejected { rejected, .. } => format!("rejected by {}", rejected.by),
            };
            Err(ServiceError::Conflict(format!("control proposal {number} is no longer waiting: it was {outcome}")))
        }
        None => Err(ServiceError::NotFound(format!("control proposal {number}"))),
    }
}
