//! Blocking HTTP calls from the levee component with deadlines, over WASI 0.2's outgoing HTTP:
//! how levee calls the plugins' runners through Spin's local service chaining. The levee core is
//! synchronous, and so is this: it waits on each response and a monotonic-clock timer together,
//! and gives up at whichever comes first.
//!
//! `call_all` makes every call before it waits for any: Spin starts a chained call as soon as it
//! is made (a task of its own, `crates/factor-outbound-http/src/wasi.rs`), so the runners work
//! at once, each in its own instance, and a chain takes about as long as its slowest plugin.
//!
//! Spin does not apply an outgoing request's timeouts to a chained call (it hands the request to
//! the other component in-process), so the timers here are the only deadlines.

use std::time::Duration;

use wasi::clocks::monotonic_clock;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasi::io::poll;
use wasi::io::streams::StreamError;

/// What a call came to.
#[derive(Debug)]
pub enum Answer {
    /// An HTTP answer: its status and body.
    Status(u16, Vec<u8>),
    /// No answer within the deadline.
    TimedOut,
    /// The call could not be made, or broke off.
    Unreachable(String),
}

/// One call: `method` (`GET` or `POST`, with `body` as JSON) `http://{authority}{path}`, whose
/// answer must start within `deadline` of when the calls are made.
pub struct Call {
    pub authority: String,
    pub method: &'static str,
    pub path: String,
    pub body: Vec<u8>,
    pub deadline: Duration,
}

/// Makes one call and waits for its answer.
pub fn call(call: Call) -> Answer {
    call_all([&call]).pop().unwrap_or_else(|| Answer::Unreachable("no answer".to_owned()))
}

/// Makes every call, then waits for each answer in turn: one answer per call, in order.
pub fn call_all<'a>(calls: impl IntoIterator<Item = &'a Call>) -> Vec<Answer> {
    let begun = monotonic_clock::now();
    let made: Vec<(&Call, Result<FutureIncomingResponse, String>)> =
        calls.into_iter().map(|call| (call, make(call))).collect();
    made.into_iter()
        .map(|(call, made)| {
            let deadline = begun.saturating_add(u64::try_from(call.deadline.as_nanos()).unwrap_or(u64::MAX));
            match made.and_then(|pending| answer(&pending, deadline)) {
                Ok(answer) => answer,
                Err(problem) => Answer::Unreachable(format!("http://{}{}: {problem}", call.authority, call.path)),
            }
        })
        .collect()
}

/// Sends the request: Spin starts handling it at once.
fn make(call: &Call) -> Result<FutureIncomingResponse, String> {
    let headers = Fields::new();
    if !call.body.is_empty() {
        headers
            .append(&"content-type".to_owned(), &b"application/json".to_vec())
            .map_err(|error| format!("header: {error:?}"))?;
    }
    let request = OutgoingRequest::new(headers);
    let method = if call.method == "POST" { Method::Post } else { Method::Get };
    request.set_method(&method).map_err(|()| "the method was refused".to_owned())?;
    request.set_scheme(Some(&Scheme::Http)).map_err(|()| "the scheme was refused".to_owned())?;
    request.set_authority(Some(&call.authority)).map_err(|()| "the authority was refused".to_owned())?;
    request.set_path_with_query(Some(&call.path)).map_err(|()| "the path was refused".to_owned())?;
    let outgoing = request.body().map_err(|()| "no request body".to_owned())?;
    let pending = outgoing_handler::handle(request, None).map_err(|error| describe(&error))?;
    write_body(outgoing, &call.body)?;
    Ok(pending)
}

/// The answer to a call made, if it starts by `deadline` (the monotonic clock's nanoseconds).
fn answer(pending: &FutureIncomingResponse, deadline: u64) -> Result<Answer, String> {
    let response_ready = pending.subscribe();
    let timer = monotonic_clock::subscribe_instant(deadline);
    if !poll::poll(&[&response_ready, &timer]).contains(&0) {
        return Ok(Answer::TimedOut);
    }
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(error))) => return Err(describe(&error)),
        Some(Err(())) | None => return Err("the response was already taken".to_owned()),
    };
    let status = response.status();
    let incoming = response.consume().map_err(|()| "no response body".to_owned())?;
    let answer = read_body(&incoming)?;
    IncomingBody::finish(incoming);
    Ok(Answer::Status(status, answer))
}

fn write_body(outgoing: OutgoingBody, body: &[u8]) -> Result<(), String> {
    {
        let stream = outgoing.write().map_err(|()| "no request body stream".to_owned())?;
        // blocking_write_and_flush takes at most 4,096 bytes a call.
        for chunk in body.chunks(4096) {
            stream.blocking_write_and_flush(chunk).map_err(|error| format!("writing the request: {error:?}"))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|error| describe(&error))
}

fn read_body(incoming: &IncomingBody) -> Result<Vec<u8>, String> {
    let stream = incoming.stream().map_err(|()| "no response body stream".to_owned())?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(bytes) => body.extend_from_slice(&bytes),
            Err(StreamError::Closed) => return Ok(body),
            Err(StreamError::LastOperationFailed(error)) => {
                return Err(format!("reading the response: {}", error.to_debug_string()));
            }
        }
    }
}

fn describe(error: &ErrorCode) -> String {
    format!("{error:?}")
}
