//! Outgoing signals over real HTTP to a real local receiver: a decision awaiting a person is
//! sent as a Standard Webhook, retried with backoff (on the manual clock) until the receiver
//! accepts it, with the same webhook-id and a signature that verifies each time; nothing is
//! lost when the receiver is down across a restart of levee.

use crate::job_ticks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode as Status};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use levee_core::clock::ManualClock;
use levee_core::outbox::OutgoingEndpoint;
use levee_tests::{Options, TestServer, eventually, refund};
use serde_json::Value;
use sha2::Sha256;

const KEY: [u8; 32] = [42; 32];

/// What the receiver got: each request's headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A receiver on `addr` (or a free port) that fails the first `failures` requests with 503.
async fn receiver(addr: Option<SocketAddr>, failures: usize) -> (SocketAddr, Received, tokio::task::JoinHandle<()>) {
    let received: Received = Arc::default();
    let log = received.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let log = log.clone();
            async move {
                let mut log = log.lock().unwrap();
                log.push((headers, body.to_vec()));
                if log.len() <= failures { Status::SERVICE_UNAVAILABLE } else { Status::NO_CONTENT }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap())).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, received, task)
}

fn endpoint(addr: SocketAddr) -> OutgoingEndpoint {
    OutgoingEndpoint {
        name: "ops-alerts".into(),
        url: format!("http://{addr}/hooks"),
        secret: format!("whsec_{}", BASE64.encode(KEY)),
        events: vec![],
        retry_delays_ms: Some(vec![1_000, 1_000, 1_000]),
    }
}

/// A server on `clock` that sends every signal to the receiver at `addr`, its jobs ticking fast.
fn options(addr: SocketAddr, clock: &Arc<ManualClock>) -> Options {
    Options {
        clock: Some(clock.clone()),
        jobs_interval_ms: Some(20),
        outgoing_webhooks: vec![endpoint(addr)],
        ..Options::default()
    }
}

async fn requests_reach(received: &Received, count: usize) {
    let reached = || async { (received.lock().unwrap().len() >= count).then_some(()) };
    eventually(&format!("{count} requests at the receiver"), reached).await;
}

/// Checks a request as a receiver must: the signature over id.timestamp.body, computed here.
fn verified(headers: &HeaderMap, body: &[u8]) -> (String, Value) {
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let mut mac = Hmac::<Sha256>::new_from_slice(&KEY).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    assert!(header("webhook-signature").split(' ').any(|signature| signature == expected), "signature verifies");
    (id, serde_json::from_slice(body).unwrap())
}

/// On every backend, Spin included (where the scheduler's `POST /v1/jobs/run` sends it): a
/// decision awaiting a person reaches the receiver, signed, and the run's delivery is recorded.
#[tokio::test]
async fn a_decision_awaiting_a_person_reaches_the_receiver_signed() {
    let (addr, received, _receiver) = receiver(None, 0).await;
    let options = Options { jobs_interval_ms: Some(50), outgoing_webhooks: vec![endpoint(addr)], ..Options::default() };
    let server = TestServer::start_with(options).await;
    server.submit(refund(4_000, "small")).await; // auto-approved: no signal
    let pending = server.submit(refund(40_000, "waits")).await;
    requests_reach(&received, 1).await;
    let requests = received.lock().unwrap().clone();
    let (_, body) = verified(&requests[0].0, &requests[0].1);
    assert_eq!(
        (body["type"].as_str(), &body["data"]["subject"]),
        (Some("case.awaiting_approval"), &pending["case_id"])
    );
    let delivered = eventually("the delivery recorded", || async {
        let (_, endpoints) = server.get("auditor", "/v1/webhooks/outgoing").await;
        (endpoints[0]["delivered"] == 1).then_some(endpoints)
    })
    .await;
    assert_eq!(delivered[0]["log"][0]["result"], "204", "{delivered}");
    assert_eq!(received.lock().unwrap().len(), 1, "delivered once: {delivered}");
    server.stop().await;
}

#[tokio::test]
async fn a_decision_awaiting_a_person_is_retried_until_accepted_and_signed_each_time() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let (addr, received, _receiver) = receiver(None, 2).await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut options = options(addr, &clock);
    options.outgoing_webhooks.push(job_ticks::witness());
    let server = TestServer::start_with(options).await;
    server.submit(refund(4_000, "small")).await; // auto-approved: no signal
    let pending = server.submit(refund(40_000, "waits")).await;
    requests_reach(&received, 1).await;
    // Once the failure is recorded, with its retry due a second from now, a whole run of the jobs
    // on the unmoved clock sends nothing.
    let scheduled = eventually("the first failure recorded", || async {
        let (_, endpoints) = server.get("auditor", "/v1/webhooks/outgoing").await;
        (endpoints[0]["attempts"] == 1).then(|| endpoints[0]["next_attempt_at"].clone())
    })
    .await;
    let scheduled: DateTime<Utc> = scheduled.as_str().and_then(|at| at.parse().ok()).expect("next_attempt_at");
    assert_eq!(scheduled, clock_now(&clock) + Duration::seconds(1), "the retry is a second away");
    job_ticks::after_a_full_tick(&server).await;
    assert_eq!(received.lock().unwrap().len(), 1, "no retry before the backoff has passed");
    clock.advance(Duration::seconds(1));
    requests_reach(&received, 2).await;
    clock.advance(Duration::seconds(1));
    requests_reach(&received, 3).await;

    let requests = received.lock().unwrap().clone();
    let checked: Vec<(String, Value)> = requests.iter().map(|(headers, body)| verified(headers, body)).collect();
    assert!(checked.iter().all(|(id, _)| *id == checked[0].0), "a retry keeps its webhook-id");
    let body = &checked[2].1;
    assert_eq!(body["type"], "case.awaiting_approval");
    assert_eq!(body["data"]["subject"], pending["case_id"]);

    let (_, endpoints) = server.get("auditor", "/v1/webhooks/outgoing").await;
    let log = &endpoints[0];
    assert_eq!((log["delivered"].as_u64(), log["attempts"].as_u64()), (Some(1), Some(0)), "{endpoints}");
    let results: Vec<&str> =
        log["log"].as_array().unwrap().iter().map(|record| record["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["HTTP 503", "HTTP 503", "204"]);
    assert!(endpoints.to_string().find("whsec_").is_none(), "the secret is never shown");
    server.stop().await;
}

#[tokio::test]
async fn nothing_is_lost_while_the_receiver_is_down_across_a_restart() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    // A port with nothing listening: bind, note, close.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let options = options(addr, &clock);
    let server = TestServer::start_with(options.clone()).await;
    let pending = server.submit(refund(40_000, "while-down")).await;
    let first_failure = eventually("a first failed attempt", || async {
        let (_, endpoints) = server.get("auditor", "/v1/webhooks/outgoing").await;
        (endpoints[0]["attempts"].as_u64() >= Some(1)).then(|| endpoints[0]["log"][0]["result"].clone())
    })
    .await;
    assert!(first_failure.as_str().unwrap().starts_with("no answer"), "{first_failure}");
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;

    let (_, received, _receiver) = receiver(Some(addr), 0).await;
    clock.advance(Duration::seconds(1));
    let server = TestServer::start_in(&data_dir, &options).await;
    requests_reach(&received, 1).await;
    let (headers, body) = received.lock().unwrap()[0].clone();
    let (_, body) = verified(&headers, &body);
    assert_eq!(body["data"]["subject"], pending["case_id"]);
    server.stop().await;
    drop(temp);
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    use levee_core::clock::Clock;
    clock.now()
}
