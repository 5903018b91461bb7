//! Delegation endpoints: grant your authority to a colleague for a dated window, list, revoke.

use http::StatusCode;

use super::responses::{Conflict, Forbidden, JsonBody, NotFound, SignedIn};
use super::{ApiError, Call, Response, json_response, ok};
use crate::delegation::{DelegateRequest, Delegation, RevokeRequest};
use crate::identity::Role;

/// Hand your approval authority to a colleague (an approver) from `starts_at` to `ends_at`,
/// at most 90 days. They approve on your behalf with exactly your authority, never more.
#[utoipa::path(post, path = "/v1/delegations", tag = "delegations", request_body = DelegateRequest,
    responses((status = 201, body = Delegation), SignedIn, Forbidden, JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn grant(call: &Call<'_>) -> Result<Response, ApiError> {
    let delegator = call.principal_with(&[Role::Approver], "delegating approval authority")?;
    let request: DelegateRequest = call.json()?;
    Ok(json_response(StatusCode::CREATED, &call.levee.delegations().grant(delegator, &request)?))
}

/// Delegations: all of them for admins and auditors, otherwise those you gave or hold.
#[utoipa::path(get, path = "/v1/delegations", tag = "delegations",
    responses((status = 200, body = Vec<Delegation>), SignedIn), security(("bearer" = [])))]
pub fn list(call: &Call<'_>) -> Result<Response, ApiError> {
    let principal = call.principal()?;
    let sees_all = principal.has_role(Role::Admin) || principal.has_role(Role::Auditor);
    ok(&call.levee.delegations().list((!sees_all).then_some(principal.actor.as_str()))?)
}

/// Revoke a delegation (its delegator, or an admin).
#[utoipa::path(post, path = "/v1/delegations/{id}/revoke", tag = "delegations", request_body = RevokeRequest,
    params(("id" = String, Path, description = "A delegation id, e.g. DG-1")),
    responses((status = 200, body = Delegation), SignedIn, Forbidden, JsonBody, NotFound, Conflict),
    security(("bearer" = [])))]
pub fn revoke(call: &Call<'_>) -> Result<Response, ApiError> {
    let actor = call.principal()?;
    let request: RevokeRequest = call.json()?;
    ok(&call.levee.delegations().revoke(actor, call.id(), &request)?)
}
