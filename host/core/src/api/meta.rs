//! Health, the OpenAPI document, who-am-I, and the taxonomy.

use super::{ApiError, Call, Response, ok};
use crate::identity::Principal;
use crate::taxonomy::Taxonomy;

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
#[utoipa::path(get, path = "/v1/me", tag = "meta", responses((status = 200, body = Principal)), security(("bearer" = [])))]
pub fn me(call: &Call<'_>) -> Result<Response, ApiError> {
    ok(call.principal()?)
}

/// The exception codes a case may be filed under.
#[utoipa::path(get, path = "/v1/taxonomy", tag = "meta", responses((status = 200, body = Taxonomy)), security(("bearer" = [])))]
pub fn taxonomy(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal()?;
    ok(&call.levee.settings.taxonomy)
}
