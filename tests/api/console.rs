//! The web console as the browser fetches it (assets, headers), and the two endpoints written for
//! it: the workflow in force (`GET /v1/workflow`) and a case's timeline with the check of its
//! lineage (`GET /v1/cases/{id}/timeline`).

use levee_core::identity::{ApprovalGroup, ApproverLevel};
use levee_core::ledger_store::entry_key;
use levee_tests::{Options, StatusCode, TestServer, open_store, refund};
use serde_json::{Value, json};

/// A client that does not follow redirects and sends no token, as a browser loading the page.
fn browser() -> reqwest::Client {
    levee::install_tls_provider();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("an HTTP client")
}

/// The status, a header and the body text of an anonymous GET.
async fn fetch(server: &TestServer, path: &str, header: &str) -> (StatusCode, Option<String>, String) {
    let response = browser().get(format!("{}{path}", server.base_url)).send().await.expect("the server answers");
    let value = response.headers().get(header).and_then(|value| value.to_str().ok()).map(str::to_owned);
    (response.status(), value, response.text().await.expect("a body"))
}

async fn header_of(server: &TestServer, path: &str, header: &str) -> Option<String> {
    fetch(server, path, header).await.1
}

/// `/` sends the browser to the console; the page, its stylesheet and every module are served
/// without a token, with their content types, `no-cache` and a CSP that allows nothing inline.
#[tokio::test]
async fn serves_the_console_with_a_strict_content_security_policy() {
    let server = TestServer::start().await;
    let (status, location, _) = fetch(&server, "/", "location").await;
    assert_eq!((status, location.as_deref()), (StatusCode::FOUND, Some("/console/")));

    let (status, content_type, page) = fetch(&server, "/console/", "content-type").await;
    assert_eq!((status, content_type.as_deref()), (StatusCode::OK, Some("text/html; charset=utf-8")));
    for contract in [r#"id="token""#, r#"id="sign-in""#, r#"id="whoami""#, r#"id="sign-out""#, r#"id="error""#] {
        assert!(page.contains(contract), "the page lacks {contract}");
    }
    for nav in ["dashboard", "queue", "remediation", "policies", "workflow"] {
        assert!(page.contains(&format!(r#"data-nav="{nav}""#)), "no nav entry for {nav}");
    }
    let policy = header_of(&server, "/console/", "content-security-policy").await.expect("a CSP");
    for directive in ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "the CSP lacks {directive}: {policy}");
    }
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{policy}");
    assert_eq!(header_of(&server, "/console/", "cache-control").await.as_deref(), Some("no-cache"));

    let assets = [
        ("console.css", "text/css; charset=utf-8"),
        ("console.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("dashboard.js", "text/javascript; charset=utf-8"),
        ("queue.js", "text/javascript; charset=utf-8"),
        ("case.js", "text/javascript; charset=utf-8"),
        ("workflow.js", "text/javascript; charset=utf-8"),
    ];
    for (name, expected) in assets {
        let path = format!("/console/{name}");
        let (status, content_type, body) = fetch(&server, &path, "content-type").await;
        assert_eq!((status, content_type.as_deref()), (StatusCode::OK, Some(expected)), "{path}");
        assert!(!body.is_empty(), "{path} is empty");
        assert!(header_of(&server, &path, "content-security-policy").await.is_some(), "{path} has no CSP");
    }
    let (status, _, body) = fetch(&server, "/console/missing.js", "content-type").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    server.stop().await;
}

/// The workflow of the default configuration: threshold then routing, the default matrix's
/// ladders with their gates, each level's SLA and the escalation path, and the groups.
#[tokio::test]
async fn workflow_describes_the_configuration_in_force() {
    let directors = ApprovalGroup {
        name: "directors".into(),
        level: ApproverLevel::Director,
        members: vec!["dana.director".into(), "drew.director".into()],
        approvals: 2,
    };
    let server = TestServer::start_with(Options { approval_groups: vec![directors], ..Options::default() }).await;
    let (status, workflow) = server.get("agent", "/v1/workflow").await;
    assert_eq!(status, StatusCode::OK, "{workflow}");
    assert_eq!(workflow["matrix_version"], "default-2026.11");
    assert_eq!(workflow["chain"]["number"], 0);
    let policies: Vec<&str> = workflow["chain"]["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|policy| policy["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(policies, ["threshold", "routing"]);
    assert_eq!(workflow["chain"]["policies"][0]["digest"].as_str().map(str::len), Some(64));
    assert_eq!(workflow["chain"]["policies"][0]["parameters"], "approval_matrix");

    let usd = ladder(&workflow, "USD");
    assert_eq!(usd["auto_approve_up_to"], 5_000);
    assert_eq!(usd["bands"][0], json!({"above": 5_000, "up_to": 50_000, "level": "lead", "approvals": 1}));
    assert_eq!(usd["top_band"], json!({"above": 2_500_000, "up_to": null, "level": "director", "approvals": 2}));
    assert_eq!((usd["rationale_above"].as_i64(), usd["attachment_above"].as_i64()), (Some(5_000), Some(250_000)));
    assert_eq!(ladder(&workflow, "JPY")["exponent"], 0);

    let levels = workflow["levels"].as_array().expect("levels");
    let slas: Vec<u64> = levels.iter().map(|level| level["sla_minutes"].as_u64().expect("an SLA")).collect();
    assert_eq!(slas, [240, 480, 1440, 2880]);
    assert_eq!(levels[3]["approval_group"]["name"], "directors");
    assert_eq!(
        workflow["escalation"][0],
        json!({"from": "lead", "to": "manager", "after_minutes": 240, "reminder": false})
    );
    assert_eq!(workflow["escalation"][3]["reminder"], true);
    assert_eq!(workflow["never_auto_approve"], json!(["override", "write_off"]));

    let (status, _) = server.get_anonymous("/v1/workflow").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, document) = server.get_anonymous("/v1/openapi.json").await;
    for path in ["/v1/workflow", "/v1/cases/{id}/timeline"] {
        assert!(document["paths"][path]["get"].is_object(), "the OpenAPI document lacks {path}");
    }
    assert!(document["components"]["schemas"]["Workflow"].is_object(), "no Workflow schema");
    server.stop().await;
}

fn ladder<'a>(workflow: &'a Value, currency: &str) -> &'a Value {
    let ladders = workflow["ladders"].as_array().expect("ladders");
    ladders.iter().find(|ladder| ladder["currency"] == currency && ladder["kind"].is_null()).expect("the ladder")
}

/// A case's timeline lists its entries in order, linked by their hashes, and says its lineage
/// holds; any role that reads cases may read it; an unknown case is 404 and no token is 401.
#[tokio::test]
async fn timeline_lists_a_cases_entries_and_verifies_its_lineage() {
    let server = TestServer::start().await;
    server.submit(refund(4_000, "before")).await;
    let id = server.submit(refund(40_000, "timeline")).await["case_id"].as_str().expect("an id").to_owned();
    let (status, _) =
        server.post("lead", &format!("/v1/cases/{id}/approve"), json!({"rationale": "carrier confirmed"})).await;
    assert_eq!(status, StatusCode::OK);

    let (status, timeline) = server.get("auditor", &format!("/v1/cases/{id}/timeline")).await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    assert_eq!((timeline["case_id"].as_str(), timeline["status"].as_str()), (Some(id.as_str()), Some("approved")));
    let entries = timeline["entries"].as_array().expect("entries");
    let events: Vec<&str> = entries.iter().map(|entry| entry["event"].as_str().expect("an event")).collect();
    assert_eq!(events, ["case.submitted", "case.approved"]);
    assert_eq!((entries[0]["seq"].as_u64(), entries[1]["seq"].as_u64()), (Some(2), Some(3)));
    assert_eq!(entries[1]["prev_hash"], entries[0]["hash"], "consecutive entries link");
    assert_eq!(entries[1]["actor"], "lee.lead");
    assert!(entries[1]["summary"].as_str().is_some_and(|summary| summary.contains("carrier confirmed")));
    let verify = &timeline["verify"];
    assert_eq!((verify["ok"].as_bool(), verify["entries_checked"].as_u64()), (Some(true), Some(2)), "{verify}");
    assert_eq!(verify["last_hash"], entries[1]["hash"]);

    let (status, _) = server.get("agent", &format!("/v1/cases/{id}/timeline")).await;
    assert_eq!(status, StatusCode::OK, "a reader of cases reads their timeline");
    let (status, answer) = server.get("auditor", "/v1/cases/LV-999999/timeline").await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, _) = server.get("auditor", "/v1/cases/RM-000001/timeline").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not a case id");
    let (status, _) = server.get_anonymous(&format!("/v1/cases/{id}/timeline")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// An entry altered on disk shows as broken on the case's timeline, at that entry, while the
/// case itself still loads.
#[tokio::test]
async fn timeline_names_an_altered_entry() {
    let server = TestServer::start().await;
    let id = server.submit(refund(40_000, "altered")).await["case_id"].as_str().expect("an id").to_owned();
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;

    let store = open_store(&data_dir);
    let key = entry_key(1);
    let mut slot: Value = serde_json::from_slice(&store.get(&key).unwrap().expect("entry 1")).unwrap();
    slot["entry"]["actor"] = json!("mallory");
    store.set(&key, &serde_json::to_vec(&slot).unwrap()).unwrap();
    drop(store);

    let server = TestServer::start_in(&data_dir, &Options::default()).await;
    let (status, timeline) = server.get("auditor", &format!("/v1/cases/{id}/timeline")).await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    assert_eq!(timeline["verify"]["ok"], false);
    assert_eq!(timeline["verify"]["first_mismatch"]["seq"], 1);
    assert_eq!(timeline["entries"][0]["actor"], "mallory", "the timeline shows what is stored");
    server.stop().await;
    drop(temp);
}
