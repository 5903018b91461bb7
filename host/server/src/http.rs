//! The axum shell: reads the body under the size limit and within the time limit, hands the
//! request to levee-core's route table on a blocking thread (the core is synchronous; policies
//! and the store block), and sends back what it answers. Tracing is a tower layer.
//!
//! The time limit covers receiving the request, not handling it: once the core has the request
//! it runs to its answer (each policy has its own deadline), because abandoning it could leave
//! a committed change reported as a failure.
//!
//! A body the core makes a piece at a time (an export, `api::Body::Pieces`) is made one piece
//! per blocking task, each when hyper asks for it, so nothing is made ahead of the client and no
//! thread waits on a slow one; a piece that fails (or whose task panics) aborts the body, and a
//! client that goes away stops the making.

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

fn to_axum(response: api::Response) -> Response {
    response.map(|body| match body {
        api::Body::Whole(bytes) => Body::from(bytes),
        api::Body::Pieces(pieces) => Body::from_stream(sent_as_made(pieces)),
    })
}

/// The pieces, each made on a blocking task (they read the store) when the body is asked for
/// its next. A failed piece, or a task that panicked, ends the stream with an error, which
/// aborts the body instead of ending it as if it were whole.
fn sent_as_made(pieces: api::Pieces) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::unfold(Some(pieces), |pieces| async move {
        let mut pieces = pieces?;
        let made = tokio::task::spawn_blocking(move || {
            let piece = pieces.next();
            (piece, pieces)
        })
        .await;
        match made {
            Ok((Some(Ok(piece)), pieces)) => Some((Ok(piece), Some(pieces))),
            Ok((Some(Err(problem)), _)) => Some((Err(std::io::Error::other(problem)), None)),
            Ok((None, _)) => None,
            Err(failed) => Some((Err(std::io::Error::other(format!("making the answer failed: {failed}"))), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    use levee_core::api;

    use super::to_axum;

    fn streamed(pieces: Vec<Result<&[u8], &str>>) -> api::Response {
        let pieces: Vec<Result<Vec<u8>, String>> =
            pieces.into_iter().map(|piece| piece.map(<[u8]>::to_vec).map_err(str::to_owned)).collect();
        http::Response::new(api::Body::Pieces(Box::new(pieces.into_iter())))
    }

    #[tokio::test]
    async fn pieces_are_sent_in_order_and_a_failed_piece_aborts_the_body() {
        let whole = to_axum(streamed(vec![Ok(b"id\r\n"), Ok(b"LV-000001\r\n"), Ok(b"LV-000002\r\n")]));
        assert!(whole.headers().get(http::header::CONTENT_LENGTH).is_none());
        let bytes = axum::body::to_bytes(whole.into_body(), usize::MAX).await.expect("every piece");
        assert_eq!(&bytes[..], b"id\r\nLV-000001\r\nLV-000002\r\n");

        let cut_short = to_axum(streamed(vec![Ok(b"id\r\n"), Err("the store went away"), Ok(b"never sent\r\n")]));
        let error = axum::body::to_bytes(cut_short.into_body(), usize::MAX).await.expect_err("the body is aborted");
        assert!(format!("{error:?}").contains("the store went away"), "{error:?}");
    }

    #[tokio::test]
    async fn a_piece_that_panics_aborts_the_body() {
        let mut made = 0;
        let pieces = std::iter::from_fn(move || {
            made += 1;
            assert!(made < 2, "a bug while making the second piece");
            Some(Ok(b"id\r\n".to_vec()))
        });
        let response = to_axum(http::Response::new(api::Body::Pieces(Box::new(pieces))));
        let error = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect_err("the body is aborted");
        assert!(format!("{error:?}").contains("making the answer failed"), "{error:?}");
    }
}
