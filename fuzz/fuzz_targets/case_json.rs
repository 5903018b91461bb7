//! Case submission bodies as `POST /v1/cases` receives them: parsed with the API's own
//! `parse_json`, hashed as an idempotent retry hashes them, and validated against the default
//! taxonomy for an agent, as the service validates them. Any bytes never panic and never make a
//! server error; an accepted submission round-trips through serde to the same submission, and
//! the case it makes reads back from JSON unchanged.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use http::StatusCode;
use levee_core::api::{ApiError, json_response, parse_json};
use levee_core::case::submit::ValidSubmission;
use levee_core::case::{self, Case, SubmitRequest};
use levee_core::decision::{self, CaseDecision};
use levee_core::engine::{PolicyDecision, PolicyEvaluation, PolicyIdentity, PolicyOutcome};
use levee_core::evidence::EvidenceKind;
use levee_core::taxonomy::Taxonomy;

static TAXONOMY: LazyLock<Taxonomy> = LazyLock::new(Taxonomy::default_taxonomy);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let request = match parse_json::<SubmitRequest>(data) {
        Ok(request) => request,
        Err(error) => return check_refusal(&error),
    };
    // With an Idempotency-Key, the service records the digest of the request as parsed.
    let _ = levee_core::ledger::sha256_of_json(&request);
    let submission = match request.validate(&common::agent(), &TAXONOMY) {
        Ok(submission) => submission,
        Err(error) => return check_refusal(&ApiError::Invalid(error)),
    };
    check_round_trip(&request, &submission);
    check_case_reads_back(submission);
});

/// A refused body is the client's fault (400 or 422), with a body that serializes.
fn check_refusal(error: &ApiError) {
    let status = error.status();
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
        "a bad submission answered {status}: {error:?}"
    );
    let _ = json_response(status, &error.body());
}

/// The accepted request, written out as JSON and parsed again, is the same submission.
fn check_round_trip(request: &SubmitRequest, submission: &ValidSubmission) {
    let body = serde_json::to_vec(request).expect("an accepted request serializes");
    let again: SubmitRequest = parse_json(&body).expect("a serialized request parses");
    let resubmission = again.validate(&common::agent(), &TAXONOMY).expect("a serialized request validates");
    assert_eq!(format!("{submission:?}"), format!("{resubmission:?}"), "round trip changed the submission");
}

/// The new case, as the store keeps it in JSON, reads back unchanged.
fn check_case_reads_back(submission: ValidSubmission) {
    let requester = common::agent();
    let context = case::SubmitContext {
        case_id: "LV-000001".to_owned(),
        requester: &requester,
        taxonomy_version: &TAXONOMY.version,
        at: at(),
        decision: decision(),
        idempotency_key: None,
        approval_groups: &[],
        attachments_must_be_stored: false,
    };
    let transition = case::submit(submission, context);
    let stored = serde_json::to_vec(&transition.case).expect("a case serializes");
    let read: Case = serde_json::from_slice(&stored).expect("a stored case reads back");
    assert_eq!(read, transition.case);
    let _ = levee_core::ledger::sha256_of_json(&transition.payload);
}

/// A chain that would auto-approve given an attachment, so both outcomes are reached.
fn decision() -> CaseDecision {
    let answer = PolicyDecision {
        outcome: PolicyOutcome::AutoApprove,
        required_evidence: vec![EvidenceKind::Attachment],
        route: None,
        signals: vec![],
        rule_id: "fuzz/auto".to_owned(),
    };
    let evaluation = PolicyEvaluation {
        policy: PolicyIdentity { name: "fuzz".into(), version: "1".into(), digest: "0".repeat(64) },
        result: Ok(answer),
        fuel_used: 0,
        elapsed_micros: 0,
        peak_memory_bytes: 0,
    };
    decision::combine(&[evaluation], at())
}

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_793_611_800, 0).expect("a valid time")
}
