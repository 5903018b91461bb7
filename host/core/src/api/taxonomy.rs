//! Taxonomy endpoints: read the codes in force, their revisions and any earlier version; add,
//! change, deprecate and merge codes (admin).

use serde::Serialize;
use utoipa::ToSchema;

use super::responses::{Conflict, Forbidden, JsonBody, NotFound, SignedIn};
use super::{ApiError, Call, Response, json_response, ok};
use crate::controls::ControlProposal;
use crate::identity::Role;
use crate::service::CodeChange;
use crate::taxonomy::Taxonomy;
use crate::taxonomy_changes::{CurrentTaxonomy, DeprecateRequest, MergeRequest, PutCodeRequest, TaxonomyRevision};
use http::StatusCode;

const ADMINS: &[Role] = &[Role::Admin];

/// The taxonomy in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxonomyView {
    /// 0 until the first change through the API; each change adds one.
    pub revision: u64,
    pub taxonomy: Taxonomy,
    /// Shape problems worth fixing: too few or too many active codes, codes without a playbook.
    pub warnings: Vec<String>,
}

impl From<CurrentTaxonomy> for TaxonomyView {
    fn from(current: CurrentTaxonomy) -> Self {
        let taxonomy = std::sync::Arc::unwrap_or_clone(current.taxonomy);
        TaxonomyView { revision: current.revision, warnings: taxonomy.warnings(), taxonomy }
    }
}

/// The exception codes in force: active ones for new cases, deprecated and merged ones kept for
/// the cases filed under them.
#[utoipa::path(get, path = "/v1/taxonomy", tag = "taxonomy", responses((status = 200, body = TaxonomyView), SignedIn),
    security(("bearer" = [])))]
pub fn current(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal()?;
    call.levee.ledger_store().settle().map_err(crate::service::ServiceError::from)?;
    ok(&TaxonomyView::from(call.levee.taxonomy().current()?))
}

/// Every change of the taxonomy, oldest first: the version label it made, what changed, who,
/// when and why.
#[utoipa::path(get, path = "/v1/taxonomy/revisions", tag = "taxonomy",
    responses((status = 200, body = Vec<TaxonomyRevision>), SignedIn), security(("bearer" = [])))]
pub fn revisions(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal()?;
    ok(&call.levee.taxonomy().revisions()?)
}

/// The taxonomy as it was at a version label (the configuration's, or any revision's), as the
/// ledger recorded it: what a case filed under that version was coded against.
#[utoipa::path(get, path = "/v1/taxonomy/versions/{version}", tag = "taxonomy",
    params(("version" = String, Path, description = "A taxonomy version label, e.g. default-2026.11.r2")),
    responses((status = 200, body = Taxonomy), SignedIn, NotFound),
    security(("bearer" = [])))]
pub fn version(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal()?;
    ok(&call.levee.taxonomy().version(call.id())?)
}

/// Add a code, or change one (a deprecated or merged code given again is reinstated). A change
/// of how the code's cases are routed or approved (a new code; its queue, owner, SLA,
/// `escalate_always` or `customer_comms_required`) is a control proposal, with its backtest, that
/// takes effect when a second admin approves it (`POST /v1/controls/proposals/{id}/approve`):
/// 202. Any other change is recorded at once as a new taxonomy version: 200.
#[utoipa::path(post, path = "/v1/taxonomy/codes", tag = "taxonomy", request_body = PutCodeRequest,
    responses(
        (status = 200, description = "Changed: a new taxonomy version", body = TaxonomyView),
        (status = 202, description = "Proposed: it alters routing or approval, so it waits for a second admin", body = ControlProposal),
        SignedIn, Forbidden, JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn put_code(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "changing the taxonomy")?;
    let request: PutCodeRequest = call.json()?;
    match call.levee.taxonomy().put_code(admin, &request)? {
        CodeChange::Applied(current) => ok(&TaxonomyView::from(current)),
        CodeChange::Proposed(proposal) => Ok(json_response(StatusCode::ACCEPTED, &proposal)),
    }
}

/// Deprecate a code: new cases under it are refused, naming the valid codes; the cases filed
/// under it keep it.
#[utoipa::path(post, path = "/v1/taxonomy/codes/{code}/deprecate", tag = "taxonomy", request_body = DeprecateRequest,
    params(("code" = String, Path, description = "An active code")),
    responses((status = 200, body = TaxonomyView), SignedIn, Forbidden, JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn deprecate(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "changing the taxonomy")?;
    let request: DeprecateRequest = call.json()?;
    ok(&TaxonomyView::from(call.levee.taxonomy().deprecate_code(admin, call.id(), &request)?))
}

/// Merge a code into another: new cases must use `into`; the cases filed under the merged code
/// keep it.
#[utoipa::path(post, path = "/v1/taxonomy/codes/{code}/merge", tag = "taxonomy", request_body = MergeRequest,
    params(("code" = String, Path, description = "An active code")),
    responses((status = 200, body = TaxonomyView), SignedIn, Forbidden, JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn merge(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "changing the taxonomy")?;
    let request: MergeRequest = call.json()?;
    ok(&TaxonomyView::from(call.levee.taxonomy().merge_code(admin, call.id(), &request)?))
}
