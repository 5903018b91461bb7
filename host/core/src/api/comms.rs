//! Customer-message endpoints: draft a case's message to the customer, review it, and read
//! every draft and review for audit.

use serde::Serialize;
use utoipa::ToSchema;

use super::responses::{Conflict, Forbidden, JsonBody, NotFound, SignedIn};
use super::{ApiError, Call, CaseView, ErrorBody, Response, ok};
use crate::case::{CustomerMessage, DraftRequest, ReviewRequest};
use crate::identity::Role;
use crate::ledger::EventType;

/// A case's customer message now, and every draft and review as the ledger recorded them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommsView {
    pub case_id: String,
    pub current: Option<CustomerMessage>,
    /// Oldest first: each draft, and each review with its verdict.
    pub history: Vec<CustomerMessage>,
}

/// Draft (or redraft) the message to the customer; without `text`, from the exception code's
/// template. Needed before a case whose decision requires customer comms can be approved.
#[utoipa::path(post, path = "/v1/cases/{id}/comms", tag = "comms",
    request_body(content = Option<DraftRequest>, description = "Optional: no body drafts from the template"),
    params(("id" = String, Path)),
    responses((status = 200, body = CaseView), SignedIn, Forbidden, JsonBody, NotFound, Conflict),
    security(("bearer" = [])))]
pub fn draft(call: &Call<'_>) -> Result<Response, ApiError> {
    let actor = call.principal()?;
    let request: DraftRequest = call.optional_json()?;
    ok(&CaseView::new(call.levee.cases().draft_comms(call.id(), actor, &request)?, None))
}

/// Approve the draft (which links it to the case as `customer_comms` evidence, pinned by the
/// sha256 of its text) or send it back with a note. A comms reviewer who did not draft it.
#[utoipa::path(post, path = "/v1/cases/{id}/comms/review", tag = "comms", request_body = ReviewRequest,
    params(("id" = String, Path)),
    responses((status = 200, body = CaseView), SignedIn, Forbidden, JsonBody, NotFound, Conflict,
              (status = 422, description = "A field is invalid, or refused: `comms_self_review`, `rationale_required`", body = ErrorBody)),
    security(("bearer" = [])))]
pub fn review(call: &Call<'_>) -> Result<Response, ApiError> {
    let reviewer = call.principal_with(&[Role::CommsReviewer], "reviewing a customer message")?;
    let request: ReviewRequest = call.json()?;
    ok(&CaseView::new(call.levee.cases().review_comms(call.id(), reviewer, &request)?, None))
}

/// The customer message of a case, and its history, for audit.
#[utoipa::path(get, path = "/v1/cases/{id}/comms", tag = "comms",
    params(("id" = String, Path)),
    responses((status = 200, body = CommsView), SignedIn, Forbidden, NotFound),
    security(("bearer" = [])))]
pub fn read(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(super::cases::READERS, "reading a case")?;
    let case = call.levee.cases().get(call.id())?;
    let history = call
        .levee
        .cases()
        .ledger(&case)?
        .into_iter()
        .filter(|entry| matches!(entry.event, EventType::CommsDrafted | EventType::CommsReviewed))
        .filter_map(|entry| serde_json::from_value(entry.payload["message"].clone()).ok())
        .collect();
    ok(&CommsView { case_id: case.id.clone(), current: case.comms, history })
}
