//! Intake as a service: helpdesk tickets becoming cases, rejected intakes recorded.

use crate::identity::{Principal, Role};
use crate::inbound::{self, Delivery, Scheme};
use crate::intake::{
    INTAKE_SUBJECT, IntakeLog, IntakeOutcome, IntakeRejection, RejectedIntake, TICKET_ATTRIBUTE, rejection_id,
};
use crate::ledger::EventType;
use crate::projections::{self, Listed};
use crate::service::{IDEMPOTENCY_KEY_FIELD, Levee, ServiceError};
use crate::subject::Change;
use crate::validation::FieldError;

/// Helpdesk intake: `levee.intake()`.
pub struct Intake<'a> {
    pub(super) levee: &'a Levee,
}

impl Intake<'_> {
    /// Verifies and takes in one delivery to `source`.
    pub fn receive_webhook(
        &self,
        source: &str,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> Result<IntakeOutcome, ServiceError> {
        let Some(config) = self.levee.settings.webhook_sources.iter().find(|candidate| candidate.name == source) else {
            return Err(ServiceError::NotFound(format!("webhook source {source}")));
        };
        let delivery = Delivery { header, body, now: self.levee.clock.now() };
        let delivery_id =
            inbound::verify(&config.signature, &config.secrets, &delivery).map_err(ServiceError::Webhook)?;
        let payload: serde_json::Value = serde_json::from_slice(body)
            .map_err(|error| ServiceError::Malformed(format!("the payload is not JSON: {error}")))?;
        let Some(intake) = &config.intake else {
            let reports = match config.signature {
                Scheme::Stripe => crate::executions::from_stripe(&payload),
                Scheme::Shopify if header("x-shopify-topic").as_deref() == Some("refunds/create") => {
                    crate::executions::from_shopify(&payload).map(|report| report.into_iter().collect())
                }
                _ => Ok(Vec::new()),
            }
            .map_err(|problem| {
                ServiceError::Malformed(format!("the payload is not a refund this source sends: {problem}"))
            })?;
            return Ok(IntakeOutcome::Executions(self.levee.reconciliation().record_executions(source, reports)?));
        };
        let requester = Principal {
            actor: format!("webhook:{source}"),
            roles: vec![Role::Agent],
            team: intake.team.clone().unwrap_or_else(|| source.to_owned()),
            authority: None,
            source: format!("webhook source {source}"),
        };
        let submitted = intake.request(&payload).map_err(ServiceError::Invalid).and_then(|request| {
            let ticket = request.attributes.get(TICKET_ATTRIBUTE).cloned().unwrap_or_default();
            // The ticket is the idempotency key: the requester (this source) scopes it.
            let key = format!("ticket:{ticket}");
            self.levee
                .cases()
                .submit(&requester, &request, Some(&key))
                .map_err(|error| self.one_case_per_ticket(error, &requester, &key))
        });
        match submitted {
            Ok(submitted) => Ok(IntakeOutcome::Case { case: Box::new(submitted.case), replayed: submitted.replayed }),
            Err(ServiceError::Invalid(error)) => self.reject_intake(&requester, source, &delivery_id, body, error),
            Err(error) => Err(error),
        }
    }

    /// A ticket's later delivery that asks for something other than its case, named as such.
    fn one_case_per_ticket(&self, error: ServiceError, requester: &Principal, key: &str) -> ServiceError {
        let ServiceError::Invalid(field_error) = &error else { return error };
        if field_error.field != IDEMPOTENCY_KEY_FIELD {
            return error;
        }
        let ticket = key.trim_start_matches("ticket:");
        let case =
            match projections::read::<String>(&*self.levee.store, &projections::idempotency_key(&requester.actor, key))
            {
                Ok(Some((case_id, _))) => case_id,
                Ok(None) => "(not found)".to_owned(),
                Err(store_error) => return store_error.into(),
            };
        ServiceError::Invalid(FieldError::new(
            "ticket",
            format!(
                "ticket {ticket} already has case {case}, made from a different request: change that case in \
                 levee, or raise a new ticket"
            ),
        ))
    }

    /// Records a rejected intake once per delivery, as a subject of its own (`rejection_id`): a
    /// replay finds it, or finds the delivery in the list older ledgers kept (`IntakeLog`).
    fn reject_intake(
        &self,
        requester: &Principal,
        source: &str,
        delivery_id: &str,
        body: &[u8],
        error: FieldError,
    ) -> Result<IntakeOutcome, ServiceError> {
        if let Some(earlier) = self.rejected_before_subjects(source, delivery_id)? {
            return Ok(IntakeOutcome::Rejected { rejection: earlier, replayed: true });
        }
        let id = rejection_id(source, delivery_id);
        let rejection = IntakeRejection {
            source: source.to_owned(),
            delivery_id: delivery_id.to_owned(),
            field: error.field.clone(),
            reason: error.message.clone(),
            valid_values: error.valid_values.clone(),
            at: self.levee.clock.now(),
            payload_sha256: crate::ledger::sha256_hex(body),
        };
        let unrecorded =
            || RejectedIntake { id: id.clone(), version: 0, ledger_seqs: Vec::new(), rejection: rejection.clone() };
        let mut replayed = false;
        let rejection = self.levee.commit_subject(requester, &id, unrecorded, None, |recorded, at| {
            if recorded.version > 0 {
                replayed = true;
                return Ok((recorded.rejection.clone(), None));
            }
            let next = RejectedIntake {
                version: 1,
                rejection: IntakeRejection { at, ..rejection.clone() },
                ..recorded.clone()
            };
            let payload = serde_json::json!({"rejection": next.rejection});
            Ok((next.rejection.clone(), Some(Change::of(next, EventType::IntakeRejected, payload))))
        })?;
        Ok(IntakeOutcome::Rejected { rejection, replayed })
    }

    /// The delivery's rejection in the one list older ledgers kept, if it is there.
    fn rejected_before_subjects(
        &self,
        source: &str,
        delivery_id: &str,
    ) -> Result<Option<IntakeRejection>, ServiceError> {
        let Some(log) = self.levee.load_subject::<IntakeLog>(INTAKE_SUBJECT)? else { return Ok(None) };
        Ok(log.rejections.into_iter().find(|earlier| earlier.source == source && earlier.delivery_id == delivery_id))
    }

    /// Every rejected intake, oldest first: those older ledgers kept in one list, then each
    /// recorded as a subject of its own.
    pub fn rejections(&self) -> Result<Vec<IntakeRejection>, ServiceError> {
        let tip = self.levee.ledger_store().settle()?;
        let mut rejections =
            self.levee.load_subject::<IntakeLog>(INTAKE_SUBJECT)?.map(|log| log.rejections).unwrap_or_default();
        for id in projections::listed_ids(&*self.levee.store, Listed::RejectedIntakes, tip.seq)? {
            let rejected = self.levee.load_subject::<RejectedIntake>(&id)?;
            rejections.extend(rejected.map(|rejected| rejected.rejection));
        }
        Ok(rejections)
    }
}
