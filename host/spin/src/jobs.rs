//! The schedule on Spin. Spin runs no background tasks, so a scheduler (a Kubernetes CronJob
//! beside SpinKube, cron with curl, a Spin cron trigger) calls `POST /v1/jobs/run` with an admin
//! token, every 30 s or so. Each call does what one tick of `levee serve`'s timer does: the
//! governance run (SLA escalation, the remediation loop, the metrics fold), then the outgoing
//! webhooks that are due, through Spin's outbound HTTP (spin.toml's `allowed_outbound_hosts`
//! must list the receivers). Every step is idempotent; overlapping calls take turns on each
//! endpoint through the outbox's lease.

use levee_core::Levee;
use levee_core::api::{ApiError, json_response};
use levee_core::identity::Role;
use levee_core::outbox::{DeliveryOutcome, EndpointDeliveries, OutgoingMessage};
use serde::Serialize;

/// The path the scheduler calls.
pub const RUN_PATH: &str = "/v1/jobs/run";

pub fn is_run_request(request: &http::Request<Vec<u8>>) -> bool {
    request.uri().path() == RUN_PATH
}

/// What one call did.
#[derive(Debug, Serialize)]
struct JobsRun {
    governance: levee_core::governance::GovernanceRun,
    /// Per endpoint: messages delivered, and the failure that stopped it, if any.
    deliveries: Vec<EndpointDeliveries>,
}

pub fn run(levee: &Levee, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    match run_checked(levee, request) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn run_checked(levee: &Levee, request: &http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, ApiError> {
    if request.method() != http::Method::POST {
        return Err(ApiError::MethodNotAllowed(&["POST"]));
    }
    let header = request.headers().get(http::header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let principal =
        header.and_then(|value| levee.settings.tokens.authenticate(value)).ok_or(ApiError::Unauthenticated)?;
    if !principal.has_role(Role::Admin) {
        return Err(ApiError::Forbidden("running the schedule needs one of the roles: admin".into()));
    }
    let governance = levee.run_governance()?;
    levee.sync_store()?;
    let holder = format!("spin-{}", levee.clock.now().timestamp_nanos_opt().unwrap_or_default());
    let mut deliveries = Vec::new();
    for endpoint in &levee.settings.outgoing_webhooks {
        deliveries.push(levee.deliver_due(&endpoint.name, &holder, &mut |message| spin_sdk::http::run(send(message)))?);
    }
    Ok(json_response(http::StatusCode::OK, &JobsRun { governance, deliveries }))
}

/// POSTs one message; 2xx is delivered, anything else (or no answer) failed.
async fn send(message: &OutgoingMessage) -> DeliveryOutcome {
    let mut request = spin_sdk::http::Request::builder();
    request.method(spin_sdk::http::Method::Post).uri(&message.url);
    for (name, value) in &message.headers {
        request.header(*name, value.as_str());
    }
    let request = request.body(message.body.clone()).build();
    match spin_sdk::http::send::<_, spin_sdk::http::Response>(request).await {
        Ok(response) if (200..300).contains(response.status()) => {
            DeliveryOutcome::Delivered { status: *response.status() }
        }
        Ok(response) => DeliveryOutcome::Failed { reason: format!("HTTP {}", response.status()) },
        Err(error) => DeliveryOutcome::Failed { reason: format!("no answer: {error}") },
    }
}
