//! The OpenAPI 3.1 document, generated from the handlers' annotations and the types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    audit, cases, comms, delegations, export, meta, metrics, policies, queue, remediation, taxonomy, timeline,
    webhooks, workflow,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "levee", description = "Audit-ready refunds, credits, fee waivers and overrides."),
    paths(
        meta::health, meta::openapi_document, meta::me,
        taxonomy::current, taxonomy::revisions, taxonomy::version, taxonomy::put_code, taxonomy::deprecate,
        taxonomy::merge,
        cases::submit, cases::get, cases::approve, cases::reject, cases::cancel, cases::attach_evidence,
        queue::list, audit::verify, audit::ledger, audit::checkpoint, audit::inclusion_proof, audit::consistency_proof,
        delegations::grant, delegations::list, delegations::revoke, comms::draft, comms::review, comms::read,
        remediation::list, remediation::get, remediation::start, remediation::fix, remediation::scorecards, webhooks::outgoing,
        webhooks::receive, webhooks::rejections, webhooks::findings,
        policies::upload, policies::registry, policies::activate, policies::rollback, policies::backtest,
        policies::start_shadow, policies::stop_shadow, policies::shadow_differences,
        metrics::summary, metrics::leakage, metrics::cycle_time, metrics::evidence, metrics::outliers, metrics::drift,
        metrics::baselines, metrics::set_baseline, metrics::chart, metrics::monthly_report, metrics::prometheus,
        workflow::get, timeline::get,
        export::cases, export::ledger,
    ),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as served at `/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
