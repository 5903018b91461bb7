//! Metrics endpoints: the reports under `/v1/metrics/…`, the dashboard's charts as SVG, the
//! baselines, the monthly review as HTML, and Prometheus text at `/metrics`. Readable by
//! approvers, auditors and admins; each answers from aggregates (see `crate::metrics`).

use http::StatusCode;
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};

use super::responses::{Conflict, Forbidden, Invalid, JsonBody, NotFound, SignedIn};
use super::{ApiError, Call, Response, ok, render};
use crate::identity::Role;
use crate::metrics::baseline::{Baseline, BaselineRequest};
use crate::metrics::fold::{REPEATS_KEY, Repeats};
use crate::metrics::query::{self, CycleTimeReport, DriftReport, EvidenceReport, LeakageReport, OutlierReport, Scope};
use crate::metrics::summary::Summary;

const READERS: &[Role] = &[Role::Approver, Role::Auditor, Role::Admin];

/// The scope a report takes (for the OpenAPI document; the handlers read it with `Call::query`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query; never built")]
struct ScopeQuery {
    /// First month (default: five months before `to`): not after `to`, and at most 36 months
    /// before it.
    #[param(value_type = Option<Month>, inline)]
    from: Option<String>,
    /// Last month (default: this month).
    #[param(value_type = Option<Month>, inline)]
    to: Option<String>,
    /// One team (default: all).
    team: Option<String>,
}

/// A month, `YYYY-MM`, in the years a report may name (the schema of a query parameter).
struct Month;

impl utoipa::PartialSchema for Month {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).pattern(Some(crate::metrics::query::MONTH_PATTERN)).into()
    }
}

impl utoipa::ToSchema for Month {}

/// One of the dashboard's charts (the schema of a path parameter).
struct ChartId;

impl utoipa::PartialSchema for ChartId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(crate::metrics::chart::CHART_IDS)).into()
    }
}

impl utoipa::ToSchema for ChartId {}

/// The scope the query asks for (`from`, `to` as YYYY-MM; `team`), after checking the caller
/// may read metrics.
fn scope(call: &Call<'_>) -> Result<Scope, ApiError> {
    call.principal_with(READERS, "reading metrics")?;
    let team = call.query("team");
    let today = call.levee.clock.now().date_naive();
    Scope::parse(call.query("from").as_deref(), call.query("to").as_deref(), team, today).map_err(ApiError::Invalid)
}

fn text_response(content_type: &'static str, body: String) -> Response {
    let mut response = http::Response::new(body.into_bytes().into());
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// Headline figures (with their change against the team's baseline) and signals.
#[utoipa::path(get, path = "/v1/metrics/summary", tag = "metrics",
    params(ScopeQuery),
    responses((status = 200, body = Summary), SignedIn, Forbidden, Invalid),
    security(("bearer" = [])))]
pub fn summary(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    ok(&call.levee.metrics().summary(&scope)?)
}

/// Leakage per month and currency, by cause, and broken down by band, code, approver and team.
#[utoipa::path(get, path = "/v1/metrics/leakage", tag = "metrics",
    params(ScopeQuery),
    responses((status = 200, body = LeakageReport), SignedIn, Forbidden, Invalid), security(("bearer" = [])))]
pub fn leakage(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    ok(&query::leakage(&scope, &call.levee.metrics().load(&scope)?))
}

/// p50 and p90 from submission to a person's decision, by band, code, approver and team, and
/// week by week.
#[utoipa::path(get, path = "/v1/metrics/cycle-time", tag = "metrics",
    params(ScopeQuery),
    responses((status = 200, body = CycleTimeReport), SignedIn, Forbidden, Invalid), security(("bearer" = [])))]
pub fn cycle_time(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    ok(&query::cycle_time(&scope, &call.levee.metrics().load(&scope)?))
}

/// The share of decided cases that carried every piece of evidence their decision required.
#[utoipa::path(get, path = "/v1/metrics/evidence", tag = "metrics",
    params(ScopeQuery),
    responses((status = 200, body = EvidenceReport), SignedIn, Forbidden, Invalid), security(("bearer" = [])))]
pub fn evidence(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    ok(&query::evidence(&scope, &call.levee.metrics().load(&scope)?))
}

/// Approvers and teams that stand out from their peers, and customers who repeat a code.
#[utoipa::path(get, path = "/v1/metrics/outliers", tag = "metrics",
    params(ScopeQuery),
    responses((status = 200, body = OutlierReport), SignedIn, Forbidden, Invalid), security(("bearer" = [])))]
pub fn outliers(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    let loaded = call.levee.metrics().load(&scope)?;
    let repeats = crate::projections::read::<Repeats>(&*call.levee.store, REPEATS_KEY)
        .map_err(crate::service::ServiceError::from)?
        .map(|(repeats, _)| repeats)
        .unwrap_or_default();
    ok(&query::outliers(&scope, &loaded, &repeats, &call.levee.settings.metrics))
}

/// Week-over-week drift of the code mix (PSI), approval rate and cycle time.
#[utoipa::path(get, path = "/v1/metrics/drift", tag = "metrics",
    params(ScopeQuery),
    responses((status = 200, body = DriftReport), SignedIn, Forbidden, Invalid), security(("bearer" = [])))]
pub fn drift(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    let loaded = call.levee.metrics().load(&scope)?;
    let current_week = crate::metrics::fold::PeriodKind::Week.id(call.levee.clock.now());
    ok(&query::drift(&scope, &loaded, &call.levee.settings.metrics, &current_week))
}

/// Each team's baseline weeks.
#[utoipa::path(get, path = "/v1/metrics/baselines", tag = "metrics",
    responses((status = 200, body = Vec<Baseline>), SignedIn, Forbidden), security(("bearer" = [])))]
pub fn baselines(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(READERS, "reading baselines")?;
    ok(&call.levee.metrics().baselines()?.into_values().collect::<Vec<_>>())
}

/// Marks a team's baseline weeks (admins for any team and `all`; approvers for their own).
#[utoipa::path(post, path = "/v1/metrics/baselines", tag = "metrics", request_body = BaselineRequest,
    responses((status = 201, body = Baseline), SignedIn, Forbidden, JsonBody, Conflict),
    security(("bearer" = [])))]
pub fn set_baseline(call: &Call<'_>) -> Result<Response, ApiError> {
    let actor = call.principal_with(&[Role::Admin, Role::Approver], "marking a baseline")?;
    let request: BaselineRequest = call.json()?;
    Ok(super::json_response(StatusCode::CREATED, &call.levee.metrics().set_baseline(actor, &request)?))
}

/// A dashboard chart as SVG: `leakage`, `cycle-time`, `pareto`, `approver-outliers`,
/// `remediation-sla` or `drift`.
#[utoipa::path(get, path = "/v1/charts/{id}", tag = "metrics",
    params(("id" = inline(ChartId), Path, description = "The chart"), ScopeQuery),
    responses((status = 200, content_type = "image/svg+xml", body = String), SignedIn, Forbidden, Invalid, NotFound),
    security(("bearer" = [])))]
pub fn chart(call: &Call<'_>) -> Result<Response, ApiError> {
    let scope = scope(call)?;
    let figures = call.levee.metrics().chart(call.id(), &scope)?;
    let svg =
        render::charts::svg(&figures).map_err(|problem| ApiError::Internal(format!("drawing the chart: {problem}")))?;
    Ok(text_response("image/svg+xml", svg))
}

/// The monthly review of `month` as one self-contained, printable HTML page.
#[utoipa::path(get, path = "/v1/reports/monthly", tag = "metrics",
    params(("month" = inline(Month), Query, description = "The month")),
    responses((status = 200, content_type = "text/html", body = String), SignedIn, Forbidden, Invalid),
    security(("bearer" = [])))]
pub fn monthly_report(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(READERS, "reading the monthly review")?;
    let month = call.query("month").ok_or_else(|| {
        ApiError::Invalid(crate::validation::FieldError::new("month", "name the month: ?month=YYYY-MM"))
    })?;
    let review = call.levee.metrics().monthly_review(&month)?;
    Ok(text_response("text/html; charset=utf-8", render::report::html(&review)))
}

/// The current month's metrics as Prometheus text (scrape with a bearer token).
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, content_type = "text/plain", body = String), SignedIn, Forbidden),
    security(("bearer" = [])))]
pub fn prometheus(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal_with(READERS, "scraping metrics")?;
    Ok(text_response("text/plain; version=0.0.4; charset=utf-8", call.levee.metrics().prometheus_text()?))
}
