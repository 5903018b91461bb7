//! Four eyes on the policy chain (`crate::proposal` has the rules). An admin proposes a chain:
//! it is checked as an activation is (loads on this host under its limits, params match each
//! plugin's schema, dry run on recent cases) and backtested on the last 30 days, and waits.
//! A second admin approves it, which activates it on every host, or any admin rejects it (the
//! proposer's rejection is a withdrawal). A rollback one admin made alone is confirmed by a
//! second. Each step is one ledger entry about the registry, naming who and by what authority.

use crate::identity::Principal;
use crate::ledger::EventType;
use crate::proposal::{ReviewRequest, Signoff, room_for_another, second_signoff};
use crate::registry::{ChainApproval, ChainProposal, PolicyRegistry};
use crate::registry_changes::{ActivateRequest, change};
use crate::service::policies::Activation;
use crate::service::{Policies, ServiceError};
use crate::validation::{FieldError, required_text};

impl Policies<'_> {
    /// Proposes a chain of built-ins and uploaded plugins; it takes effect only when a second
    /// admin approves it (`approve_proposal`).
    pub fn propose_chain(&self, actor: &Principal, request: &ActivateRequest) -> Result<ChainProposal, ServiceError> {
        let rationale = required_text("rationale", &request.rationale, 2_000)?;
        let registry = self.registry()?;
        self.check_chain(&registry, &request.links)?;
        self.check_loads(&request.links)?;
        self.dry_run(&request.links)?;
        let backtest = self.backtest_chain(request.links.clone(), crate::proposal::BACKTEST_DAYS)?;
        let at = self.levee.clock.now();
        self.commit_registry(actor, request.expected_version, |registry| {
            self.check_chain(registry, &request.links)?;
            room_for_another(registry.proposals.len(), "chain").map_err(ServiceError::Conflict)?;
            let mut next = registry.clone();
            next.version += 1;
            next.proposals_made += 1;
            let proposal = ChainProposal {
                number: next.proposals_made,
                links: request.links.clone(),
                proposed: Signoff::of(actor, at, rationale.clone()),
                active_chain: registry.active_number(),
                backtest: backtest.clone(),
            };
            next.proposals.push(proposal.clone());
            let payload = serde_json::json!({"proposal": proposal});
            Ok((proposal, Some(change(next, EventType::PolicyChainProposed, payload))))
        })
    }

    /// A second admin approves a waiting proposal: the chain is checked again on this host
    /// and dry-run on the cases since, then activated on every host. The proposer cannot.
    pub fn approve_proposal(
        &self,
        actor: &Principal,
        number: u64,
        request: &ReviewRequest,
    ) -> Result<PolicyRegistry, ServiceError> {
        let rationale = required_text("rationale", &request.rationale, 2_000)?;
        let registry = self.registry()?;
        let proposal = waiting(&registry, number)?;
        second_signoff(&proposal.proposed.by, &actor.actor, &format!("proposed chain proposal {number}"))
            .map_err(|refusal| ServiceError::Forbidden(refusal.to_string()))?;
        let approval = ChainApproval {
            proposal: number,
            proposed: proposal.proposed.clone(),
            approved: Signoff::of(actor, self.levee.clock.now(), rationale),
        };
        let links = proposal.links.clone();
        self.activate(actor, &links, proposal.proposed.rationale.clone(), Activation::Approved(approval), None)
    }

    /// Rejects a waiting proposal (its proposer's rejection withdraws it): it never takes effect.
    pub fn reject_proposal(
        &self,
        actor: &Principal,
        number: u64,
        request: &ReviewRequest,
    ) -> Result<PolicyRegistry, ServiceError> {
        self.review(actor, request, |registry, rejected| {
            let withdrawn = waiting(registry, number)?.proposed.by == actor.actor;
            let mut next = registry.clone();
            next.proposals.retain(|waiting| waiting.number != number);
            let payload = serde_json::json!({"proposal": number, "rejected": rejected, "withdrawn": withdrawn});
            Ok((next, EventType::PolicyProposalRejected, payload))
        })
    }

    /// A second admin confirms a rollback one admin made alone; it is flagged until then.
    pub fn confirm_rollback(
        &self,
        actor: &Principal,
        number: u64,
        request: &ReviewRequest,
    ) -> Result<PolicyRegistry, ServiceError> {
        self.review(actor, request, |registry, confirmed| {
            let mut next = registry.clone();
            let chain = next
                .chains
                .iter_mut()
                .find(|chain| chain.number == number)
                .ok_or_else(|| ServiceError::NotFound(format!("chain {number}")))?;
            if chain.restores.is_none() {
                let message = format!("chain {number} is not a rollback: only a rollback waits for a confirmation");
                return Err(FieldError::new("chain", message).into());
            }
            if let Some(earlier) = &chain.confirmed {
                let message = format!("rollback {number} was confirmed by {} at {}", earlier.by, earlier.at);
                return Err(ServiceError::Conflict(message));
            }
            second_signoff(&chain.activated_by, &actor.actor, &format!("made rollback {number}"))
                .map_err(|refusal| ServiceError::Forbidden(refusal.to_string()))?;
            chain.confirmed = Some(confirmed.clone());
            let payload = serde_json::json!({"chain": number, "confirmed": confirmed});
            Ok((next, EventType::PolicyRollbackConfirmed, payload))
        })
    }

    /// One admin's reviewing step on the registry (a rejection, a confirmation): the rationale
    /// checked, their sign-off made, and `step`'s registry, event and payload committed as the
    /// registry's next version, under compare-and-swap.
    fn review<F>(&self, actor: &Principal, request: &ReviewRequest, mut step: F) -> Result<PolicyRegistry, ServiceError>
    where
        F: FnMut(&PolicyRegistry, &Signoff) -> Result<(PolicyRegistry, EventType, serde_json::Value), ServiceError>,
    {
        let rationale = required_text("rationale", &request.rationale, 2_000)?;
        let signed = Signoff::of(actor, self.levee.clock.now(), rationale);
        self.commit_registry(actor, None, |registry| {
            let (mut next, event, payload) = step(registry, &signed)?;
            next.version += 1;
            Ok((next.clone(), Some(change(next, event, payload))))
        })
    }
}

/// A proposal that is waiting for a second admin.
fn waiting(registry: &PolicyRegistry, number: u64) -> Result<&ChainProposal, ServiceError> {
    if let Some(proposal) = registry.proposals.iter().find(|proposal| proposal.number == number) {
        return Ok(proposal);
    }
    if (1..=registry.proposals_made).contains(&number) {
        let outcome =
            match registry.chains.iter().find(|chain| chain.approval.as_ref().is_some_and(|a| a.proposal == number)) {
                Some(chain) => format!("it was approved as chain {}", chain.number),
                None => "it was rejected".to_owned(),
            };
        return Err(ServiceError::Conflict(format!("chain proposal {number} is no longer waiting: {outcome}")));
    }
    Err(ServiceError::NotFound(format!("chain proposal {number}")))
}
