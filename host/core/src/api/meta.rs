//! Health, the OpenAPI document, and who-am-I.

use super::responses::Unauthenticated;
use super::{ApiError, Call, Response, ok};
use crate::identity::Principal;

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "Serving")))]
pub fn health(_call: &Call<'_>) -> Result<Response, ApiError> {
    ok(&serde_json::json!({"status": "ok"}))
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub fn openapi_document(_call: &Call<'_>) -> Result<Response, ApiError> {
    ok(&super::openapi::document())
}

/// The principal behind your token: roles, team, approver level and authority.
#[utoipa::path(get, path = "/v1/me", tag = "meta", responses((status = 200, body = Principal), Unauthenticated),
    security(("bearer" = [])))]
pub fn me(call: &Call<'_>) -> Result<Response, ApiError> {
    ok(call.principal()?)
}
