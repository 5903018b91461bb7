//! Case endpoints: submit, read with ledger, approve, reject, cancel, attach evidence.

use http::StatusCode;

use super::responses::{Conflict, Forbidden, JsonBody, NotFound, SignedIn};
use super::{ApiError, Call, CaseView, ErrorBody, Response, json_response, ok};
use crate::case::{ApproveRequest, CancelRequest, EvidenceRequest, RejectRequest, SubmitRequest};
use crate::identity::Role;

/// Who may submit a case.
const SUBMITTERS: &[Role] = &[Role::Agent, Role::Approver, Role::Admin];
/// Who may read any case.
pub(super) const READERS: &[Role] = &[Role::Agent, Role::Approver, Role::CommsReviewer, Role::Auditor, Role::Admin];

/// Submit a refund, credit, fee waiver, write-off or override and get the decision. Send an
/// `Idempotency-Key` header to make retries safe: the same key and request return the case the
/// first attempt created (with `Idempotent-Replayed: true`); the same key with a different
/// request is refused.
#[utoipa::path(post, path = "/v1/cases", tag = "cases", request_body = SubmitRequest,
    params(("Idempotency-Key" = Option<String>, Header, max_length = 200, pattern = r"\S",
        description = "Makes retries safe (at most 200 characters, not blank)")),
    responses(
        (status = 201, description = "Decided: auto-approved, pending approval or rejected", body = CaseView,
            headers(("Idempotent-Replayed" = String, description = "`true` when the answer is the case an earlier request with this key created"))),
        SignedIn, Forbidden, JsonBody, Conflict,
        (status = 422, description = "A field is invalid, and the error names it: among others an exception code that is not \
            active in the taxonomy in force, a currency the approval matrix has no ladder for, or an `Idempotency-Key` \
            already used for a different request", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub fn submit(call: &Call<'_>) -> Result<Response, ApiError> {
    let requester = call.principal_with(SUBMITTERS, "submitting a case")?;
    let request: SubmitRequest = call.json()?;
    let key = call.header("idempotency-key");
    let submitted = call.levee.cases().submit(requester, &request, key.as_deref())?;
    let mut response = json_response(StatusCode::CREATED, &CaseView::new(submitted.case, None));
    if submitted.replayed {
        response.headers_mut().insert("idempotent-replayed", http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A case with its decision and full ledger.
#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "Case id, e.g. LV-000001")),
    responses((status = 200, body = CaseView), SignedIn, Forbidden, NotFound),
    security(("bearer" = [])))]
pub fn get(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(READERS, "reading a case")?;
    let case = call.levee.cases().get(call.id())?;
    let ledger = call.levee.cases().ledger(&case)?;
    ok(&CaseView::new(case, Some(ledger)))
}

/// Approve a pending case. The host checks separation of duties, the approver's level and
/// authority limit, distinct approvers, and (for the final approval) the required evidence.
#[utoipa::path(post, path = "/v1/cases/{id}/approve", tag = "approvals", request_body = ApproveRequest,
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Approval recorded; the case is approved once enough distinct approvers have approved", body = CaseView),
        SignedIn, Forbidden, JsonBody, NotFound, Conflict,
        (status = 422, description = "A field is invalid (`invalid_field`: an `on_behalf_of` with no delegation in force), or a \
            rule refused: `rationale_required`, `separation_of_duties`, `distinct_approvers`, `approval_group`, \
            `approver_level`, `authority_limit`, `evidence_required`", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub fn approve(call: &Call<'_>) -> Result<Response, ApiError> {
    let approver = call.principal_with(&[Role::Approver], "approving a case")?;
    let request: ApproveRequest = call.json()?;
    ok(&CaseView::new(call.levee.cases().approve(call.id(), approver, &request)?, None))
}

/// Reject a pending case, with a rationale.
#[utoipa::path(post, path = "/v1/cases/{id}/reject", tag = "approvals", request_body = RejectRequest,
    params(("id" = String, Path)),
    responses((status = 200, body = CaseView), SignedIn, Forbidden, JsonBody, NotFound, Conflict,
        (status = 422, description = "A field is invalid, or a rule refused: `rationale_required`, `separation_of_duties`, \
            `approver_level`, `authority_limit`", body = ErrorBody)),
    security(("bearer" = [])))]
pub fn reject(call: &Call<'_>) -> Result<Response, ApiError> {
    let approver = call.principal_with(&[Role::Approver], "rejecting a case")?;
    let request: RejectRequest = call.json()?;
    ok(&CaseView::new(call.levee.cases().reject(call.id(), approver, &request)?, None))
}

/// Cancel a pending case (its requester or an admin).
#[utoipa::path(post, path = "/v1/cases/{id}/cancel", tag = "cases", request_body = CancelRequest,
    params(("id" = String, Path)),
    responses((status = 200, body = CaseView), SignedIn, Forbidden, JsonBody, NotFound, Conflict),
    security(("bearer" = [])))]
pub fn cancel(call: &Call<'_>) -> Result<Response, ApiError> {
    let actor = call.principal()?;
    let request: CancelRequest = call.json()?;
    ok(&CaseView::new(call.levee.cases().cancel(call.id(), actor, &request)?, None))
}

/// Attach evidence to a pending case.
#[utoipa::path(post, path = "/v1/cases/{id}/evidence", tag = "cases", request_body = EvidenceRequest,
    params(("id" = String, Path)),
    responses((status = 200, body = CaseView), SignedIn, Forbidden, JsonBody, NotFound, Conflict),
    security(("bearer" = [])))]
pub fn attach_evidence(call: &Call<'_>) -> Result<Response, ApiError> {
    let actor = call.principal()?;
    let request: EvidenceRequest = call.json()?;
    ok(&CaseView::new(call.levee.cases().attach_evidence(call.id(), actor, &request)?, None))
}
