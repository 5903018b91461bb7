//! levee on Spin: the same levee-core route table as `levee serve`, answering Spin's HTTP
//! trigger (spin-sdk 5.2, `wasi:http/incoming-handler@0.2.0`).
//!
//! Spin makes a fresh instance for every request, so each request builds levee from the Spin
//! environment (`environment`): the store (`store`: Spin's SQLite database, or Redis through
//! Spin's outbound Redis), the rule plugins, each a component of its own called through Spin's
//! local service chaining (`engine`, `outbound`), and the configuration in the `config`
//! variable. Spin has no background tasks: the schedule (SLA escalation, remediation, metrics,
//! outgoing webhooks, sent by `webhooks`) runs when a scheduler calls `POST /v1/jobs/run`.
//!
//! The handler answers first and closes levee after: Spin sends the answer as soon as the
//! handler has written it, and the instance lives on until the handler returns, so the store's
//! connection is closed after the client has its answer, once the store has lingered
//! (`store::linger_after_answer`).

mod engine;
mod environment;
mod outbound;
mod store;
mod webhooks;

use levee_core::api::{self, ApiError};
use spin_sdk::http::conversions::TryFromIncomingRequest;
use spin_sdk::http::{IncomingRequest, IntoResponse, OutgoingBody, OutgoingResponse, ResponseOutparam};

/// The largest body accepted: levee's default limit. Plugin uploads are exempt so that they get
/// the answer that explains how to deploy a plugin on Spin instead (501), not a 413.
const BODY_LIMIT: usize = api::DEFAULT_BODY_BYTES;

#[spin_sdk::http_component]
async fn handle(incoming: IncomingRequest, response_out: ResponseOutparam) {
    log_to_stderr();
    let request = match http::Request::<Vec<u8>>::try_from_incoming_request(incoming).await {
        Ok(request) => request,
        // The body could not be read (the client went away): Spin's own answer.
        Err(error) => return send_whole(response_out, error).await,
    };
    let (response, levee) = answer(request);
    send(response_out, response);
    if let Some(levee) = levee {
        close_after_lingering(levee);
    }
}

/// levee's answer to `request`, and levee itself (if it could be built) for the caller to close.
fn answer(request: http::Request<Vec<u8>>) -> (api::Response, Option<levee_core::Levee>) {
    let is_upload = api::takes_upload(request.method(), request.uri().path());
    if request.body().len() > BODY_LIMIT && !is_upload {
        return (ApiError::PayloadTooLarge { limit_bytes: BODY_LIMIT }.into_response(), None);
    }
    let levee = match environment::levee() {
        Ok(levee) => levee,
        Err(problem) => return (ApiError::Internal(problem).into_response(), None),
    };
    let response = api::handle(&levee, request);
    (response, Some(levee))
}

/// Sends Spin's own answer (a request whose body could not be read) whole.
async fn send_whole(response_out: ResponseOutparam, response: impl IntoResponse) {
    let mut response = response.into_response();
    let body = std::mem::take(response.body_mut());
    match OutgoingResponse::try_from(response) {
        Ok(outgoing) => {
            if let Err(error) = response_out.set_with_body(outgoing, body).await {
                eprintln!("levee: the answer could not be sent: {error}");
            }
        }
        Err(error) => eprintln!("levee: the answer could not be made: {error}"),
    }
}

/// Sends levee's answer, its body whole or a piece at a time as the pieces are made (an
/// export): once this returns, the client has its answer. A piece that fails leaves the body
/// unfinished, which Spin's host reports to the client as a broken transfer (WASI HTTP: an
/// `outgoing-body` dropped without `finish` is a failed one), not as a complete file.
fn send(response_out: ResponseOutparam, response: api::Response) {
    let (parts, body) = response.into_parts();
    let head = http::Response::from_parts(parts, Vec::<u8>::new()).into_response();
    let outgoing = match OutgoingResponse::try_from(head) {
        Ok(outgoing) => outgoing,
        Err(error) => return eprintln!("levee: the answer could not be made: {error}"),
    };
    let Ok(outgoing_body) = outgoing.body() else {
        return eprintln!("levee: the answer's body was already taken");
    };
    response_out.set(outgoing);
    let pieces: api::Pieces = match body {
        api::Body::Whole(bytes) => Box::new(std::iter::once(Ok(bytes))),
        api::Body::Pieces(pieces) => pieces,
    };
    match write_pieces(&outgoing_body, pieces) {
        Ok(()) => {
            if let Err(error) = OutgoingBody::finish(outgoing_body, None) {
                eprintln!("levee: the answer could not be finished: {error}");
            }
        }
        Err(problem) => {
            eprintln!("levee: the answer was cut short: {problem}");
            drop(outgoing_body);
        }
    }
}

/// Writes every piece to the body, in order, each as much at a time as the stream takes
/// (`check-write`), then flushed. The stream is dropped on return, before the body is finished,
/// as WASI asks.
fn write_pieces(body: &OutgoingBody, pieces: api::Pieces) -> Result<(), String> {
    let stream = body.write().map_err(|()| "the answer's body stream was already taken".to_owned())?;
    let failed = |error: wasi::io::streams::StreamError| format!("the answer could not be written: {error}");
    for piece in pieces {
        let piece = piece?;
        let mut rest = piece.as_slice();
        while !rest.is_empty() {
            let room = usize::try_from(stream.check_write().map_err(failed)?).unwrap_or(usize::MAX);
            if room == 0 {
                stream.subscribe().block();
                continue;
            }
            let (now, later) = rest.split_at(room.min(rest.len()));
            stream.write(now).map_err(failed)?;
            rest = later;
        }
        stream.blocking_flush().map_err(failed)?;
    }
    Ok(())
}

/// Closes levee, and with it the store's connection, once the store's time to linger after an
/// answer has passed (`store::linger_after_answer`: the SQLite store keeps its connection open
/// a little, so that closing it is not what checkpoints the database after every request).
fn close_after_lingering(levee: levee_core::Levee) {
    let linger = store::linger_after_answer();
    if !linger.is_zero() {
        wasi::clocks::monotonic_clock::subscribe_duration(u64::try_from(linger.as_nanos()).unwrap_or(u64::MAX)).block();
    }
    drop(levee);
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
