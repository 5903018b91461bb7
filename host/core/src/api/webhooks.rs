//! The outgoing webhooks' delivery log: where each endpoint is in the ledger, what it sent, and
//! what failed.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, Call, ErrorBody, Response, ok};
use crate::identity::Role;
use crate::outbox::{DeliveryRecord, OutboxState};

/// One endpoint and its progress (its secret is never shown).
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub name: String,
    pub url: String,
    /// The signals it is sent.
    pub events: Vec<String>,
    /// The last ledger entry it has dealt with.
    pub cursor: u64,
    /// Failed attempts of the message after the cursor, and when it is tried again.
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered: u64,
    /// Messages passed over after their last retry failed.
    pub failed: u64,
    /// The most recent attempts, newest last.
    pub log: Vec<DeliveryRecord>,
}

/// Every outgoing webhook endpoint with its delivery log.
#[utoipa::path(get, path = "/v1/webhooks/outgoing", tag = "webhooks",
    responses((status = 200, body = Vec<EndpointView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub fn outgoing(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(&[Role::Admin, Role::Auditor], "reading the webhook delivery log")?;
    let views: Vec<EndpointView> = call
        .levee
        .outbox_states()?
        .into_iter()
        .map(|(endpoint, state): (_, OutboxState)| EndpointView {
            url: endpoint.shown_url(),
            events: if endpoint.events.is_empty() {
                crate::outbox::SIGNALS.iter().map(|signal| (*signal).to_owned()).collect()
            } else {
                endpoint.events
            },
            name: endpoint.name,
            cursor: state.cursor,
            attempts: state.attempts,
            next_attempt_at: state.next_attempt_at,
            delivered: state.delivered,
            failed: state.failed,
            log: state.log,
        })
        .collect();
    ok(&views)
}
