//! Outgoing webhooks from Spin: levee's `WebhookSender` over Spin's outbound HTTP (spin.toml's
//! `allowed_outbound_hosts` must list each receiver). Spin runs no background tasks, so the
//! schedule that sends them runs when a scheduler (a Kubernetes CronJob beside SpinKube, cron
//! with curl, a Spin cron trigger) calls `POST /v1/jobs/run` with an admin token, every 30 s or
//! so: the core's route, as on `levee serve`.

use levee_core::outbox::{DeliveryOutcome, OutgoingMessage, WebhookSender};

pub struct SpinSender;

impl WebhookSender for SpinSender {
    /// POSTs one message, waiting for the answer; 2xx is delivered, anything else (or no
    /// answer) failed. The core is synchronous: spin-sdk's executor runs the request to its end.
    fn send(&self, message: &OutgoingMessage) -> DeliveryOutcome {
        let mut request = spin_sdk::http::Request::builder();
        request.method(spin_sdk::http::Method::Post).uri(&message.url);
        for (name, value) in &message.headers {
            request.header(*name, value.as_str());
        }
        let request = request.body(message.body.clone()).build();
        match spin_sdk::http::run(spin_sdk::http::send::<_, spin_sdk::http::Response>(request)) {
            Ok(response) if (200..300).contains(response.status()) => {
                DeliveryOutcome::Delivered { status: *response.status() }
            }
            Ok(response) => DeliveryOutcome::Failed { reason: format!("HTTP {}", response.status()) },
            Err(error) => DeliveryOutcome::Failed { reason: format!("no answer: {error}") },
        }
    }
}
