//! The HTTP API as plain functions over `http` types: the route table, authentication, JSON in
//! and out. Every shell (axum, Spin) hands a request here and sends back what comes out, so
//! the routes, validation and errors exist once.

mod audit;
mod body;
mod cases;
mod comms;
mod console;
mod controls;
mod delegations;
mod error;
mod export;
mod jobs;
mod meta;
mod metrics;
pub mod openapi;
mod policies;
mod queue;
mod remediation;
pub mod render;
mod responses;
mod taxonomy;
mod timeline;
mod views;
mod webhooks;
mod workflow;

pub use body::{Body, Pieces};
pub use error::{ApiError, ErrorBody};
pub use views::{CaseView, DecisionView};

use std::sync::LazyLock;

use http::{Method, StatusCode};
use serde::{Serialize, de::DeserializeOwned};

use crate::identity::{Principal, Role};
use crate::service::Levee;
use crate::validation::FieldError;

pub type Request = http::Request<Vec<u8>>;
pub type Response = http::Response<Body>;

/// What a handler gets: the service, the request, and the `{id}` of the path if it has one.
pub struct Call<'a> {
    pub levee: &'a Levee,
    pub request: &'a Request,
    pub id: Option<String>,
}

type Handler = fn(&Call<'_>) -> Result<Response, ApiError>;

/// One path: the handler for each method it answers, and whether that method takes an upload
/// (a body up to the upload limit, not the body limit: a plugin's file).
#[derive(Default)]
struct Route {
    methods: Vec<(Method, Handler, Takes)>,
}

/// The request body a method of a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// Up to the body limit (`[http] body_bytes`, `DEFAULT_BODY_BYTES`).
    Request,
    /// Up to the upload limit (`[http] upload_bytes`).
    Upload,
}

impl Route {
    fn new() -> Route {
        Route::default()
    }

    fn get(self, handler: Handler) -> Route {
        self.answer(Method::GET, handler, Takes::Request)
    }

    fn post(self, handler: Handler) -> Route {
        self.answer(Method::POST, handler, Takes::Request)
    }

    fn post_upload(self, handler: Handler) -> Route {
        self.answer(Method::POST, handler, Takes::Upload)
    }

    fn answer(mut self, method: Method, handler: Handler, body: Takes) -> Route {
        self.methods.push((method, handler, body));
        self
    }

    fn allowed(&self) -> Vec<Method> {
        self.methods.iter().map(|(method, _, _)| method.clone()).collect()
    }
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
        ("/healthz", Route::new().get(meta::health)),
        ("/v1/openapi.json", Route::new().get(meta::openapi_document)),
        ("/v1/me", Route::new().get(meta::me)),
        ("/v1/taxonomy", Route::new().get(taxonomy::current)),
        ("/v1/taxonomy/revisions", Route::new().get(taxonomy::revisions)),
        ("/v1/taxonomy/versions/{id}", Route::new().get(taxonomy::version)),
        ("/v1/taxonomy/codes", Route::new().post(taxonomy::put_code)),
        ("/v1/taxonomy/codes/{id}/deprecate", Route::new().post(taxonomy::deprecate)),
        ("/v1/taxonomy/codes/{id}/merge", Route::new().post(taxonomy::merge)),
        ("/v1/cases", Route::new().post(cases::submit)),
        ("/v1/cases/{id}", Route::new().get(cases::get)),
        ("/v1/cases/{id}/approve", Route::new().post(cases::approve)),
        ("/v1/cases/{id}/reject", Route::new().post(cases::reject)),
        ("/v1/cases/{id}/cancel", Route::new().post(cases::cancel)),
        ("/v1/cases/{id}/evidence", Route::new().post(cases::attach_evidence)),
        (
            "/v1/cases/{id}/attachments",
            Route::new().get(cases::download_attachment).post_upload(cases::upload_attachment),
        ),
        ("/v1/cases/{id}/comms", Route::new().get(comms::read).post(comms::draft)),
        ("/v1/cases/{id}/comms/review", Route::new().post(comms::review)),
        ("/v1/queue", Route::new().get(queue::list)),
        ("/v1/remediation", Route::new().get(remediation::list)),
        ("/v1/scorecards", Route::new().get(remediation::scorecards)),
        ("/v1/remediation/{id}", Route::new().get(remediation::get)),
        ("/v1/remediation/{id}/start", Route::new().post(remediation::start)),
        ("/v1/remediation/{id}/fix", Route::new().post(remediation::fix)),
        ("/v1/delegations", Route::new().get(delegations::list).post(delegations::grant)),
        ("/v1/delegations/{id}/revoke", Route::new().post(delegations::revoke)),
        ("/v1/webhooks/outgoing", Route::new().get(webhooks::outgoing)),
        ("/v1/webhooks/{id}", Route::new().post(webhooks::receive)),
        ("/v1/intake/rejections", Route::new().get(webhooks::rejections)),
        ("/v1/findings", Route::new().get(webhooks::findings)),
        ("/v1/audit/verify", Route::new().get(audit::verify)),
        ("/v1/audit/checkpoint", Route::new().get(audit::checkpoint)),
        ("/v1/audit/proof/inclusion", Route::new().get(audit::inclusion_proof)),
        ("/v1/audit/proof/consistency", Route::new().get(audit::consistency_proof)),
        ("/v1/ledger", Route::new().get(audit::ledger)),
        ("/v1/policies", Route::new().get(policies::registry).post_upload(policies::upload)),
        ("/v1/controls", Route::new().get(controls::read)),
        ("/v1/controls/proposals", Route::new().post(controls::propose)),
        ("/v1/controls/proposals/{id}/approve", Route::new().post(controls::approve)),
        ("/v1/controls/proposals/{id}/reject", Route::new().post(controls::reject)),
        ("/v1/policies/chain", Route::new().post(policies::propose)),
        ("/v1/policies/chain/rollback", Route::new().post(policies::rollback)),
        ("/v1/policies/chains/{id}/confirm", Route::new().post(policies::confirm_rollback)),
        ("/v1/policies/proposals/{id}/approve", Route::new().post(policies::approve_proposal)),
        ("/v1/policies/proposals/{id}/reject", Route::new().post(policies::reject_proposal)),
        ("/v1/policies/{id}/backtest", Route::new().post(policies::backtest)),
        ("/v1/policies/shadow", Route::new().post(policies::start_shadow)),
        ("/v1/policies/shadow/stop", Route::new().post(policies::stop_shadow)),
        ("/v1/policies/shadow/differences", Route::new().get(policies::shadow_differences)),
        ("/v1/export/cases", Route::new().get(export::cases)),
        ("/v1/export/ledger", Route::new().get(export::ledger)),
        ("/metrics", Route::new().get(metrics::prometheus)),
        ("/v1/metrics/summary", Route::new().get(metrics::summary)),
        ("/v1/metrics/leakage", Route::new().get(metrics::leakage)),
        ("/v1/metrics/cycle-time", Route::new().get(metrics::cycle_time)),
        ("/v1/metrics/evidence", Route::new().get(metrics::evidence)),
        ("/v1/metrics/outliers", Route::new().get(metrics::outliers)),
        ("/v1/metrics/drift", Route::new().get(metrics::drift)),
        ("/v1/metrics/baselines", Route::new().get(metrics::baselines).post(metrics::set_baseline)),
        ("/v1/charts/{id}", Route::new().get(metrics::chart)),
        ("/v1/reports/monthly", Route::new().get(metrics::monthly_report)),
        ("/", Route::new().get(console::redirect)),
        ("/console", Route::new().get(console::redirect)),
        ("/console/", Route::new().get(console::index)),
        ("/console/{id}", Route::new().get(console::asset)),
        ("/v1/workflow", Route::new().get(workflow::get)),
        ("/v1/jobs/run", Route::new().post(jobs::run)),
        ("/v1/cases/{id}/timeline", Route::new().get(timeline::get)),
    ]
}

/// Each path of the route table (`{id}` marks its parameter) with the methods it answers. The
/// authorization matrix test (tests/api/authorization.rs) holds every one against its access
/// policy, so a route added without a row there fails it.
pub fn route_table() -> Vec<(&'static str, Vec<Method>)> {
    table().into_iter().map(|(path, route)| (path, route.allowed())).collect()
}

/// Whether `method` on `path` takes an upload: a body up to the upload limit rather than the
/// body limit. The shells ask before they read a body.
pub fn takes_upload(method: &Method, path: &str) -> bool {
    ROUTES.at(path).is_ok_and(|matched| {
        matched.value.methods.iter().any(|(answered, _, body)| answered == method && *body == Takes::Upload)
    })
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
        .find(|(method, _, _)| method == request.method())
        .map(|(_, handler, _)| *handler)
        .ok_or_else(|| ApiError::MethodNotAllowed(route.allowed()))?;
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

    /// The path's `{id}` as a number (a proposal's, a chain's); anything else names no `what`.
    pub fn numbered_id(&self, what: &str) -> Result<u64, ApiError> {
        self.id()
            .parse()
            .map_err(|_| ApiError::from(crate::service::ServiceError::NotFound(format!("{what} {}", self.id()))))
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
    let mut response = http::Response::new(bytes.into());
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// 200 with a JSON body.
pub fn ok<T: Serialize>(body: &T) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, body))
}
