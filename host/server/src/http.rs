//! The axum shell: reads the body under the size limit and within the time limit, hands the
//! request to levee-core's route table on a blocking thread (the core is synchronous; policies
//! and the store block), and sends back what it answers. Tracing is a tower layer.
//!
//! The time limit covers receiving the request, not handling it: once the core has the request
//! it runs to its answer (each policy has its own deadline), because abandoning it could leave
//! a committed change reported as a failure.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use levee_core::Levee;
use levee_core::api::{self, ApiError};
use tower_http::trace::TraceLayer;

use crate::config::HttpLimits;

#[derive(Clone)]
struct Shell {
    levee: Arc<Levee>,
    limits: HttpLimits,
}

/// The whole HTTP application: every path goes to the core's route table.
pub fn app(levee: Arc<Levee>, limits: HttpLimits) -> Router {
    Router::new().fallback(forward).with_state(Shell { levee, limits }).layer(TraceLayer::new_for_http())
}

async fn forward(State(shell): State<Shell>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let is_upload = levee_core::api::takes_upload(&parts.method, parts.uri.path());
    let limit = if is_upload { shell.limits.upload_bytes } else { shell.limits.body_bytes };
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return to_axum(ApiError::PayloadTooLarge { limit_bytes: limit }.into_response());
    }
    let timeout = Duration::from_millis(shell.limits.timeout_ms);
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return to_axum(ApiError::PayloadTooLarge { limit_bytes: limit }.into_response()),
        Err(_) => return to_axum(ApiError::RequestTimeout { limit_ms: shell.limits.timeout_ms }.into_response()),
    };
    let request = http::Request::from_parts(parts, bytes.to_vec());
    // The request's own view of levee: its store session travels with it (`Levee::for_request`).
    let levee = shell.levee.for_request();
    match tokio::task::spawn_blocking(move || api::handle(&levee, request)).await {
        Ok(response) => to_axum(response),
        Err(error) => to_axum(ApiError::Internal(format!("request handler failed: {error}")).into_response()),
    }
}

fn to_axum(response: http::Response<Vec<u8>>) -> Response {
    response.map(Body::from)
}
