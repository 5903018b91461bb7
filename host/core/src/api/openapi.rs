//! The OpenAPI 3.1 document, generated from the handlers' annotations and the types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::responses::ErrorResponse;
use super::{
    ErrorBody, audit, cases, comms, controls, delegations, export, jobs, meta, metrics, policies, queue, remediation,
    taxonomy, timeline, webhooks, workflow,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "levee", description = "Audit-ready refunds, credits, fee waivers and overrides."),
    paths(
        meta::health, meta::openapi_document, meta::me,
        taxonomy::current, taxonomy::revisions, taxonomy::version, taxonomy::put_code, taxonomy::deprecate,
        taxonomy::merge,
        cases::submit, cases::get, cases::approve, cases::reject, cases::cancel, cases::attach_evidence,
        cases::upload_attachment, cases::download_attachment,
        queue::list, audit::verify, audit::ledger, audit::checkpoint, audit::inclusion_proof, audit::consistency_proof,
        delegations::grant, delegations::list, delegations::revoke, comms::draft, comms::review, comms::read,
        remediation::list, remediation::get, remediation::start, remediation::fix, remediation::scorecards, webhooks::outgoing,
        webhooks::receive, webhooks::rejections, webhooks::findings,
        policies::upload, policies::registry, policies::propose, policies::approve_proposal, policies::reject_proposal, policies::rollback,
        policies::confirm_rollback, policies::backtest, controls::read, controls::propose, controls::approve,
        controls::reject,
        policies::start_shadow, policies::stop_shadow, policies::shadow_differences,
        metrics::summary, metrics::leakage, metrics::cycle_time, metrics::evidence, metrics::outliers, metrics::drift,
        metrics::baselines, metrics::set_baseline, metrics::chart, metrics::monthly_report, metrics::prometheus,
        workflow::get, timeline::get,
        export::cases, export::ledger, jobs::run,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth, &ErrorResponses),
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

/// Every kind of error answer as a reusable response (`api::responses`), which the operations
/// refer to.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for kind in ErrorResponse::ALL {
            components.responses.insert(kind.name().to_owned(), kind.response().into());
        }
    }
}

/// The document as served at `/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn document_json() -> Value {
        serde_json::to_value(document()).expect("the document serializes")
    }

    /// Each operation as (method, path with its parameters unnamed).
    fn operations(document: &Value) -> Vec<(String, String, &Value)> {
        let mut operations = Vec::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                operations.push((method.to_uppercase(), unnamed(path), operation));
            }
        }
        operations
    }

    /// `/v1/cases/{id}/approve` → `/v1/cases/{}/approve`.
    fn unnamed(path: &str) -> String {
        path.split('/')
            .map(|segment| if segment.starts_with('{') { "{}" } else { segment })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The document describes every route levee answers but the web console's pages, and no
    /// route it does not answer.
    #[test]
    fn the_document_describes_the_route_table() {
        let document = document_json();
        let documented: BTreeSet<(String, String)> =
            operations(&document).into_iter().map(|(method, path, _)| (method, path)).collect();
        let console = ["/", "/console", "/console/", "/console/{}"];
        let routed: BTreeSet<(String, String)> = super::super::route_table()
            .into_iter()
            .filter(|(path, _)| !console.contains(&unnamed(path).as_str()))
            .flat_map(|(path, methods)| methods.into_iter().map(move |method| (method.to_string(), unnamed(path))))
            .collect();
        assert_eq!(documented, routed);
    }

    /// The error answers that follow from how an operation is called are documented wherever
    /// they can happen, and every reference names a response the components hold.
    #[test]
    fn every_operation_documents_the_errors_its_form_implies() {
        let document = document_json();
        let components = &document["components"]["responses"];
        for (method, path, operation) in operations(&document) {
            let responses = operation["responses"].as_object().expect("responses");
            let lacks = |status: &str| !responses.contains_key(status);
            if operation.get("security").is_some() {
                assert!(!lacks("401"), "{method} {path} takes a token but does not document 401");
            }
            let json_body = operation["requestBody"]["content"].get("application/json").is_some();
            if json_body && path != "/v1/webhooks/{}" {
                for status in ["400", "413", "415", "422"] {
                    assert!(!lacks(status), "{method} {path} reads JSON but does not document {status}");
                }
            }
            for (status, response) in responses {
                if let Some(reference) = response["$ref"].as_str() {
                    let name = reference.trim_start_matches("#/components/responses/");
                    assert!(components[name].is_object(), "{method} {path} {status}: no response {name}");
                }
            }
        }
    }
}
