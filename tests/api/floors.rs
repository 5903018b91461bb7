//! Floors no chain can lower, over real HTTP on every backend: a chain that approves
//! everything (the threshold plugin given params that auto-approve any amount of any kind)
//! still cannot auto-approve an override or a $40,000 refund; the case names the floor.

use levee_core::matrix::{ApprovalMatrix, Band};
use levee_tests::{StatusCode, TestServer, case, refund};
use serde_json::{Value, json};

/// The threshold plugin's params, changed to auto-approve any amount of any kind.
fn approve_everything() -> Value {
    let mut matrix = ApprovalMatrix::default_matrix();
    matrix.never_auto_approve.clear();
    matrix.repeat_refunds_90d = 1_000_000;
    for ladder in matrix.ladders.values_mut() {
        ladder.auto_approve_up_to = 1_000_000_000_000;
        ladder.rationale_above = 1_000_000_000_000;
        ladder.attachment_above = 1_000_000_000_000;
        ladder.bands = vec![Band { up_to: 2_000_000_000_000, level: levee_core::identity::ApproverLevel::Lead }];
    }
    matrix.to_params()
}

fn floors_of(answer: &Value) -> Vec<String> {
    let floors = answer["decision"]["floors"].as_array().cloned().unwrap_or_default();
    floors.iter().map(|floor| floor.as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn an_approve_everything_chain_cannot_lower_the_floors() {
    let server = TestServer::start().await;
    let links = json!([{"name": "threshold", "params": approve_everything()}, {"name": "routing"}]);
    let (status, answer) = server.activate_chain(json!({"links": links, "rationale": "CR-40: trust everyone"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let small = server.submit(refund(4_000, "small")).await;
    assert_eq!((small["status"].as_str(), floors_of(&small).len()), (Some("auto_approved"), 0), "{small}");

    let big = server.submit(refund(4_000_000, "big")).await;
    let decision = &big["decision"];
    assert_eq!(
        (decision["outcome"].as_str(), decision["level"].as_str(), decision["approvals_needed"].as_u64()),
        (Some("pending_approval"), Some("director"), Some(2)),
        "{big}"
    );
    let floors = floors_of(&big);
    assert!(floors[0].starts_with("floors.auto_approve_max.USD: nothing above 50.00 USD auto-approves"), "{floors:?}");
    assert!(
        floors[1].starts_with("floors.min_levels.USD: above 25000.00 USD needs director approval x2"),
        "{floors:?}"
    );
    assert_eq!(decision["policies"][0]["verdict"], "auto_approve", "the chain itself approved it");

    let override_case = server.submit(case("override", 100, "USD", "ov", "SYSTEM_CALCULATION_OVERRIDE")).await;
    assert_eq!(override_case["status"], "pending_approval", "{override_case}");
    assert_eq!(floors_of(&override_case), ["floors.never_auto_approve: override never auto-approves"]);

    let (_, read) = server.get("auditor", &format!("/v1/cases/{}", big["case_id"].as_str().unwrap())).await;
    let recorded = &read["ledger"][0]["payload"]["decision"]["floors"];
    assert_eq!(recorded.as_array().map(Vec::len), Some(2), "the ledger records the floors: {read}");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}
