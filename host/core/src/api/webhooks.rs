//! Webhooks: helpdesk deliveries coming in (intake), and the outgoing webhooks' delivery log
//! (where each endpoint is in the ledger, what it sent, and what failed).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use http::StatusCode;

use super::responses::{
    Conflict, Forbidden, Internal, MalformedJson, NotFound, PayloadTooLarge, RequestTimeout, SignedIn, Unavailable,
};
use super::{ApiError, Call, ErrorBody, Response, json_response, ok};
use crate::identity::Role;
use crate::intake::{IntakeOutcome, IntakeRejection};
use crate::outbox::{DeliveryRecord, OutboxState};
use crate::reconcile::ExecutionRecord;

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
    responses((status = 200, body = Vec<EndpointView>), SignedIn, Forbidden), security(("bearer" = [])))]
pub fn outgoing(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(&[Role::Admin, Role::Auditor], "reading the webhook delivery log")?;
    let views: Vec<EndpointView> = call
        .levee
        .outbox()
        .states()?
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

/// What a delivery made, as the answer to it carries it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Delivered {
    /// A helpdesk ticket's case.
    Case(Box<super::CaseView>),
    /// A helpdesk ticket that does not make a valid case, recorded with the reason.
    Rejected(IntakeRejection),
    /// The executed refunds a payment tool reported, each with what reconciliation found.
    Executions(Vec<ExecutionRecord>),
}

/// A helpdesk's or payment tool's webhook: verified by the source's own signature scheme before
/// anything is parsed (no bearer token: the signature is the credential). A ticket that asks for
/// a refund becomes a case (201; 200 when the same delivery came before); one that does not make
/// a valid case is recorded as a rejected intake with the reason (202; 200 on a replay). A
/// payment tool's refunds are recorded as executions (201 when any is new, 200 otherwise).
#[utoipa::path(post, path = "/v1/webhooks/{source}", tag = "webhooks",
    params(("source" = String, Path, description = "A configured webhook source")),
    request_body(content = Object, description = "The vendor's payload, as the vendor sends it"),
    responses(
        (status = 201, description = "A new case, or executions of which at least one is new", body = Delivered),
        (status = 200, description = "A delivery seen before, or executions already recorded: what it made then", body = Delivered),
        (status = 202, description = "Recorded as a rejected intake", body = IntakeRejection),
        MalformedJson, NotFound, RequestTimeout, PayloadTooLarge, Conflict, Internal, Unavailable,
        (status = 401, description = "The signature does not verify (`signature_rejected`)", body = ErrorBody),
    ))]
pub fn receive(call: &Call<'_>) -> Result<Response, ApiError> {
    let header = |name: &str| call.header(name);
    let outcome = call.levee.intake().receive_webhook(call.id(), &header, call.request.body())?;
    let (created, delivered) = match outcome {
        IntakeOutcome::Case { case, replayed } => {
            (!replayed, Delivered::Case(Box::new(super::CaseView::new(*case, None))))
        }
        IntakeOutcome::Rejected { rejection, replayed } => {
            let status = if replayed { StatusCode::OK } else { StatusCode::ACCEPTED };
            return Ok(json_response(status, &Delivered::Rejected(rejection)));
        }
        IntakeOutcome::Executions(records) => {
            let created = records.iter().any(|(_, created)| *created);
            (created, Delivered::Executions(records.into_iter().map(|(record, _)| record).collect()))
        }
    };
    Ok(json_response(if created { StatusCode::CREATED } else { StatusCode::OK }, &delivered))
}

/// Executed refunds that do not add up: silent (no approved case), executed before approval,
/// overage, duplicate, and Shopify refund discrepancies, each with its amount; newest first.
#[utoipa::path(get, path = "/v1/findings", tag = "webhooks",
    responses((status = 200, body = Vec<crate::projections::FindingSummary>), SignedIn, Forbidden),
    security(("bearer" = [])))]
pub fn findings(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(&[Role::Admin, Role::Auditor, Role::Approver], "reading reconciliation findings")?;
    ok(&call.levee.reconciliation().findings()?)
}

/// Helpdesk deliveries that did not make a valid case, with the reason, oldest first.
#[utoipa::path(get, path = "/v1/intake/rejections", tag = "webhooks",
    responses((status = 200, body = Vec<IntakeRejection>), SignedIn, Forbidden), security(("bearer" = [])))]
pub fn rejections(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(&[Role::Admin, Role::Auditor, Role::Agent], "reading rejected intakes")?;
    ok(&call.levee.intake().rejections()?)
}
