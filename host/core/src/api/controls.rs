//! Control endpoints under four eyes: the approval groups and floors in force (and whether the
//! configuration or an approved proposal set them), proposals waiting and decided; propose
//! groups or floors; approve (a second admin) or reject a proposal. Code routing changes are
//! proposed through `POST /v1/taxonomy/codes` and approved here.

use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::responses::{Conflict, Forbidden, JsonBody, SignedIn};
use super::{ApiError, Call, ErrorBody, Response, json_response, ok};
use crate::controls::{ControlProposal, DecidedProposal, ProposeControlRequest};
use crate::floors::Floors;
use crate::identity::{ApprovalGroup, Role};
use crate::proposal::ReviewRequest;
use crate::service::InForce;

const ADMINS: &[Role] = &[Role::Admin];

/// The controls in force and their proposals.
#[derive(Debug, Serialize, ToSchema)]
pub struct ControlsView {
    pub approval_groups: Vec<ApprovalGroup>,
    /// `configuration`, or `ledger` once an approved proposal set them.
    pub approval_groups_from: String,
    pub floors: Floors,
    /// `configuration`, or `ledger` once an approved proposal set them.
    pub floors_from: String,
    /// Waiting for a second admin, oldest first.
    pub proposals: Vec<ControlProposal>,
    /// Approved or rejected, oldest first.
    pub decided: Vec<DecidedProposal>,
}

impl From<InForce> for ControlsView {
    fn from(in_force: InForce) -> Self {
        let from = |set: bool| if set { "ledger" } else { "configuration" }.to_owned();
        ControlsView {
            approval_groups_from: from(in_force.record.approval_groups.is_some()),
            floors_from: from(in_force.record.floors.is_some()),
            approval_groups: in_force.approval_groups,
            floors: in_force.floors,
            proposals: in_force.record.proposals,
            decided: in_force.record.decided,
        }
    }
}

/// The approval groups and floors in force, the proposals waiting for a second admin, and every
/// proposal decided.
#[utoipa::path(get, path = "/v1/controls", tag = "controls",
    responses((status = 200, body = ControlsView), SignedIn, Forbidden),
    security(("bearer" = [])))]
pub fn read(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(&[Role::Admin, Role::Auditor], "reading the controls")?;
    ok(&ControlsView::from(call.levee.controls().read()?))
}

/// Propose approval groups or floors. Checked (groups: their shape, one per level, members who
/// are approvers; floors: as `levee config check` checks them), described (what it alters) and,
/// for floors, backtested on the last 30 days; then it waits for a second admin.
#[utoipa::path(post, path = "/v1/controls/proposals", tag = "controls", request_body = ProposeControlRequest,
    responses(
        (status = 202, description = "Proposed: it takes effect when a second admin approves it", body = ControlProposal),
        SignedIn, Forbidden, JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn propose(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "proposing a control change")?;
    let request: ProposeControlRequest = call.json()?;
    Ok(json_response(StatusCode::ACCEPTED, &call.levee.controls().propose(admin, &request)?))
}

/// Approve a waiting control proposal, as an admin other than its proposer: it is in force on
/// every host from the next request.
#[utoipa::path(post, path = "/v1/controls/proposals/{id}/approve", tag = "controls", request_body = ReviewRequest,
    params(("id" = u64, Path, description = "The proposal's number")),
    responses(
        (status = 200, description = "Approved and in force on every host", body = ControlsView),
        SignedIn,
        (status = 403, description = "Not an admin, or the admin who proposed it", body = ErrorBody),
        (status = 404, description = "No such proposal", body = ErrorBody),
        JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn approve(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "approving a control proposal")?;
    let request: ReviewRequest = call.json()?;
    let number = call.numbered_id("control proposal")?;
    ok(&ControlsView::from(call.levee.controls().approve(admin, number, &request)?))
}

/// Reject a waiting control proposal (its proposer's rejection withdraws it).
#[utoipa::path(post, path = "/v1/controls/proposals/{id}/reject", tag = "controls", request_body = ReviewRequest,
    params(("id" = u64, Path, description = "The proposal's number")),
    responses(
        (status = 200, body = ControlsView), SignedIn, Forbidden,
        (status = 404, description = "No such proposal", body = ErrorBody),
        JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn reject(call: &Call<'_>) -> Result<Response, ApiError> {
    let admin = call.principal_with(ADMINS, "rejecting a control proposal")?;
    let request: ReviewRequest = call.json()?;
    let number = call.numbered_id("control proposal")?;
    ok(&ControlsView::from(call.levee.controls().reject(admin, number, &request)?))
}
