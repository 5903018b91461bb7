//! Proof over HTTP that levee's background jobs have run, for a test that then asserts the jobs
//! did *not* do something: a sleep proves nothing, since the jobs may not have run during it.
//!
//! Each tick of the jobs (host/server/src/jobs.rs) runs the governance schedule (SLA
//! escalation, the remediation loop) and then offers every outgoing webhook endpoint, in the
//! order of the configuration, the ledger past that endpoint's cursor. The witness is an
//! endpoint configured after the test's own, subscribed only to a signal the test never raises,
//! so nothing is ever sent to it: each tick just moves its cursor to the end of the ledger, and
//! nothing but a tick moves it. `GET /v1/webhooks/outgoing` shows the cursor.
//!
//! [`after_a_full_tick`] appends an entry and waits until the witness's cursor has passed it,
//! twice. The tick that passed the first entry ran its witness step after the call began; the
//! tick that passed the second began after that tick had ended (ticks never overlap, and a
//! witness step that moves the cursor ends its tick's turn for the witness). So the second tick
//! ran, from its governance run to its last delivery, wholly after the call began.
//!
//! Shared by the job tests through `#[path]`; each includes it as its own module.

use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use levee_core::outbox::OutgoingEndpoint;
use levee_tests::{TestServer, eventually, refund};

/// The witness's name.
pub const WITNESS: &str = "job-tick-witness";

/// The witness endpoint: put it last in `Options::outgoing_webhooks`. Nothing is sent to it as
/// long as the test raises no `remediation.reopened`; if it did, the send would fail and the
/// cursor stop, and [`after_a_full_tick`] would time out rather than pass.
pub fn witness() -> OutgoingEndpoint {
    OutgoingEndpoint {
        name: WITNESS.into(),
        url: "http://127.0.0.1:9/never-called".into(),
        secret: format!("whsec_{}", BASE64.encode([7u8; 32])),
        events: vec!["remediation.reopened".into()],
        retry_delays_ms: None,
    }
}

/// Returns once a whole tick of the background jobs has run after this call began. Each of its
/// two rounds submits an auto-approved $40 refund for a fresh customer (no signal, no queue, no
/// SLA), which the test must allow for.
pub async fn after_a_full_tick(server: &TestServer) {
    static ROUNDS: AtomicUsize = AtomicUsize::new(0);
    for _ in 0..2 {
        let round = ROUNDS.fetch_add(1, Ordering::Relaxed);
        let answer = server.submit(refund(4_000, &format!("job-tick-{round}"))).await;
        assert_eq!(answer["status"], "auto_approved", "the witness's entry waits for no one: {answer}");
        let end = server.ledger_len().await;
        eventually(&format!("a job tick to move the {WITNESS} cursor to ledger entry {end}"), || async {
            let (_, endpoints) = server.get("auditor", "/v1/webhooks/outgoing").await;
            let witness = endpoints.as_array().and_then(|all| all.iter().find(|endpoint| endpoint["name"] == WITNESS));
            let witness = witness.unwrap_or_else(|| panic!("no {WITNESS} among {endpoints}: configure witness()"));
            assert_eq!(witness["attempts"], 0, "nothing is ever sent to the witness: {witness}");
            (witness["cursor"].as_u64()? >= end).then_some(())
        })
        .await;
    }
}
