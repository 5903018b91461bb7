//! Intake as a service: helpdesk tickets becoming cases, rejected intakes recorded.

use crate::identity::{Principal, Role};
use crate::inbound::{self, Delivery, Scheme};
use crate::intake::{INTAKE_SUBJECT, IntakeLog, IntakeOutcome, IntakeRejection, TICKET_ATTRIBUTE};
use crate::ledger::EventType;
use crate::projections;
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

    /// Records a rejected intake once per delivery.
    fn reject_intake(
        &self,
        requester: &Principal,
        source: &str,
        delivery_id: &str,
        body: &[u8],
        error: FieldError,
    ) -> Result<IntakeOutcome, ServiceError> {
        let mut replayed = false;
        let rejection = self.levee.commit_subject(requester, INTAKE_SUBJECT, IntakeLog::default, None, |log, at| {
            let earlier = log.rejections.iter().find(|r| r.source == source && r.delivery_id == delivery_id);
            if let Some(earlier) = earlier {
                replayed = true;
                return Ok((earlier.clone(), None));
            }
            let rejection = IntakeRejection {
                source: source.to_owned(),
                delivery_id: delivery_id.to_owned(),
                field: error.field.clone(),
                reason: error.message.clone(),
                valid_values: error.valid_values.clone(),
                at,
                payload_sha256: crate::ledger::sha256_hex(body),
            };
            let mut next = log.clone();
            next.version += 1;
            next.rejections.push(rejection.clone());
            let payload = serde_json::json!({"rejection": rejection});
            Ok((rejection, Some(Change::of(next, EventType::IntakeRejected, payload))))
        })?;
        Ok(IntakeOutcome::Rejected { rejection, replayed })
    }

    /// Every rejected intake, oldest first.
    pub fn rejections(&self) -> Result<Vec<IntakeRejection>, ServiceError> {
        self.levee.ledger_store().settle()?;
        Ok(self.levee.load_subject::<IntakeLog>(INTAKE_SUBJECT)?.map(|log| log.rejections).unwrap_or_default())
    }
}
