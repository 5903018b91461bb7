//! Cases as a service: submitting, approving, rejecting, cancelling, evidence, comms, the
//! approval queue and reading a case, over the case state machine (`levee_domain::case`).

use crate::case::{self, Case};
use crate::decision;
use crate::engine::Facts;
use crate::identity::{Principal, Role};
use crate::ledger::LedgerEntry;
use crate::projections::{self, QueueItem, RefundHistory};
use crate::service::{Levee, ServiceError, committed_case};
use crate::store::StoreError;
use crate::validation::FieldError;
use chrono::{DateTime, Utc};

/// Cases: `levee.cases()`.
pub struct Cases<'a> {
    pub(super) levee: &'a Levee,
}

impl Cases<'_> {
    /// Validates, decides and records a new case. With an idempotency key, a retry of the same
    /// request returns the case the first attempt created (`Submitted::replayed`), and a
    /// different request under the same key is refused.
    pub fn submit(
        &self,
        requester: &Principal,
        request: &case::SubmitRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Submitted, ServiceError> {
        // A retry is answered before anything else is checked: the taxonomy or matrix may have
        // changed since the first attempt, and the case it made stands.
        let idempotency = idempotency_key.map(|key| IdempotencyKey::new(requester, key, request)).transpose()?;
        if let Some(case) = self.replay(idempotency.as_ref())? {
            return Ok(Submitted { case, replayed: true });
        }
        let taxonomy = self.levee.taxonomy().current()?.taxonomy;
        let submission = request.validate(requester, &taxonomy)?;
        self.check_currency_has_a_ladder(&submission)?;
        self.levee.policies().sync()?;
        let at = self.levee.clock.now();
        let number = self.levee.store.increment("seq/case", 1)?;
        let case_id = format!("LV-{number:06}");
        let facts = self.facts(&case_id, &submission, requester, at)?;
        let evaluations = self.levee.policies().evaluate(&facts);
        let mut decision = decision::combine(&evaluations, at);
        let controls = self.levee.controls().current()?;
        let matrix = &self.levee.settings.matrix;
        controls.floors.raise(
            &mut decision,
            submission.kind,
            &submission.amount,
            |level| matrix.sla_minutes(level),
            at,
        );
        let policies = evaluations.iter().map(|evaluation| evaluation.policy.clone()).collect();
        let context = case::SubmitContext {
            case_id: case_id.clone(),
            requester,
            taxonomy_version: &taxonomy.version,
            at,
            decision,
            idempotency_key: idempotency.as_ref().map(IdempotencyKey::recorded),
            approval_groups: &controls.approval_groups,
            attachments_must_be_stored: self.levee.settings.evidence.stored_attachments,
        };
        let mut transition = case::submit(submission, context);
        let shadow = self.shadow_outcome(&facts, &transition.case);
        // The facts themselves, beside their hash: auditors can recompute it, and backtests
        // replay exactly what the policies saw.
        if let Some(payload) = transition.payload.as_object_mut() {
            payload.insert("facts".to_owned(), serde_json::to_value(&facts).unwrap_or_default());
            if let Some(shadow) = shadow {
                payload.insert("shadow".to_owned(), serde_json::to_value(&shadow).unwrap_or_default());
            }
        }
        let mut entry = self.levee.entry_context(requester, at)?;
        entry.policies = policies;
        entry.facts_hash = Some(facts.digest());
        let mut replayed = false;
        let case = self.levee.commit(|ledger_store| {
            let tip = ledger_store.tip_to_append_after()?;
            if let Some(case) = self.replay(idempotency.as_ref())? {
                replayed = true;
                return Ok(Some(case));
            }
            committed_case(ledger_store.try_append(&tip, transition.clone(), entry.clone())?)
        })?;
        Ok(Submitted { case, replayed })
    }

    /// What the shadow chain, if one runs, would have decided for this new case.
    fn shadow_outcome(&self, facts: &Facts, case: &Case) -> Option<crate::projections::ShadowOutcome> {
        let evaluations = self.levee.engine.evaluate_shadow(facts)?;
        let mut shadow = decision::combine(&evaluations, facts.submitted_at);
        decision::hold_for_missing_evidence(&mut shadow, &case.evidence_present(), facts.submitted_at);
        let (live, candidate) = (crate::backtest::outcome_of(&case.decision), crate::backtest::outcome_of(&shadow));
        Some(crate::projections::ShadowOutcome {
            chain: self.levee.engine.loaded_shadow().chain,
            differs: live != candidate,
            live,
            shadow: candidate,
            policies: shadow.policies,
        })
    }

    /// The case an earlier submission with this key created, if any; refuses a different
    /// request under the same key.
    fn replay(&self, key: Option<&IdempotencyKey>) -> Result<Option<Case>, ServiceError> {
        let Some(key) = key else { return Ok(None) };
        let Some((case_id, _)) = projections::read::<String>(&*self.levee.store, &key.store_key)? else {
            return Ok(None);
        };
        let case = self.levee.load_case(&case_id)?.ok_or_else(|| ServiceError::NotFound(format!("case {case_id}")))?;
        if case.idempotency_key.as_deref() != Some(key.recorded().as_str()) {
            return Err(ServiceError::Invalid(FieldError::new(
                IDEMPOTENCY_KEY_FIELD,
                format!("was already used for a different request (case {case_id})"),
            )));
        }
        Ok(Some(case))
    }

    /// A currency the approval matrix has no ladder for could never be approved.
    fn check_currency_has_a_ladder(&self, submission: &case::submit::ValidSubmission) -> Result<(), ServiceError> {
        let matrix = &self.levee.settings.matrix;
        let currency = &submission.amount.currency;
        let covered = matrix.ladders.contains_key(currency)
            || matrix.kind_ladders.get(&submission.kind).is_some_and(|ladders| ladders.contains_key(currency));
        if covered {
            return Ok(());
        }
        let supported: Vec<String> = matrix.ladders.keys().cloned().collect();
        let message = format!("approval matrix {} has no ladder for {currency}", matrix.version);
        Err(ServiceError::Invalid(FieldError::new("amount.currency", message).with_valid_values(supported)))
    }

    /// One approval, in the approver's own name or, with `on_behalf_of`, under a delegation in
    /// force to them.
    pub fn approve(
        &self,
        case_id: &str,
        actor: &Principal,
        request: &case::ApproveRequest,
    ) -> Result<Case, ServiceError> {
        let Some(delegator) = request.on_behalf_of.as_deref() else {
            return self
                .levee
                .transition(case_id, actor, |case, at| case::approve(case, &case::Acting::own(actor), request, at));
        };
        // The delegation is read after the log is settled, in the same attempt as the commit:
        // a revocation that lands first moves the ledger on, so this attempt loses and re-reads.
        // Both are checked once the case is found, so an unknown case answers 404 first.
        self.levee.transition_with(case_id, actor, |case, at| {
            let delegator_principal = self.levee.settings.tokens.principal_of(delegator).ok_or_else(|| {
                FieldError::new("on_behalf_of", format!("{delegator} is no longer an approver known to levee"))
            })?;
            let delegation = self.levee.delegations().in_force(delegator, &actor.actor, at)?.ok_or_else(|| {
                FieldError::new(
                    "on_behalf_of",
                    format!("no delegation from {delegator} to {} is in force now", actor.actor),
                )
            })?;
            let acting = case::Acting { person: actor, delegation: Some((&delegation, delegator_principal)) };
            Ok(case::approve(case, &acting, request, at)?)
        })
    }

    pub fn reject(
        &self,
        case_id: &str,
        actor: &Principal,
        request: &case::RejectRequest,
    ) -> Result<Case, ServiceError> {
        self.levee.transition(case_id, actor, |case, at| case::reject(case, actor, request, at))
    }

    pub fn cancel(
        &self,
        case_id: &str,
        actor: &Principal,
        request: &case::CancelRequest,
    ) -> Result<Case, ServiceError> {
        self.levee.transition(case_id, actor, |case, at| case::cancel(case, actor, request, at))
    }

    pub fn attach_evidence(
        &self,
        case_id: &str,
        actor: &Principal,
        request: &case::EvidenceRequest,
    ) -> Result<Case, ServiceError> {
        let evidence = request.validate("evidence")?;
        self.levee.transition(case_id, actor, |case, at| case::attach_evidence(case, actor, evidence.clone(), at))
    }

    /// Drafts (or redrafts) the customer message of a pending case, from its code's template
    /// unless the request gives the text.
    pub fn draft_comms(
        &self,
        case_id: &str,
        actor: &Principal,
        request: &case::DraftRequest,
    ) -> Result<Case, ServiceError> {
        let taxonomy = self.levee.taxonomy().current()?.taxonomy;
        self.levee.transition(case_id, actor, |case, at| {
            let template = taxonomy
                .get(&case.exception_code)
                .map_or(crate::taxonomy::GENERIC_COMMS_TEMPLATE, |code| code.comms_template());
            case::draft_comms(case, actor, request, template, at)
        })
    }

    /// A comms reviewer's verdict on the draft.
    pub fn review_comms(
        &self,
        case_id: &str,
        reviewer: &Principal,
        request: &case::ReviewRequest,
    ) -> Result<Case, ServiceError> {
        self.levee.transition(case_id, reviewer, |case, at| case::review_comms(case, reviewer, request, at))
    }

    /// Reads a case (after settling the log, so an unfinished projection is finished first).
    pub fn get(&self, case_id: &str) -> Result<Case, ServiceError> {
        self.levee.ledger_store().settle()?;
        self.levee.load_case(case_id)?.ok_or_else(|| ServiceError::NotFound(format!("case {case_id}")))
    }

    /// A case's ledger entries, oldest first.
    pub fn ledger(&self, case: &Case) -> Result<Vec<LedgerEntry>, ServiceError> {
        Ok(self.levee.ledger_store().entries(&case.ledger_seqs)?)
    }

    /// The pending cases at or below the approver's level, and at or below the level of each
    /// colleague whose authority they hold by delegation now, most urgent first.
    pub fn queue(&self, approver: &Principal) -> Result<Vec<QueueEntry>, ServiceError> {
        self.levee.ledger_store().settle()?;
        let delegations = self.levee.delegations().delegators_of(&approver.actor, self.levee.clock.now())?;
        let mut actings = vec![case::Acting::own(approver)];
        for delegation in &delegations {
            if let Some(delegator) = self.levee.settings.tokens.principal_of(&delegation.delegator) {
                actings.push(case::Acting { person: approver, delegation: Some((delegation, delegator)) });
            }
        }
        // Each queued case at a level one of those authorities reaches (each level read once), with
        // the authorities that reach it: the approver's own first, then each delegator's.
        let reach = |acting: &case::Acting<'_>| acting.holder().authority.as_ref().map(|authority| authority.level);
        let Some(top) = actings.iter().filter_map(reach).max() else { return Ok(Vec::new()) };
        let mut seen = std::collections::HashSet::new();
        let mut listed: Vec<(QueueItem, Vec<case::Acting<'_>>)> = Vec::new();
        for level in crate::identity::ApproverLevel::ALL.into_iter().filter(|level| *level <= top) {
            let reaching: Vec<case::Acting<'_>> = actings
                .iter()
                .filter(|acting| reach(acting).is_some_and(|reached| reached >= level))
                .copied()
                .collect();
            // A store written before the queue was sharded may list a case twice while it moves.
            for item in projections::queue_items(&*self.levee.store, level)? {
                if seen.insert(item.case_id.clone()) {
                    listed.push((item, reaching.clone()));
                }
            }
        }
        let keys: Vec<String> = listed.iter().map(|(item, _)| projections::case_key(&item.case_id)).collect();
        let cases = self.levee.store.get_many(&keys)?;
        let mut entries: Vec<QueueEntry> = listed
            .into_iter()
            .zip(cases)
            .map(|((item, actings), case)| {
                let case = case.map(|bytes| projections::decode::<Case>(&item.case_id, &bytes)).transpose()?.flatten();
                Ok(queue_entry(item, case.as_ref(), &actings))
            })
            .collect::<Result<_, StoreError>>()?;
        // Most urgent SLA first; cases without an SLA after every case with one.
        entries.sort_by_key(|entry| (entry.item.sla_due_at.is_none(), entry.item.sla_due_at, entry.item.submitted_at));
        Ok(entries)
    }

    /// The refunds granted to a customer or on an order (`key`), none if there were none.
    fn refund_history(&self, key: &str) -> Result<RefundHistory, StoreError> {
        Ok(projections::read::<RefundHistory>(&*self.levee.store, key)?.map(|(history, _)| history).unwrap_or_default())
    }

    fn facts(
        &self,
        case_id: &str,
        submission: &case::submit::ValidSubmission,
        requester: &Principal,
        at: DateTime<Utc>,
    ) -> Result<Facts, StoreError> {
        let currency = &submission.amount.currency;
        let customer = self.refund_history(&projections::customer_key(&submission.customer_ref))?.window(at, currency);
        let order_refunds = match &submission.order_ref {
            Some(order_ref) => Some(self.refund_history(&projections::order_key(order_ref))?.window(at, currency)),
            None => None,
        };
        let mut evidence_present: Vec<_> = submission.evidence_kinds().into_iter().collect();
        evidence_present.sort();
        Ok(Facts {
            case_id: case_id.to_owned(),
            kind: submission.kind,
            amount: submission.amount.clone(),
            exception_code: submission.code.code.clone(),
            code_category: submission.code.category.clone(),
            escalate_always: submission.code.escalate_always,
            customer_comms_required: submission.code.customer_comms_required,
            requester_role: role_name(requester.primary_role()),
            // The requester's own team, not the case's (which the request may set for routing).
            requester_team: requester.team.clone(),
            channel: submission.channel.clone(),
            refunds_90d: customer.refunds,
            refunded_90d_minor_units: customer.refunded_minor_units,
            order_refunds,
            evidence_present,
            attributes: submission.attributes.clone(),
            submitted_at: at,
        })
    }
}

/// A submission's outcome: the case, and whether it was created by an earlier attempt with
/// the same idempotency key.
#[derive(Debug)]
pub struct Submitted {
    pub case: Case,
    pub replayed: bool,
}

/// A submitter's idempotency key: where its record lives and what the case records of it
/// (`<sha256 of the request>:<key>`, so a different request under the same key is caught).
/// The field an idempotency key's errors name: the request header that carries it.
pub(crate) const IDEMPOTENCY_KEY_FIELD: &str = "Idempotency-Key";

struct IdempotencyKey {
    store_key: String,
    key: String,
    request_digest: String,
}

impl IdempotencyKey {
    fn new(requester: &Principal, key: &str, request: &case::SubmitRequest) -> Result<Self, FieldError> {
        let key = crate::validation::required_text(IDEMPOTENCY_KEY_FIELD, key, 200)?;
        Ok(IdempotencyKey {
            store_key: projections::idempotency_key(&requester.actor, &key),
            request_digest: crate::ledger::sha256_of_json(request),
            key,
        })
    }

    fn recorded(&self) -> String {
        format!("{}:{}", self.request_digest, self.key)
    }
}

/// A pending case as one approver sees it in their queue.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct QueueEntry {
    #[serde(flatten)]
    pub item: QueueItem,
    /// Whether this approver can give the next approval, and if not, why.
    pub can_approve: bool,
    pub blocked_because: Option<String>,
    /// Listed because a colleague delegated their authority: approve with `on_behalf_of` them.
    pub on_behalf_of: Option<String>,
}

fn role_name(role: Role) -> String {
    serde_json::to_value(role).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A queued case as the approver sees it: whether one of the authorities they act with (their
/// own first, then each delegator's) may give its next approval, by the rules `approve`
/// applies (`case::permit`); if none may, why not under the first.
fn queue_entry(item: QueueItem, case: Option<&Case>, actings: &[case::Acting<'_>]) -> QueueEntry {
    let Some(case) = case else {
        let blocked_because = Some(format!("case {} could not be read", item.case_id));
        return QueueEntry { item, can_approve: false, blocked_because, on_behalf_of: None };
    };
    let verdicts: Vec<_> = actings.iter().map(|acting| (acting, case::permit(case, acting))).collect();
    let chosen = verdicts.iter().find(|(_, verdict)| verdict.is_ok()).or(verdicts.first());
    let on_behalf_of = chosen.and_then(|(acting, _)| acting.delegation.map(|(_, delegator)| delegator.actor.clone()));
    let blocked_because = match chosen {
        Some((_, Ok(_))) => None,
        Some((_, Err(refusal))) => Some(refusal.to_string()),
        None => Some("no authority of yours reaches this case's level".to_owned()),
    };
    QueueEntry { item, can_approve: blocked_because.is_none(), blocked_because, on_behalf_of }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Acting, ApproveRequest, CaseStatus, approve};
    use crate::evidence::EvidenceKind;
    use crate::fixtures::{at, pending_case, principal};
    use crate::identity::{ApprovalGroup, ApproverLevel, Role};

    /// A case needing two approvals from group committee (gil, gus) and an attachment it lacks,
    /// already approved once by olive, from outside the group (as before an escalation).
    fn group_case_with_an_outside_approval() -> Case {
        let olive = principal("olive", Role::Approver, Some(ApproverLevel::Lead), 100_000);
        let request = ApproveRequest { rationale: "checked".into(), expected_version: None, on_behalf_of: None };
        let mut case = approve(&pending_case("LV-1"), &Acting::own(&olive), &request, at()).unwrap().case;
        case.status = CaseStatus::PendingApproval;
        case.decision.required_evidence.insert(EvidenceKind::Attachment);
        case.approver_group = Some(ApprovalGroup {
            name: "committee".into(),
            level: ApproverLevel::Lead,
            members: vec!["gil".into(), "gus".into()],
            approvals: 2,
        });
        case
    }

    /// The queue offers an approval exactly when `approve` would take it. While the attachment
    /// is missing, even the first member's approval (which does not complete the group's two)
    /// waits for it; once it is there, the member may approve, and an outsider and the earlier
    /// approver are still refused, as `approve` refuses them.
    #[test]
    fn the_queue_offers_an_approval_exactly_when_approve_takes_it() {
        let lacking = group_case_with_an_outside_approval();
        let mut attached = lacking.clone();
        attached.evidence.push(crate::evidence::Evidence {
            kind: EvidenceKind::Attachment,
            reference: "doc://carrier-report".into(),
            sha256: None,
            description: None,
            added_by: "avery".into(),
            added_at: at(),
            stored: None,
        });
        let cases = [(&lacking, [false, false, false]), (&attached, [true, false, false])];
        for (case, takes) in cases {
            assert_queue_matches_approve(case, ["gil", "olive", "oscar"].into_iter().zip(takes));
        }
    }

    fn assert_queue_matches_approve<'a>(case: &Case, expected: impl Iterator<Item = (&'a str, bool)>) {
        let item = projections::queue_item(case).unwrap();
        let request = ApproveRequest { rationale: "checked".into(), expected_version: None, on_behalf_of: None };
        for (actor, takes) in expected {
            let person = principal(actor, Role::Approver, Some(ApproverLevel::Lead), 100_000);
            let acting = Acting::own(&person);
            let entry = queue_entry(item.clone(), Some(case), &[acting]);
            let approved = approve(case, &acting, &request, at());
            assert_eq!(entry.can_approve, takes, "{actor}: {entry:?}");
            assert_eq!(approved.is_ok(), takes, "{actor}: {approved:?}");
            assert_eq!(entry.blocked_because, approved.err().map(|refusal| refusal.to_string()), "{actor}");
        }
    }
}
