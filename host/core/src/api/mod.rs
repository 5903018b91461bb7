//! The HTTP API as plain functions over `http` types: the route table, authentication, JSON in
//! and out. Every shell (axum, Spin) hands a request here and sends back what comes out, so
//! the routes, validation and errors exist once.

mod audit;
mod cases;
mod comms;
mod console;
mod delegations;
mod error;
mod export;
mod meta;
mod metrics;
pub mod openapi;
mod policies;
mod queue;
mod remediation;
mod responses;
mod taxonomy;
mod timeline;
mod views;
mod webhooks;
mod workflow;

pub use error::{ApiError, ErrorBody};
pub use views::{CaseView, DecisionView};

use std::sync::LazyLock;

use http::{Method, StatusCode};
use serde::{Serialize, de::DeserializeOwned};

use crate::identity::{Principal, Role};
use crate::service::Levee;
use crate::validation::FieldError;

pub type Request = http::Request<Vec<u8>>;
pub type Response = http::Response<Vec<u8>>;

/// What a handler gets: the service, the request, and the `{id}` of the path if it has one.
pub struct Call<'a> {
    pub levee: &'a Levee,
    pub request: &'a Request,
    pub id: Option<String>,
}

type Handler = fn(&Call<'_>) -> Result<Response, ApiError>;

/// One path and the handler for each method it allows.
struct Route {
    methods: &'static [(Method, Handler)],
    allowed: &'static [&'static str],
}

static ROUTES: LazyLock<matchit::Router<Route>> = LazyLock::new(|| {
    let mut router = matchit::Router::new();
    for (path, route) in table() {
        router.insert(path, route).unwrap_or_else(|error| panic!("route table: {path}: {error}"));
    }
    router
});

/// Each path and its methods' handlers.
fn table() -> Vec<(&'static str, Route)> {
    vec![
        ("/healthz", Route { methods: &[(Method::GET, meta::health)], allowed: &["GET"] }),
        ("/v1/openapi.json", Route { methods: &[(Method::GET, meta::openapi_document)], allowed: &["GET"] }),
        ("/v1/me", Route { methods: &[(Method::GET, meta::me)], allowed: &["GET"] }),
        ("/v1/taxonomy", Route { methods: &[(Method::GET, taxonomy::current)], allowed: &["GET"] }),
        ("/v1/taxonomy/revisions", Route { methods: &[(Method::GET, taxonomy::revisions)], allowed: &["GET"] }),
        ("/v1/taxonomy/versions/{id}", Route { methods: &[(Method::GET, taxonomy::version)], allowed: &["GET"] }),
        ("/v1/taxonomy/codes", Route { methods: &[(Method::POST, taxonomy::put_code)], allowed: &["POST"] }),
        (
            "/v1/taxonomy/codes/{id}/deprecate",
            Route { methods: &[(Method::POST, taxonomy::deprecate)], allowed: &["POST"] },
        ),
        ("/v1/taxonomy/codes/{id}/merge", Route { methods: &[(Method::POST, taxonomy::merge)], allowed: &["POST"] }),
        ("/v1/cases", Route { methods: &[(Method::POST, cases::submit)], allowed: &["POST"] }),
        ("/v1/cases/{id}", Route { methods: &[(Method::GET, cases::get)], allowed: &["GET"] }),
        ("/v1/cases/{id}/approve", Route { methods: &[(Method::POST, cases::approve)], allowed: &["POST"] }),
        ("/v1/cases/{id}/reject", Route { methods: &[(Method::POST, cases::reject)], allowed: &["POST"] }),
        ("/v1/cases/{id}/cancel", Route { methods: &[(Method::POST, cases::cancel)], allowed: &["POST"] }),
        ("/v1/cases/{id}/evidence", Route { methods: &[(Method::POST, cases::attach_evidence)], allowed: &["POST"] }),
        (
            "/v1/cases/{id}/comms",
            Route { methods: &[(Method::GET, comms::read), (Method::POST, comms::draft)], allowed: &["GET", "POST"] },
        ),
        ("/v1/cases/{id}/comms/review", Route { methods: &[(Method::POST, comms::review)], allowed: &["POST"] }),
        ("/v1/queue", Route { methods: &[(Method::GET, queue::list)], allowed: &["GET"] }),
        ("/v1/remediation", Route { methods: &[(Method::GET, remediation::list)], allowed: &["GET"] }),
        ("/v1/scorecards", Route { methods: &[(Method::GET, remediation::scorecards)], allowed: &["GET"] }),
        ("/v1/remediation/{id}", Route { methods: &[(Method::GET, remediation::get)], allowed: &["GET"] }),
        ("/v1/remediation/{id}/start", Route { methods: &[(Method::POST, remediation::start)], allowed: &["POST"] }),
        ("/v1/remediation/{id}/fix", Route { methods: &[(Method::POST, remediation::fix)], allowed: &["POST"] }),
        (
            "/v1/delegations",
            Route {
                methods: &[(Method::GET, delegations::list), (Method::POST, delegations::grant)],
                allowed: &["GET", "POST"],
            },
        ),
        ("/v1/delegations/{id}/revoke", Route { methods: &[(Method::POST, delegations::revoke)], allowed: &["POST"] }),
        ("/v1/webhooks/outgoing", Route { methods: &[(Method::GET, webhooks::outgoing)], allowed: &["GET"] }),
        ("/v1/webhooks/{id}", Route { methods: &[(Method::POST, webhooks::receive)], allowed: &["POST"] }),
        ("/v1/intake/rejections", Route { methods: &[(Method::GET, webhooks::rejections)], allowed: &["GET"] }),
        ("/v1/findings", Route { methods: &[(Method::GET, webhooks::findings)], allowed: &["GET"] }),
        ("/v1/audit/verify", Route { methods: &[(Method::GET, audit::verify)], allowed: &["GET"] }),
        ("/v1/audit/checkpoint", Route { methods: &[(Method::GET, audit::checkpoint)], allowed: &["GET"] }),
        ("/v1/audit/proof/inclusion", Route { methods: &[(Method::GET, audit::inclusion_proof)], allowed: &["GET"] }),
        (
            "/v1/audit/proof/consistency",
            Route { methods: &[(Method::GET, audit::consistency_proof)], allowed: &["GET"] },
        ),
        ("/v1/ledger", Route { methods: &[(Method::GET, audit::ledger)], allowed: &["GET"] }),
        (
            "/v1/policies",
            Route {
                methods: &[(Method::GET, policies::registry), (Method::POST, policies::upload)],
                allowed: &["GET", "POST"],
            },
        ),
        ("/v1/policies/chain", Route { methods: &[(Method::POST, policies::activate)], allowed: &["POST"] }),
        ("/v1/policies/chain/rollback", Route { methods: &[(Method::POST, policies::rollback)], allowed: &["POST"] }),
        ("/v1/policies/{id}/backtest", Route { methods: &[(Method::POST, policies::backtest)], allowed: &["POST"] }),
        ("/v1/policies/shadow", Route { methods: &[(Method::POST, policies::start_shadow)], allowed: &["POST"] }),
        ("/v1/policies/shadow/stop", Route { methods: &[(Method::POST, policies::stop_shadow)], allowed: &["POST"] }),
        (
            "/v1/policies/shadow/differences",
            Route { methods: &[(Method::GET, policies::shadow_differences)], allowed: &["GET"] },
        ),
        ("/v1/export/cases", Route { methods: &[(Method::GET, export::cases)], allowed: &["GET"] }),
        ("/v1/export/ledger", Route { methods: &[(Method::GET, export::ledger)], allowed: &["GET"] }),
        ("/metrics", Route { methods: &[(Method::GET, metrics::prometheus)], allowed: &["GET"] }),
        ("/v1/metrics/summary", Route { methods: &[(Method::GET, metrics::summary)], allowed: &["GET"] }),
        ("/v1/metrics/leakage", Route { methods: &[(Method::GET, metrics::leakage)], allowed: &["GET"] }),
        ("/v1/metrics/cycle-time", Route { methods: &[(Method::GET, metrics::cycle_time)], allowed: &["GET"] }),
        ("/v1/metrics/evidence", Route { methods: &[(Method::GET, metrics::evidence)], allowed: &["GET"] }),
        ("/v1/metrics/outliers", Route { methods: &[(Method::GET, metrics::outliers)], allowed: &["GET"] }),
        ("/v1/metrics/drift", Route { methods: &[(Method::GET, metrics::drift)], allowed: &["GET"] }),
        (
            "/v1/metrics/baselines",
            Route {
                methods: &[(Method::GET, metrics::baselines), (Method::POST, metrics::set_baseline)],
                allowed: &["GET", "POST"],
            },
        ),
        ("/v1/charts/{id}", Route { methods: &[(Method::GET, metrics::chart)], allowed: &["GET"] }),
        ("/v1/reports/monthly", Route { methods: &[(Method::GET, metrics::monthly_report)], allowed: &["GET"] }),
        ("/", Route { methods: &[(Method::GET, console::redirect)], allowed: &["GET"] }),
        ("/console", Route { methods: &[(Method::GET, console::redirect)], allowed: &["GET"] }),
        ("/console/", Route { methods: &[(Method::GET, console::index)], allowed: &["GET"] }),
        ("/console/{id}", Route { methods: &[(Method::GET, console::asset)], allowed: &["GET"] }),
        ("/v1/workflow", Route { methods: &[(Method::GET, workflow::get)], allowed: &["GET"] }),
        ("/v1/cases/{id}/timeline", Route { methods: &[(Method::GET, timeline::get)], allowed: &["GET"] }),
    ]
}

/// Each path of the route table (`{id}` marks its parameter) with the methods it answers. The
/// authorization matrix test (tests/api/authorization.rs) holds every one against its access
/// policy, so a route added without a row there fails it.
pub fn route_table() -> Vec<(&'static str, Vec<Method>)> {
    let methods = |route: &Route| route.methods.iter().map(|(method, _)| method.clone()).collect();
    table().into_iter().map(|(path, route)| (path, methods(&route))).collect()
}

/// Answers one request. Never panics on input; every failure is a JSON error response.
pub fn handle(levee: &Levee, request: Request) -> Response {
    let answer = dispatch(levee, &request);
    // A request that may have changed something is answered once its writes are durable.
    let reads_only = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let answer = match answer {
        Ok(response) if !reads_only => levee.sync_store().map(|()| response).map_err(ApiError::from),
        other => other,
    };
    answer.unwrap_or_else(ApiError::into_response)
}

fn dispatch(levee: &Levee, request: &Request) -> Result<Response, ApiError> {
    let path = request.uri().path();
    let matched = ROUTES.at(path).map_err(|_| ApiError::NotFound(format!("no such endpoint: {path}")))?;
    let route = matched.value;
    let handler = route
        .methods
        .iter()
        .find(|(method, _)| method == request.method())
        .map(|(_, handler)| *handler)
        .ok_or(ApiError::MethodNotAllowed(route.allowed))?;
    let call = Call { levee, request, id: matched.params.get("id").map(str::to_owned) };
    handler(&call)
}

impl Call<'_> {
    /// The principal behind the bearer token; 401 without a valid one.
    pub fn principal(&self) -> Result<&Principal, ApiError> {
        let header = self.request.headers().get(http::header::AUTHORIZATION).and_then(|value| value.to_str().ok());
        header.and_then(|value| self.levee.settings.tokens.authenticate(value)).ok_or(ApiError::Unauthenticated)
    }

    /// The principal, if they hold one of `roles`; 403 otherwise.
    pub fn principal_with(&self, roles: &[Role], action: &str) -> Result<&Principal, ApiError> {
        let principal = self.principal()?;
        if roles.iter().any(|role| principal.has_role(*role)) {
            return Ok(principal);
        }
        let names: Vec<String> = roles.iter().map(|role| format!("{role:?}").to_lowercase()).collect();
        Err(ApiError::Forbidden(format!("{action} needs one of the roles: {}", names.join(", "))))
    }

    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// A request header as text, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.request.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
    }

    /// A query parameter, if present, with its `%XX` escapes and `+` decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.request.uri().query()?;
        form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
    }

    /// The body as JSON of type `T`; 400 for broken JSON, 422 naming the field otherwise.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let content_type = self.request.headers().get(http::header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
        let is_json = |value: &str| value.trim_start().to_ascii_lowercase().starts_with("application/json");
        if content_type.is_some_and(|value| !is_json(value)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(self.request.body())
    }

    /// A body that may be left out: no body, or JSON `null`, is `T::default()`.
    pub fn optional_json<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.request.body().is_empty() {
            return Ok(T::default());
        }
        Ok(self.json::<Option<T>>()?.unwrap_or_default())
    }
}

/// Parses JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::Invalid(field_error(&path, &inner.to_string())),
            _ => ApiError::MalformedJson(inner.to_string()),
        }
    })?;
    deserializer.end().map_err(|error| ApiError::MalformedJson(error.to_string()))?;
    Ok(value)
}

/// Turns serde's message into a field error, naming a missing or unknown field itself.
fn field_error(path: &str, message: &str) -> FieldError {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()));
    let field = match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => "body".to_owned(),
        (path, Some(name)) if !path.ends_with(name) => format!("{path}.{name}"),
        (path, _) => path.to_owned(),
    };
    let message = message.split(" at line ").next().unwrap_or(message);
    FieldError::new(field, message)
}

/// The default limit on a request body, in bytes (`levee serve`'s `http.body_bytes`; the Spin
/// component's fixed limit).
pub const DEFAULT_BODY_BYTES: usize = 64 * 1024;

/// A JSON response.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = http::Response::new(bytes);
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// 200 with a JSON body.
pub fn ok<T: Serialize>(body: &T) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, body))
}
