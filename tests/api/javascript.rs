//! The contract is language-neutral: a rule plugin written in JavaScript (componentize-qjs,
//! importing the deterministic WASI subset) is uploaded, activated and decides cases over
//! real HTTP like a Rust one, each decision naming its digest.

use levee_tests::{StatusCode, TestServer, javascript_plugin, refund, run_of, skip_on_spin};
use serde_json::json;

#[tokio::test]
async fn a_javascript_plugin_decides_cases_like_any_other() {
    if skip_on_spin("Spin cannot load uploaded plugins") {
        return;
    }
    let server = TestServer::start().await;
    let (status, uploaded) =
        server.post_raw("admin", "/v1/policies?name=repeat-guard", "application/wasm", javascript_plugin()).await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    assert_eq!(uploaded["version"], "0.2.0");
    let digest = uploaded["digest"].as_str().unwrap().to_owned();
    let links = json!([
        {"name": "threshold"}, {"name": "routing"},
        {"name": "repeat-guard", "digest": digest, "params": {"max_refunds": 2, "level": "manager"}},
    ]);
    let (status, activated) = server.activate_chain(json!({"links": links, "rationale": "pilot the JS guard"})).await;
    assert_eq!(status, StatusCode::OK, "{activated}");

    let first = server.submit(refund(1_500, "repeat-customer")).await;
    let guard = run_of(&first, "repeat-guard");
    assert_eq!((guard["verdict"].as_str(), guard["digest"].as_str()), (Some("auto_approve"), Some(digest.as_str())));
    assert_eq!(first["status"], "auto_approved");
    server.submit(refund(1_500, "repeat-customer")).await;

    // Two refunds in 90 days: the third needs a manager, on the JavaScript plugin's word.
    let third = server.submit(refund(1_500, "repeat-customer")).await;
    let guard = run_of(&third, "repeat-guard");
    assert_eq!(guard["verdict"], "require_approval", "{third}");
    assert_eq!(guard["rule_id"], "repeat-guard/count");
    assert_eq!(
        (third["status"].as_str(), third["decision"]["level"].as_str()),
        (Some("pending_approval"), Some("manager"))
    );
    assert!(third["decision"]["signals"].as_array().unwrap().contains(&json!("repeat-refund")), "{third}");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}
