//! Health, the OpenAPI document, and who-am-I.

use super::responses::Unauthenticated;
use super::{ApiError, Call, Response, ok};
use serde::Serialize;
use utoipa::ToSchema;

use crate::identity::Principal;
use crate::service::HostChain;

/// Whether this host is serving: `status` is `ok`, or `degraded` when it cannot run the
/// registry's active policy chain (it then fails every case closed; `policy_chain` says why).
/// A store that cannot be read answers 503.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "Serving", body = Health)))]
pub fn health(call: &Call<'_>) -> Result<Response, ApiError> {
    let policy_chain = call.levee.policies().host_chain()?;
    let status = if policy_chain.runs_active_chain { "ok" } else { "degraded" };
    ok(&Health { status, policy_chain })
}

/// What `/healthz` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded`.
    pub status: &'static str,
    pub policy_chain: HostChain,
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
