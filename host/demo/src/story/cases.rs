//! A case's life in the story: filed, given what it lacks (evidence, a reviewed customer
//! message), decided by the approver it reached, withdrawn now and then, and, once an approved
//! refund, executed (with the planted leaks). Each step goes through levee's service.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use levee_core::case::{self, Case, CaseKind, CaseStatus};
use levee_core::clock::Clock;
use levee_core::evidence::EvidenceKind;
use levee_core::identity::Principal;
use levee_core::service::ServiceError;
use rand::RngExt;
use rand::rngs::StdRng;

use super::{Action, JOB_LAG_SECONDS, Step, Story, Tracked, money};
use crate::cast::{Cast, RUBBER_STAMPER};
use crate::leaks::{self, Execution};
use crate::plan::{CasePlan, Plant};
use crate::{approvers, profile};

impl Story<'_> {
    fn requester(&self, plan: &CasePlan) -> Principal {
        self.cast.teams[plan.team].agents[plan.agent].clone()
    }

    pub(super) fn submit(&mut self, plan: CasePlan) -> anyhow::Result<()> {
        let requester = self.requester(&plan);
        let attachment_above =
            self.levee.settings.matrix.ladders.get(plan.currency).map_or(250_000, |ladder| ladder.attachment_above);
        let request = submit_request(&mut self.rng, &plan, attachment_above);
        let case = match self.levee.cases().submit(&requester, &request, None) {
            Ok(submitted) => submitted.case,
            Err(ServiceError::Invalid(error)) => {
                tracing::debug!(%error, "a planned case was refused");
                self.tally.refused += 1;
                return Ok(());
            }
            Err(error) => return Err(error).context("submit a seeded case"),
        };
        self.tally.cases += 1;
        *self.tally.by_team.entry(case.team.clone()).or_default() += 1;
        *self.tally.by_code.entry(case.exception_code.clone()).or_default() += 1;
        let id = case.id.clone();
        if case.is_pending() {
            self.while_it_waits(&plan, &case);
        }
        let ready_at = self.now();
        self.cases.insert(id.clone(), Tracked { plan, case, generation: 0, approver: None, ready_at });
        self.advance(&id)
    }

    /// What the requester (or the payment tool) does while a new case waits: withdraw it later,
    /// or, for the planted case, refund it before anyone approved it.
    fn while_it_waits(&mut self, plan: &CasePlan, case: &Case) {
        if let Some(after) = plan.cancel_after {
            self.schedule(self.now() + after, Action::Cancel(case.id.clone()));
        }
        if let Some(Plant::ExecutedBeforeApproval { .. }) = plan.plant {
            let at = self.now() + Duration::minutes(50);
            if let Some(execution) = leaks::refund(&mut self.rng, case, at, case.amount.minor_units) {
                self.execute(execution);
            }
        }
    }

    /// Records a change of a case levee answered with.
    pub(super) fn update(&mut self, case: Case) {
        if let Some(tracked) = self.cases.get_mut(&case.id) {
            tracked.case = case;
            tracked.generation += 1;
        }
    }

    /// Schedules what happens next to a case, or closes it.
    pub(super) fn advance(&mut self, id: &str) -> anyhow::Result<()> {
        let now = self.now();
        let Some(tracked) = self.cases.get(id) else { return Ok(()) };
        if !tracked.case.is_pending() {
            return self.finish(id);
        }
        self.pending.insert(id.to_owned());
        if tracked.plan.plant == Some(Plant::AwaitingDemo) {
            return Ok(());
        }
        let generation = tracked.generation;
        let Some((step, after, approver)) = next_step(&mut self.rng, self.cast, tracked, now) else {
            // No approver in the cast can take it: the requester withdraws it.
            self.schedule(now + Duration::days(1), Action::Cancel(id.to_owned()));
            return Ok(());
        };
        if let Some(tracked) = self.cases.get_mut(id) {
            tracked.approver = approver;
            tracked.ready_at = now;
        }
        self.schedule(now + after, Action::Step { case: id.to_owned(), generation, step });
        Ok(())
    }

    pub(super) fn step(&mut self, id: &str, generation: u32, step: Step) -> anyhow::Result<()> {
        let current =
            self.cases.get(id).is_some_and(|tracked| tracked.generation == generation && tracked.case.is_pending());
        if !current {
            return Ok(());
        }
        let result = match step {
            Step::Attach(kind) => self.attach(id, kind),
            Step::Draft => self.draft(id),
            Step::Review => self.review(id),
            Step::Decide => self.decide(id),
        };
        match result {
            Ok(case) => {
                self.update(case);
                self.advance(id)
            }
            Err(error) => self.refused(id, error),
        }
    }

    /// A step the service refused (a configuration the story does not fit): the requester
    /// withdraws the case rather than leave it waiting forever.
    fn refused(&mut self, id: &str, error: ServiceError) -> anyhow::Result<()> {
        match error {
            ServiceError::Transition(_)
            | ServiceError::Conflict(_)
            | ServiceError::Forbidden(_)
            | ServiceError::Invalid(_)
            | ServiceError::NotFound(_) => {
                tracing::debug!(case = id, %error, "a seeded step was refused; the case is withdrawn");
                self.tally.refused += 1;
                self.cancel(id)
            }
            error => Err(error).with_context(|| format!("work seeded case {id}")),
        }
    }

    fn attach(&mut self, id: &str, kind: EvidenceKind) -> Result<Case, ServiceError> {
        let Some(tracked) = self.cases.get(id) else { return Err(ServiceError::NotFound(id.to_owned())) };
        let requester = self.requester(&tracked.plan);
        let request = evidence_request(kind, &tracked.plan.order);
        let case = self.levee.cases().attach_evidence(id, &requester, &request)?;
        self.tally.evidence_attached += 1;
        Ok(case)
    }

    fn draft(&mut self, id: &str) -> Result<Case, ServiceError> {
        let Some(tracked) = self.cases.get(id) else { return Err(ServiceError::NotFound(id.to_owned())) };
        let requester = self.requester(&tracked.plan);
        // A draft sent back is rewritten by hand; the first comes from the code's template.
        let text = tracked.case.comms.as_ref().map(|_| {
            let first_name = requester.actor.split('.').next().unwrap_or_default();
            let kind = serde_json::to_value(tracked.case.kind).ok().and_then(|kind| kind.as_str().map(str::to_owned));
            format!(
                "Hello,\n\nWe are sorry about order {}. We have arranged a {} of {} {} for you; you will see it \
                 within three working days.\n\nKind regards,\n{first_name}",
                tracked.plan.order,
                kind.unwrap_or_default().replace('_', " "),
                money(tracked.case.amount.minor_units),
                tracked.case.amount.currency
            )
        });
        self.levee.cases().draft_comms(id, &requester, &case::DraftRequest { text })
    }

    fn review(&mut self, id: &str) -> Result<Case, ServiceError> {
        let Some(tracked) = self.cases.get(id) else { return Err(ServiceError::NotFound(id.to_owned())) };
        let Some(message) = tracked.case.comms.clone() else { return Err(ServiceError::NotFound(id.to_owned())) };
        let reviewers = &self.cast.comms_reviewers;
        let reviewer = reviewers[self.rng.random_range(0..reviewers.len())].clone();
        let approve = message.draft > 1 || self.rng.random_bool(0.88);
        let note = if approve {
            "Clear and correct; approved.".to_owned()
        } else {
            "Please drop the internal wording and say when the money lands.".to_owned()
        };
        let request = case::ReviewRequest { draft: message.draft, approve, note };
        let case = self.levee.cases().review_comms(id, &reviewer, &request)?;
        self.tally.messages += u64::from(approve);
        Ok(case)
    }

    /// The approver the case was given to approves or rejects it.
    fn decide(&mut self, id: &str) -> Result<Case, ServiceError> {
        let now = self.now();
        let Some(tracked) = self.cases.get(id) else { return Err(ServiceError::NotFound(id.to_owned())) };
        let (Some(approver), Some((level, _))) = (tracked.approver.clone(), tracked.case.pending_requirement()) else {
            return Err(ServiceError::NotFound(format!("an approver for {id}")));
        };
        let team = self.cast.teams[tracked.plan.team].name;
        let (reject, lacks_evidence) = verdict(&mut self.rng, tracked, &approver, level, team);
        let wait = (now - tracked.ready_at).num_seconds();
        let amount = tracked.case.amount.minor_units;
        let case = if reject {
            let rationale = if lacks_evidence {
                "No attachment after two reminders; resubmit with the invoice or photos.".to_owned()
            } else {
                profile::one_of(&mut self.rng, profile::REJECTIONS).to_owned()
            };
            self.levee.cases().reject(id, &approver, &case::RejectRequest { rationale, expected_version: None })?
        } else {
            let rationales = if approver.actor == RUBBER_STAMPER { profile::RUBBER_STAMPS } else { profile::APPROVALS };
            let rationale = profile::one_of(&mut self.rng, rationales);
            let request =
                case::ApproveRequest { rationale: rationale.to_owned(), expected_version: None, on_behalf_of: None };
            self.levee.cases().approve(id, &approver, &request)?
        };
        self.tally.decision(&approver.actor, wait, (!reject).then_some(amount));
        Ok(case)
    }

    pub(super) fn cancel(&mut self, id: &str) -> anyhow::Result<()> {
        let Some(tracked) = self.cases.get(id).filter(|tracked| tracked.case.is_pending()) else { return Ok(()) };
        let requester = self.requester(&tracked.plan);
        let rationale = profile::one_of(&mut self.rng, profile::CANCELLATIONS).to_owned();
        match self.levee.cases().cancel(id, &requester, &case::CancelRequest { rationale, expected_version: None }) {
            Ok(case) => {
                self.update(case);
                self.advance(id)
            }
            Err(ServiceError::Transition(_) | ServiceError::Conflict(_)) => Ok(()),
            Err(error) => Err(error).with_context(|| format!("cancel seeded case {id}")),
        }
    }

    /// A case reached its final status: an approved refund is executed (in the months
    /// reconciliation has run), and the planted ones leak.
    fn finish(&mut self, id: &str) -> anyhow::Result<()> {
        self.pending.remove(id);
        let Some(tracked) = self.cases.get(id) else { return Ok(()) };
        let case = &tracked.case;
        let granted = matches!(case.status, CaseStatus::Approved | CaseStatus::AutoApproved);
        if case.kind != CaseKind::Refund || !granted {
            return Ok(());
        }
        if self.silent_cases.remove(id) {
            self.governance_soon = Some(self.clock.now() + Duration::seconds(JOB_LAG_SECONDS));
        }
        let recent = case.decided_at.is_some_and(|decided| decided >= self.reconciliation_from);
        let executions = match tracked.plan.plant {
            Some(Plant::Overage { executed, .. }) => {
                leaks::overage(&mut self.rng, case, executed).into_iter().collect()
            }
            Some(Plant::Duplicate { .. }) => leaks::twice(&mut self.rng, case),
            Some(Plant::ExecutedBeforeApproval { .. } | Plant::AwaitingDemo) => Vec::new(),
            None if recent && self.rng.random_bool(0.97) => leaks::ordinary(&mut self.rng, case).into_iter().collect(),
            None => Vec::new(),
        };
        executions.into_iter().for_each(|execution| self.execute(execution));
        Ok(())
    }

    pub(super) fn record(&mut self, execution: Execution) -> anyhow::Result<()> {
        let recorded = self
            .levee
            .reconciliation()
            .record_executions(execution.source, vec![execution.report])
            .context("record a seeded executed refund")?;
        self.tally.executions += recorded.iter().filter(|(_, created)| *created).count() as u64;
        let silent = recorded.iter().flat_map(|(record, _)| &record.findings).filter(|finding| {
            finding.kind == levee_core::reconcile::FindingKind::Silent && finding.resolved_at.is_none()
        });
        self.silent_cases.extend(silent.filter_map(|finding| finding.case_id.clone()));
        Ok(())
    }
}

/// Whether `approver` rejects the case, and whether it is for evidence that never came.
fn verdict(
    rng: &mut StdRng,
    tracked: &Tracked,
    approver: &Principal,
    level: levee_core::identity::ApproverLevel,
    team: &str,
) -> (bool, bool) {
    let lacks_evidence = tracked.case.missing_evidence().iter().any(|kind| *kind != EvidenceKind::CustomerComms);
    if tracked.plan.evidence_never && lacks_evidence {
        return (true, true);
    }
    let reject = tracked.plan.plant.is_none() && rng.random_bool(approvers::rejection_rate(approver, level, team));
    (reject, false)
}

/// What happens next to a waiting case, after how long, and who decides it.
fn next_step(
    rng: &mut StdRng,
    cast: &Cast,
    tracked: &Tracked,
    now: DateTime<Utc>,
) -> Option<(Step, Duration, Option<Principal>)> {
    let case = &tracked.case;
    let missing = case.missing_evidence();
    let minutes = |rng: &mut StdRng, from: i64, to: i64| Duration::minutes(rng.random_range(from..to));
    if let Some(kind) = missing.iter().copied().find(|kind| *kind != EvidenceKind::CustomerComms) {
        if !tracked.plan.evidence_never {
            return Some((Step::Attach(kind), minutes(rng, 10, 20 * 60), None));
        }
    } else if missing.contains(&EvidenceKind::CustomerComms) {
        return Some(match &case.comms {
            Some(message) if message.review.is_none() => (Step::Review, minutes(rng, 10, 90), None),
            Some(_) => (Step::Draft, minutes(rng, 15, 60), None),
            None => (Step::Draft, minutes(rng, 5, 40), None),
        });
    }
    let (level, _) = case.pending_requirement()?;
    let named = tracked.plan.plant.and_then(Plant::approver);
    let approver = approvers::choose(rng, cast, case, tracked.plan.team, level, named)?.clone();
    let delay = match tracked.plan.plant {
        Some(Plant::Overage { .. }) => Duration::minutes(55),
        Some(Plant::Duplicate { .. }) => Duration::minutes(35),
        Some(Plant::ExecutedBeforeApproval { .. }) => Duration::minutes(130),
        _ => {
            let sla_left = case.sla_due_at().map(|due| due - now);
            approvers::delay(rng, &approver, level, sla_left, tracked.plan.swamped)
        }
    };
    Some((Step::Decide, delay, Some(approver)))
}

/// The request an agent files for a planned case.
fn submit_request(rng: &mut StdRng, plan: &CasePlan, attachment_above: i64) -> case::SubmitRequest {
    let mut evidence = Vec::new();
    if plan.attach_up_front && plan.minor_units > attachment_above {
        evidence.push(evidence_request(EvidenceKind::Attachment, &plan.order));
    }
    if plan.minor_units > 50_000 {
        evidence.push(evidence_request(EvidenceKind::OrderRecord, &plan.order));
    }
    case::SubmitRequest {
        kind: plan.kind,
        amount: case::submit::MoneyInput {
            minor_units: serde_json::Number::from(plan.minor_units),
            currency: plan.currency.to_owned(),
        },
        customer_ref: plan.customer.clone(),
        order_ref: Some(plan.order.clone()),
        team: None,
        channel: Some(if plan.ticket.is_some() { "zendesk" } else { "api" }.to_owned()),
        exception_code: plan.code.to_owned(),
        rationale: profile::one_of(rng, profile::reasons(plan.code)).to_owned(),
        evidence,
        attributes: plan.ticket.iter().map(|ticket| ("ticket".to_owned(), ticket.clone())).collect(),
    }
}

/// A document of `kind` about an order, pinned by the sha256 of its reference.
fn evidence_request(kind: EvidenceKind, order: &str) -> case::EvidenceRequest {
    let name = levee_core::evidence::evidence_name(&kind);
    let reference = format!("https://files.example.com/orders/{order}/{name}.pdf");
    case::EvidenceRequest {
        kind,
        sha256: Some(levee_core::ledger::sha256_hex(reference.as_bytes())),
        reference,
        description: Some(format!("{name} for order {order}")),
    }
}
