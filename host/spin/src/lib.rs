//! levee on Spin: the same levee-core route table as `levee serve`, answering Spin's HTTP
//! trigger (spin-sdk 5.2, `wasi:http/incoming-handler@0.2.0`).
//!
//! Spin makes a fresh instance for every request, so each request builds levee from the Spin
//! environment (`environment`): the store (`store`: Spin's SQLite database, or Redis through
//! Spin's outbound Redis), the rule plugins, each a component of its own called through Spin's
//! local service chaining (`engine`, `outbound`), and the configuration in the `config`
//! variable. Spin has no background tasks: the schedule (SLA escalation, remediation, metrics,
//! outgoing webhooks, sent by `webhooks`) runs when a scheduler calls `POST /v1/jobs/run`.

mod engine;
mod environment;
mod outbound;
mod store;
mod webhooks;

use levee_core::api::{self, ApiError};

/// The largest body accepted: levee's default limit. Plugin uploads are exempt so that they get
/// the answer that explains how to deploy a plugin on Spin instead (501), not a 413.
const BODY_LIMIT: usize = api::DEFAULT_BODY_BYTES;

#[spin_sdk::http_component]
fn handle(request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    log_to_stderr();
    let is_upload = api::takes_upload(request.method(), request.uri().path());
    if request.body().len() > BODY_LIMIT && !is_upload {
        return ApiError::PayloadTooLarge { limit_bytes: BODY_LIMIT }.into_response();
    }
    let levee = match environment::levee() {
        Ok(levee) => levee,
        Err(problem) => return ApiError::Internal(problem).into_response(),
    };
    let response = api::handle(&levee, request);
    close_after_answering(levee);
    response
}

/// Leaves levee, and with it the store's database connection, to end with the instance: Spin
/// drops the instance once the handler has written its answer, and no sooner. Closing the last
/// connection to the SQLite database checkpoints its write-ahead log (reads, writes and flushes
/// files); every write of the request is already committed and durable, so the answer need not
/// wait for that. Nothing of levee's outlives the instance: Spin makes one per request.
fn close_after_answering(levee: levee_core::Levee) {
    std::mem::forget(levee);
}

/// Warnings and errors from levee-core go to the component's stderr, which Spin keeps in its
/// log. Once per instance; Spin makes one per request.
fn log_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .without_time()
        .with_ansi(false)
        .try_init();
}
