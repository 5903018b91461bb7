//! Remediation endpoints: the board of items (any role), the owner team's steps, and the
//! scorecards per code and per team.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::responses::{Conflict, Forbidden, JsonBody, NotFound, SignedIn};
use super::{ApiError, Call, Response, ok};
use crate::remediation::{FixRequest, Rag, RemediationItem, StartRequest};

/// An item with its colour now.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemediationView {
    #[serde(flatten)]
    pub item: RemediationItem,
    pub rag: Rag,
    pub overdue: bool,
    pub as_of: DateTime<Utc>,
}

impl RemediationView {
    fn new(item: RemediationItem, now: DateTime<Utc>) -> Self {
        RemediationView { rag: item.rag(now), overdue: item.is_overdue(now), item, as_of: now }
    }
}

/// Every remediation item, newest first, with red/amber/green.
#[utoipa::path(get, path = "/v1/remediation", tag = "remediation",
    responses((status = 200, body = Vec<RemediationView>), SignedIn), security(("bearer" = [])))]
pub fn list(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal()?;
    let now = call.levee.clock.now();
    let items = call.levee.remediation().items()?;
    ok(&items.into_iter().map(|item| RemediationView::new(item, now)).collect::<Vec<_>>())
}

/// Red/amber/green per exception code and per owner team over the last 30 days, from
/// remediation status, SLA health (escalations per case) and evidence completeness.
#[utoipa::path(get, path = "/v1/scorecards", tag = "remediation",
    responses((status = 200, body = crate::scorecard::Scorecards), SignedIn), security(("bearer" = [])))]
pub fn scorecards(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal()?;
    ok(&call.levee.remediation().scorecards()?)
}

/// One item with its whole history.
#[utoipa::path(get, path = "/v1/remediation/{id}", tag = "remediation",
    params(("id" = String, Path, description = "e.g. RM-000001")),
    responses((status = 200, body = RemediationView), SignedIn, NotFound), security(("bearer" = [])))]
pub fn get(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal()?;
    ok(&RemediationView::new(call.levee.remediation().item(call.id())?, call.levee.clock.now()))
}

/// The owner team starts work on an open item.
#[utoipa::path(post, path = "/v1/remediation/{id}/start", tag = "remediation", request_body = StartRequest,
    params(("id" = String, Path)),
    responses((status = 200, body = RemediationView), SignedIn, Forbidden, JsonBody, NotFound, Conflict),
    security(("bearer" = [])))]
pub fn start(call: &Call<'_>) -> Result<Response, ApiError> {
    let actor = call.principal()?;
    let request: StartRequest = call.json()?;
    ok(&RemediationView::new(call.levee.remediation().start(actor, call.id(), &request)?, call.levee.clock.now()))
}

/// The owner team submits the fix with its closure evidence (playbook or SOP link, and what
/// changed). One trigger window later levee verifies it, or reopens the item.
#[utoipa::path(post, path = "/v1/remediation/{id}/fix", tag = "remediation", request_body = FixRequest,
    params(("id" = String, Path)),
    responses((status = 200, body = RemediationView), SignedIn, Forbidden, JsonBody, NotFound, Conflict),
    security(("bearer" = [])))]
pub fn fix(call: &Call<'_>) -> Result<Response, ApiError> {
    let actor = call.principal()?;
    let request: FixRequest = call.json()?;
    ok(&RemediationView::new(call.levee.remediation().submit_fix(actor, call.id(), &request)?, call.levee.clock.now()))
}
