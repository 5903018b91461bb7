//! Metrics endpoints: the reports under `/v1/metrics/…`, the dashboard's charts as SVG, the
//! baselines, the monthly review as HTML, and Prometheus text at `/metrics`. Readable by
//! approvers, auditors and admins; each answers from aggregates (see `crate::metrics`).

use http::StatusCode;

use super::{ApiError, Call, ErrorBody, Response, ok};
use crate::identity::Role;
use crate::metrics::baseline::{Baseline, BaselineRequest};
use crate::metrics::fold::{REPEATS_KEY, Repeats};
use crate::metrics::query::{self, CycleTimeReport, DriftReport, EvidenceReport, LeakageReport, OutlierReport, Scope};
use crate::metrics::summary::Summary;

const READERS: &[Role] = &[Role::Approver, Role::Auditor, Role::Admin];

/// The scope the query asks for (`from`, `to` as YYYY-MM; `team`), after checking the caller
/// may read metrics.
fn scope(call: &Call<'_>) -> Result<Scope, ApiError> {
    call.principal_with(READERS, "reading metrics")?;
    let team = call.query("team");
    let today = call.levee.clock.now().date_naive();
    Scope::parse(call.query("from").as_deref(), call.query("to").as_deref(), team, today).map_err(ApiError::Invalid)
}

fn text_response(content_type: &'static str, body: String) -> Response {
    let mut response = http::Response::new(body.into_bytes());
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// Headline figures (with their change against the team's baseline) and signals.
#[utoipa::path(get, path = "/v1/metrics/summary", tag = "metrics",
    params(("from" = Option<String>, Query, description = "first month, YYYY-MM (default: five months before `to`)"),
           ("to" = Option<String>, Query, description = "last month, YYYY-MM (default: this month)"),
           ("team" = Option<String>, Query, description = "one team (default: all)")),
    responses((status = 200, body = Summary), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub fn summary(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    ok(&call.levee.metrics_summary(&scope)?)
}

/// Leakage per month and currency, by cause, and broken down by band, code, approver and team.
#[utoipa::path(get, path = "/v1/metrics/leakage", tag = "metrics",
    params(("from" = Option<String>, Query), ("to" = Option<String>, Query), ("team" = Option<String>, Query)),
    responses((status = 200, body = LeakageReport), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub fn leakage(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    ok(&query::leakage(&scope, &call.levee.load_metrics(&scope)?))
}

/// p50 and p90 from submission to a person's decision, by band, code, approver and team, and
/// week by week.
#[utoipa::path(get, path = "/v1/metrics/cycle-time", tag = "metrics",
    params(("from" = Option<String>, Query), ("to" = Option<String>, Query), ("team" = Option<String>, Query)),
    responses((status = 200, body = CycleTimeReport), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub fn cycle_time(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    ok(&query::cycle_time(&scope, &call.levee.load_metrics(&scope)?))
}

/// The share of decided cases that carried every piece of evidence their decision required.
#[utoipa::path(get, path = "/v1/metrics/evidence", tag = "metrics",
    params(("from" = Option<String>, Query), ("to" = Option<String>, Query), ("team" = Option<String>, Query)),
    responses((status = 200, body = EvidenceReport), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub fn evidence(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    ok(&query::evidence(&scope, &call.levee.load_metrics(&scope)?))
}

/// Approvers and teams that stand out from their peers, and customers who repeat a code.
#[utoipa::path(get, path = "/v1/metrics/outliers", tag = "metrics",
    params(("from" = Option<String>, Query), ("to" = Option<String>, Query), ("team" = Option<String>, Query)),
    responses((status = 200, body = OutlierReport), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub fn outliers(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    let loaded = call.levee.load_metrics(&scope)?;
    let repeats = crate::projections::read::<Repeats>(&*call.levee.store, REPEATS_KEY)
        .map_err(crate::service::ServiceError::from)?
        .map(|(repeats, _)| repeats)
        .unwrap_or_default();
    ok(&query::outliers(&scope, &loaded, &repeats, &call.levee.settings.metrics))
}

/// Week-over-week drift of the code mix (PSI), approval rate and cycle time.
#[utoipa::path(get, path = "/v1/metrics/drift", tag = "metrics",
    params(("from" = Option<String>, Query), ("to" = Option<String>, Query), ("team" = Option<String>, Query)),
    responses((status = 200, body = DriftReport), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub fn drift(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    let loaded = call.levee.load_metrics(&scope)?;
    let current_week = crate::metrics::fold::PeriodKind::Week.id(call.levee.clock.now());
    ok(&query::drift(&scope, &loaded, &call.levee.settings.metrics, &current_week))
}

/// Each team's baseline weeks.
#[utoipa::path(get, path = "/v1/metrics/baselines", tag = "metrics",
    responses((status = 200, body = Vec<Baseline>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub fn baselines(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(READERS, "reading baselines")?;
    ok(&call.levee.baselines()?.into_values().collect::<Vec<_>>())
}

/// Marks a team's baseline weeks (admins for any team and `all`; approvers for their own).
#[utoipa::path(post, path = "/v1/metrics/baselines", tag = "metrics", request_body = BaselineRequest,
    responses((status = 201, body = Baseline), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub fn set_baseline(call: &Call<'_>) -> Result<Response, ApiError> {
    let actor = call.principal_with(&[Role::Admin, Role::Approver], "marking a baseline")?;
    let request: BaselineRequest = call.json()?;
    Ok(super::json_response(StatusCode::CREATED, &call.levee.set_baseline(actor, &request)?))
}

/// A dashboard chart as SVG: `leakage`, `cycle-time`, `pareto`, `approver-outliers`,
/// `remediation-sla` or `drift`.
#[utoipa::path(get, path = "/v1/charts/{id}", tag = "metrics",
    params(("id" = String, Path), ("from" = Option<String>, Query), ("to" = Option<String>, Query),
           ("team" = Option<String>, Query)),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub fn chart(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    Ok(text_response("image/svg+xml", call.levee.chart(call.id(), &scope)?))
}

/// The monthly review of `month` as one self-contained, printable HTML page.
#[utoipa::path(get, path = "/v1/reports/monthly", tag = "metrics",
    params(("month" = String, Query, description = "YYYY-MM")),
    responses((status = 200, content_type = "text/html", body = String), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub fn monthly_report(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(READERS, "reading the monthly review")?;
    let month = call.query("month").ok_or_else(|| {
        ApiError::Invalid(crate::validation::FieldError::new("month", "name the month: ?month=YYYY-MM"))
    })?;
    Ok(text_response("text/html; charset=utf-8", call.levee.monthly_report(&month)?))
}

/// The current month's metrics as Prometheus text (scrape with a bearer token).
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, content_type = "text/plain", body = String), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub fn prometheus(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(READERS, "scraping metrics")?;
    Ok(text_response("text/plain; version=0.0.4; charset=utf-8", call.levee.prometheus_text()?))
}
