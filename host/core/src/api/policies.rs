//! Rule-plugin endpoints: upload, read the registry, activate a chain, roll back.

use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::responses::{Conflict, Forbidden, JsonBody, PayloadTooLarge, RequestTimeout, SignedIn};
use super::{ApiError, Call, ErrorBody, Response, json_response, ok};
use crate::backtest::{BacktestReport, BacktestRequest};
use crate::engine::PolicyIdentity;
use crate::identity::Role;
use crate::projections::{SHADOW_DIFFERENCES_KEY, ShadowDifference, ShadowDifferences};
use crate::proposal::ReviewRequest;
use crate::registry::ChainProposal;
use crate::registry::ShadowChain;
use crate::registry::{PolicyRegistry, UploadedPolicy};
use crate::registry_changes::{ActivateRequest, RollbackRequest, ShadowRequest, StopShadowRequest};
use crate::service::HostChain;
use crate::validation::FieldError;

const ADMINS: &[Role] = &[Role::Admin];

/// The registry, and the chain this host has loaded.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryView {
    pub registry: PolicyRegistry,
    /// The policies deciding cases on this host now, in order.
    pub loaded: Vec<PolicyIdentity>,
    /// Whether this host runs the active chain, and if not, why (every case then fails closed).
    pub host: HostChain,
    /// Rollbacks one admin made that no second admin has confirmed yet (chain numbers).
    pub rollbacks_awaiting_confirmation: Vec<u64>,
}

/// Upload a rule plugin (the component's bytes as the body). It is checked before anything is
/// stored: a component, not over the size limit, importing only the contract's types,
/// exporting `levee:policy/rules`, compiling, and answering `describe()` within the sandbox
/// limits. Stored by sha256 digest; uploading the same bytes again changes nothing.
#[utoipa::path(post, path = "/v1/policies", tag = "policies",
    params(("name" = String, Query, pattern = "^[a-z][a-z0-9-]{0,63}$",
        description = "The plugin's name: lowercase letters, digits and hyphens, starting with a letter, at most 64")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses(
        (status = 201, description = "Uploaded and recorded in the ledger", body = UploadedPolicy),
        (status = 200, description = "These exact bytes were uploaded before", body = UploadedPolicy),
        SignedIn, Forbidden, RequestTimeout, PayloadTooLarge, Conflict,
        (status = 422, description = "Refused: the error names what is wrong with the plugin", body = ErrorBody),
        (status = 501, description = "This host cannot load uploaded plugins (levee on Spin): the error says how to deploy one", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub fn upload(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "uploading a rule plugin")?;
    let name = call
        .query("name")
        .ok_or_else(|| ApiError::Invalid(FieldError::new("name", "give the plugin's name: ?name=…")))?;
    let uploaded = call.levee.policies().upload(admin, &name, call.request.body())?;
    let status = if uploaded.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(status, &uploaded.policy))
}

/// Every upload, the chains proposed and waiting for a second admin, every chain activated
/// (the last is active), the rollbacks awaiting confirmation, and what this host runs now.
#[utoipa::path(get, path = "/v1/policies", tag = "policies",
    responses((status = 200, body = RegistryView), SignedIn, Forbidden),
    security(("bearer" = [])))]
pub fn registry(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(&[Role::Admin, Role::Auditor], "reading the policy registry")?;
    let host = call.levee.policies().host_chain()?;
    let loaded = if host.runs_active_chain { call.levee.engine.chain() } else { Vec::new() };
    let registry = call.levee.policies().registry()?;
    let rollbacks_awaiting_confirmation = registry.unconfirmed_rollbacks().map(|chain| chain.number).collect();
    ok(&RegistryView { registry, loaded, host, rollbacks_awaiting_confirmation })
}

/// Propose a chain of built-ins (by name) and uploaded plugins (by name and digest), in
/// evaluation order. It is checked as an activation is (it loads on this host, params match
/// each plugin's schema, a dry run on recent cases) and backtested on the last 30 days; then
/// it waits, in the ledger, for a second admin to approve it. Nothing decides cases yet.
#[utoipa::path(post, path = "/v1/policies/chain", tag = "policies", request_body = ActivateRequest,
    responses(
        (status = 202, description = "Proposed: it takes effect when a second admin approves it", body = ChainProposal),
        SignedIn, Forbidden, JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn propose(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "proposing a policy chain")?;
    let request: ActivateRequest = call.json()?;
    let proposal = call.levee.policies().propose_chain(admin, &request)?;
    Ok(json_response(StatusCode::ACCEPTED, &proposal))
}

/// Approve a waiting chain proposal, as an admin other than its proposer: it is checked on
/// this host again, dry-run on recent cases, and activated; every host switches before its
/// next decision.
#[utoipa::path(post, path = "/v1/policies/proposals/{id}/approve", tag = "policies", request_body = ReviewRequest,
    params(("id" = u64, Path, description = "The proposal's number")),
    responses(
        (status = 200, description = "Approved and active on every host", body = PolicyRegistry),
        SignedIn,
        (status = 403, description = "Not an admin, or the admin who proposed it", body = ErrorBody),
        (status = 404, description = "No such proposal", body = ErrorBody),
        JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn approve_proposal(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "approving a chain proposal")?;
    let request: ReviewRequest = call.json()?;
    ok(&call.levee.policies().approve_proposal(admin, call.numbered_id("chain proposal")?, &request)?)
}

/// Reject a waiting chain proposal (its proposer's rejection withdraws it). It never takes effect.
#[utoipa::path(post, path = "/v1/policies/proposals/{id}/reject", tag = "policies", request_body = ReviewRequest,
    params(("id" = u64, Path, description = "The proposal's number")),
    responses(
        (status = 200, body = PolicyRegistry), SignedIn, Forbidden,
        (status = 404, description = "No such proposal", body = ErrorBody),
        JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn reject_proposal(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "rejecting a chain proposal")?;
    let request: ReviewRequest = call.json()?;
    ok(&call.levee.policies().reject_proposal(admin, call.numbered_id("chain proposal")?, &request)?)
}

/// Restore an earlier chain (default: the one before the active one), as a new activation
/// that names the chain it restores. An emergency step one admin may take alone: it is in
/// force on every host at once, and flagged until a second admin confirms it.
#[utoipa::path(post, path = "/v1/policies/chain/rollback", tag = "policies", request_body = RollbackRequest,
    responses((status = 200, body = PolicyRegistry), SignedIn, Forbidden, JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn rollback(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "rolling back the policy chain")?;
    let request: RollbackRequest = call.json()?;
    ok(&call.levee.policies().rollback_chain(admin, &request)?)
}

/// Confirm a rollback, as an admin other than the one who made it: the flag on it clears.
#[utoipa::path(post, path = "/v1/policies/chains/{id}/confirm", tag = "policies", request_body = ReviewRequest,
    params(("id" = u64, Path, description = "The rollback's chain number")),
    responses(
        (status = 200, body = PolicyRegistry), SignedIn,
        (status = 403, description = "Not an admin, or the admin who made the rollback", body = ErrorBody),
        (status = 404, description = "No such chain", body = ErrorBody),
        JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn confirm_rollback(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "confirming a rollback")?;
    let request: ReviewRequest = call.json()?;
    ok(&call.levee.policies().confirm_rollback(admin, call.numbered_id("chain")?, &request)?)
}

/// Replay the facts of the last N days' cases (as the ledger recorded them) through a
/// candidate chain: the active chain with this uploaded plugin in it, or the `links` given.
/// Reports outcomes that change, approver workload by level, and per currency the amounts
/// auto-approved, needing approval and rejected, as decided and under the candidate.
#[utoipa::path(post, path = "/v1/policies/{digest}/backtest", tag = "policies",
    request_body(content = Option<BacktestRequest>, description = "Optional: no body replays the last 30 days with this plugin in the active chain"),
    params(("digest" = String, Path, description = "An uploaded plugin's sha256")),
    responses((status = 200, body = BacktestReport), SignedIn, Forbidden, JsonBody),
    security(("bearer" = [])))]
pub fn backtest(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(&[Role::Admin, Role::Auditor], "backtesting a rule plugin")?;
    let request: BacktestRequest = call.optional_json()?;
    ok(&call.levee.policies().backtest(call.id(), &request)?)
}

/// Run a candidate chain beside the active one on every new case, without affecting them;
/// each case's ledger entry records what the shadow would have decided.
#[utoipa::path(post, path = "/v1/policies/shadow", tag = "policies", request_body = ShadowRequest,
    responses((status = 200, body = PolicyRegistry), SignedIn, Forbidden, JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn start_shadow(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "starting a shadow chain")?;
    let request: ShadowRequest = call.json()?;
    ok(&call.levee.policies().start_shadow(admin, &request)?)
}

/// Stop the shadow chain.
#[utoipa::path(post, path = "/v1/policies/shadow/stop", tag = "policies", request_body = StopShadowRequest,
    responses((status = 200, body = PolicyRegistry), SignedIn, Forbidden, JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn stop_shadow(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "stopping the shadow chain")?;
    let request: StopShadowRequest = call.json()?;
    ok(&call.levee.policies().stop_shadow(admin, &request)?)
}

/// The shadow chain running now, and the most recent cases (up to 1,000) it would have decided
/// differently.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShadowView {
    pub shadow: Option<ShadowChain>,
    pub differences: Vec<ShadowDifference>,
}

/// Cases the shadow chain would have decided differently, oldest first.
#[utoipa::path(get, path = "/v1/policies/shadow/differences", tag = "policies",
    responses((status = 200, body = ShadowView), SignedIn, Forbidden),
    security(("bearer" = [])))]
pub fn shadow_differences(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(&[Role::Admin, Role::Auditor], "reading shadow differences")?;
    let shadow = call.levee.policies().registry()?.shadow;
    let differences = crate::projections::read::<ShadowDifferences>(&*call.levee.store, SHADOW_DIFFERENCES_KEY)?
        .map(|(differences, _)| differences.items)
        .unwrap_or_default();
    ok(&ShadowView { shadow, differences })
}
