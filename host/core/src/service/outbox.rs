//! The outbox as a service: queuing, delivering and recording outgoing webhooks.

use crate::outbox::{
    DeliveryOutcome, DeliveryRecord, EndpointDeliveries, LEASE, LOG_KEPT, Lease, MESSAGES_PER_RUN, OutboxState,
    OutgoingEndpoint, OutgoingMessage, SCAN_LIMIT, message, signal_of, state_key, webhook_id,
};
use crate::projections::{self, encode};
use crate::service::{Levee, ServiceError};
use chrono::Duration;

/// Outgoing webhooks: `levee.outbox()`.
pub struct Outbox<'a> {
    pub(super) levee: &'a Levee,
}

impl Outbox<'_> {
    /// Gives each endpoint seen for the first time its place at the end of the ledger. Run at
    /// start-up, before requests are served, so nothing that happens after it is missed.
    pub fn start(&self) -> Result<(), ServiceError> {
        let tip = self.levee.ledger_store().settle()?.seq;
        for endpoint in &self.levee.settings.outgoing_webhooks {
            let state = OutboxState { cursor: tip, ..OutboxState::default() };
            self.levee.store.compare_and_swap(&state_key(&endpoint.name), None, &encode(&state)?)?;
        }
        Ok(())
    }

    /// Each endpoint's state, for the delivery log.
    pub fn states(&self) -> Result<Vec<(OutgoingEndpoint, OutboxState)>, ServiceError> {
        self.levee
            .settings
            .outgoing_webhooks
            .iter()
            .map(|endpoint| Ok((endpoint.clone(), self.state(&endpoint.name)?.0)))
            .collect()
    }

    fn state(&self, endpoint: &str) -> Result<(OutboxState, Option<Vec<u8>>), ServiceError> {
        Ok(match projections::read::<OutboxState>(&*self.levee.store, &state_key(endpoint))? {
            Some((state, raw)) => (state, Some(raw)),
            None => (OutboxState::default(), None),
        })
    }

    /// The next message `endpoint` should be sent, leased to `holder`; `None` when there is
    /// nothing due (all sent, waiting to retry, or another host holds the endpoint).
    pub fn next_outgoing(&self, endpoint: &str, holder: &str) -> Result<Option<OutgoingMessage>, ServiceError> {
        let Some(config) = self.levee.settings.outgoing_webhooks.iter().find(|candidate| candidate.name == endpoint)
        else {
            return Err(ServiceError::NotFound(format!("outgoing webhook {endpoint}")));
        };
        let tip = self.levee.ledger_store().settle()?.seq;
        let now = self.levee.clock.now();
        let (mut state, raw) = self.state(endpoint)?;
        let leased_elsewhere = state.lease.as_ref().is_some_and(|lease| lease.holder != holder && lease.until > now);
        if leased_elsewhere || state.next_attempt_at.is_some_and(|at| at > now) || state.cursor >= tip {
            return Ok(None);
        }
        let last = tip.min(state.cursor + SCAN_LIMIT);
        let entries = self.levee.ledger_store().entries(&(state.cursor + 1..=last).collect::<Vec<_>>())?;
        let next = entries
            .into_iter()
            .find_map(|entry| signal_of(&entry).filter(|signal| config.wants(signal)).map(|signal| (signal, entry)));
        let Some((signal, entry)) = next else {
            // Nothing to send up to `last`: move past it.
            state.cursor = last;
            self.levee.store.compare_and_swap(&state_key(endpoint), raw.as_deref(), &encode(&state)?)?;
            return Ok(None);
        };
        state.cursor = entry.seq - 1;
        state.lease = Some(Lease { holder: holder.to_owned(), until: now + LEASE });
        if !self.levee.store.compare_and_swap(&state_key(endpoint), raw.as_deref(), &encode(&state)?)? {
            return Ok(None);
        }
        // A signal leaves levee only for an entry that is durable.
        self.levee.sync_store()?;
        Ok(Some(message(config, signal, &entry, state.attempts + 1, now)))
    }

    /// Sends `endpoint` the messages that are due, in order, leased to `holder`, each through
    /// the shell's `WebhookSender`: until one fails, none is due, or `MESSAGES_PER_RUN` were
    /// sent. The one delivery loop, in every run of the schedule (`Schedule::run`).
    pub fn deliver_due(&self, endpoint: &str, holder: &str) -> Result<EndpointDeliveries, ServiceError> {
        let mut report = EndpointDeliveries { endpoint: endpoint.to_owned(), delivered: 0, failed: None };
        for _ in 0..MESSAGES_PER_RUN {
            let Some(message) = self.next_outgoing(endpoint, holder)? else { break };
            let outcome = self.levee.webhook_sender.send(&message);
            self.record_delivery(&message, holder, &outcome)?;
            match outcome {
                DeliveryOutcome::Delivered { .. } => report.delivered += 1,
                DeliveryOutcome::Failed { reason } => {
                    report.failed = Some(reason);
                    break;
                }
            }
        }
        Ok(report)
    }

    /// Records how sending `message` went: the cursor moves past it when it was delivered, or
    /// when its last retry failed; otherwise the next attempt is scheduled.
    pub fn record_delivery(
        &self,
        message: &OutgoingMessage,
        holder: &str,
        outcome: &DeliveryOutcome,
    ) -> Result<(), ServiceError> {
        let Some(config) =
            self.levee.settings.outgoing_webhooks.iter().find(|candidate| candidate.name == message.endpoint)
        else {
            return Err(ServiceError::NotFound(format!("outgoing webhook {}", message.endpoint)));
        };
        let now = self.levee.clock.now();
        loop {
            let (mut state, raw) = self.state(&message.endpoint)?;
            let ours = state.lease.as_ref().is_some_and(|lease| lease.holder == holder);
            if !ours || state.cursor + 1 != message.seq {
                return Ok(());
            }
            let (delivered, result) = match outcome {
                DeliveryOutcome::Delivered { status } => (true, status.to_string()),
                DeliveryOutcome::Failed { reason } => (false, reason.clone()),
            };
            let delays = config.retry_delays();
            let gave_up = !delivered && usize::try_from(state.attempts).unwrap_or(usize::MAX) >= delays.len();
            state.log.push(DeliveryRecord {
                seq: message.seq,
                signal: message.signal.clone(),
                webhook_id: webhook_id(message.seq),
                attempt: message.attempt,
                at: now,
                delivered,
                result,
                gave_up,
            });
            let excess = state.log.len().saturating_sub(LOG_KEPT);
            state.log.drain(..excess);
            state.lease = None;
            if delivered || gave_up {
                state.cursor = message.seq;
                state.attempts = 0;
                state.next_attempt_at = None;
                if delivered { state.delivered += 1 } else { state.failed += 1 }
            } else {
                let delay = delays.get(state.attempts as usize).copied().unwrap_or_default();
                state.attempts += 1;
                state.next_attempt_at = Some(now + Duration::milliseconds(i64::try_from(delay).unwrap_or(i64::MAX)));
            }
            if self.levee.store.compare_and_swap(&state_key(&message.endpoint), raw.as_deref(), &encode(&state)?)? {
                return Ok(());
            }
        }
    }
}
