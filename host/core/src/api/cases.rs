//! Case endpoints: submit, read with ledger, approve, reject, cancel, attach evidence.

use http::StatusCode;

use super::responses::{Conflict, Forbidden, JsonBody, NotFound, PayloadTooLarge, SignedIn};
use super::{ApiError, Call, CaseView, ErrorBody, Response, json_response, ok};
use crate::case::{ApproveRequest, CancelRequest, EvidenceRequest, RejectRequest, SubmitRequest};
use crate::identity::Role;
use crate::service::Upload;

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

/// Upload a file as stored evidence of a pending case (the file's bytes as the body, its media
/// type as `Content-Type`). levee computes its SHA-256, keeps it by that hash and records it as a
/// stored `attachment`: unlike a bare reference (asserted), it can satisfy an evidence gate that
/// requires stored files, and the people the case is for can download it.
#[utoipa::path(post, path = "/v1/cases/{id}/attachments", tag = "cases",
    params(("id" = String, Path),
        ("name" = String, Query, min_length = 1, max_length = 200, description = "The file's name, 1 to 200 characters"),
        ("description" = Option<String>, Query, description = "What the file shows, at most 1,000 characters"),
        ("Content-Type" = String, Header, description = "application/pdf, image/png, image/jpeg, image/gif, text/plain, text/csv, application/json or message/rfc822")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, description = "Stored and linked; the case as it is now", body = CaseView),
        SignedIn, Forbidden, NotFound, Conflict, PayloadTooLarge,
        (status = 422, description = "The media type is not allowed, the bytes are not of that type, the file is empty or over 4 MiB, or the name is missing", body = ErrorBody)),
    security(("bearer" = [])))]
pub fn upload_attachment(call: &Call<'_>) -> Result<Response, ApiError> {
    let actor = call.principal()?;
    let media_type = call.header("content-type").unwrap_or_default();
    let file_name = call.query("name").unwrap_or_default();
    let description = call.query("description");
    let upload = Upload {
        media_type: &media_type,
        file_name: &file_name,
        description: description.as_deref(),
        bytes: call.request.body(),
    };
    ok(&CaseView::new(call.levee.cases().upload_attachment(call.id(), actor, &upload)?, None))
}

/// Download a stored file of a case (`?sha256=`), as uploaded: for its requester, an approver,
/// an auditor or an admin. The bytes are checked against the recorded SHA-256 first.
#[utoipa::path(get, path = "/v1/cases/{id}/attachments", tag = "cases",
    params(("id" = String, Path), ("sha256" = String, Query, pattern = "^[0-9a-fA-F]{64}$", description = "The file's SHA-256, as the case's evidence records it")),
    responses((status = 200, description = "The file, with its media type", content_type = "application/octet-stream", body = Vec<u8>),
        SignedIn, Forbidden, NotFound,
        (status = 422, description = "No `sha256` given", body = ErrorBody)),
    security(("bearer" = [])))]
pub fn download_attachment(call: &Call<'_>) -> Result<Response, ApiError> {
    let reader = call.principal()?;
    let sha256 = call.query("sha256").unwrap_or_default();
    let (file, bytes) = call.levee.cases().attachment(call.id(), reader, &sha256)?;
    http::Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, file.media_type)
        // Never rendered in the console's origin: downloaded, not sniffed, and sandboxed if opened.
        .header(http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", file.file_name))
        .header(http::header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(http::header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'")
        .body(bytes.into())
        .map_err(|error| ApiError::Internal(error.to_string()))
}
