//! The web console in a real browser (headless Chromium through chromedriver, see
//! `levee_tests::browser`): signing in, the dashboard's figures and charts, approving from the
//! queue, a case page with its ledger, and what a role may not do kept out of sight. Each test
//! runs against its own levee with cases planted over the API.

use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;
use levee_tests::browser::{self, Browser};
use levee_tests::{TestServer, case};
use serde_json::{Value, json};
use sha2::Digest as _;

/// The six charts the dashboard draws.
const CHARTS: [&str; 6] = ["leakage", "cycle-time", "pareto", "approver-outliers", "remediation-sla", "drift"];

/// A $400 refund, which waits for a lead.
const LEAD_BAND: i64 = 40_000;

/// The customer given three fee waivers for the same code, which makes a repeat worth a signal.
const REPEAT_CUSTOMER: &str = "cus-repeat";

/// Submits a case as the agent; its id.
async fn submit(server: &TestServer, body: Value) -> String {
    server.submit(body).await["case_id"].as_str().expect("case_id").to_owned()
}

/// Approves `id` as `who` over the API.
async fn approve(server: &TestServer, who: &str, id: &str) {
    let (status, answer) =
        server.post(who, &format!("/v1/cases/{id}/approve"), json!({"rationale": "matches the carrier report"})).await;
    assert_eq!(answer["status"], "approved", "{status}: {answer}");
}

/// Five cases: three $40 fee waivers for late deliveries to one customer (auto-approved: fee
/// waivers, unlike refunds, do not escalate as repeats), and two $400 refunds for damaged
/// parcels, one approved by the lead and one still waiting for a lead. Returns the waiting
/// one's id.
async fn plant_cases(server: &TestServer) -> String {
    for _ in 0..3 {
        let answer = server.submit(case("fee_waiver", 4_000, "USD", REPEAT_CUSTOMER, "LATE_DELIVERY")).await;
        assert_eq!(answer["status"], "auto_approved", "{answer}");
    }
    let damaged = |customer| case("refund", LEAD_BAND, "USD", customer, "DAMAGED_IN_TRANSIT");
    let approved = submit(server, damaged("damaged-1")).await;
    approve(server, "lead", &approved).await;
    submit(server, damaged("damaged-2")).await
}

/// A levee with the planted cases, and Chromium on its console signed in as `role`; with the
/// waiting case's id.
async fn console_with_cases(role: &str) -> (TestServer, Browser, String) {
    let server = TestServer::start().await;
    let waiting = plant_cases(&server).await;
    let browser = Browser::open(&server).await;
    browser.sign_in_as(server.token(role)).await;
    (server, browser, waiting)
}

fn row(id: &str) -> String {
    format!("tr[data-case=\"{id}\"]")
}

/// The lead's token signs in and `#whoami` names them; a bad token shows `#error` and signs
/// nobody in; signing out brings the sign-in form back.
#[tokio::test]
async fn signing_in_shows_who_and_a_bad_token_an_error() {
    let server = TestServer::start().await;
    let browser = Browser::open(&server).await;

    browser.sign_in("lv_not_a_token").await;
    let error = browser.text("#error").await;
    assert!(error.contains("401"), "the error says the token was refused: {error:?}");
    assert_eq!(browser.count("#whoami").await, 0, "nobody is signed in");

    assert!(browser.sign_in_as(server.token("lead")).await.contains("lee.lead"));
    browser.wait_until_gone("#error").await;
    browser.wait_for("a[data-nav=\"dashboard\"]").await;
    assert_eq!(browser.count("a[data-nav=\"queue\"]").await, 1, "an approver sees the queue");

    browser.click("button#sign-out").await;
    browser.wait_for("input#token").await;
    assert_eq!(browser.count("#whoami").await, 0, "signed out");
    server.stop().await;
}

/// With cases planted, the dashboard draws all six charts as SVG, and its figures are the
/// planted ones: five exceptions, three of them auto-approved, both codes in the Pareto, and
/// the customer with three fee waivers for one code as a signal.
#[tokio::test]
async fn the_dashboard_draws_every_chart_from_the_planted_cases() {
    let (server, browser, _) = console_with_cases("lead").await;
    browser.go("#/dashboard").await;

    for chart in CHARTS {
        browser.wait_for(&format!("figure[data-chart=\"{chart}\"][data-state=\"loaded\"] svg")).await;
    }
    assert_eq!(browser.count("figure[data-chart][data-state=\"error\"]").await, 0);

    let cases = browser.text("[data-figure=\"cases\"]").await;
    assert!(cases.lines().any(|line| line.trim() == "5"), "five exceptions: {cases:?}");
    assert!(cases.contains("60.0% auto-approved"), "three of five auto-approved: {cases:?}");
    let pareto = browser.text_content("figure[data-chart=\"pareto\"] svg").await;
    for code in ["LATE_DELIVERY", "DAMAGED_IN_TRANSIT"] {
        assert!(pareto.contains(code), "the Pareto names {code}: {pareto:?}");
    }
    let repeat = browser.text("li[data-signal=\"repeat_customer\"]").await;
    assert!(repeat.contains(REPEAT_CUSTOMER) && repeat.contains("3 cases with LATE_DELIVERY"), "{repeat:?}");
    server.stop().await;
}

/// The lead approves a waiting case from the queue with a rationale; the API then reports it
/// approved by them, and its case page shows the status, its ledger entries and a verified chain.
#[tokio::test]
async fn a_lead_approves_from_the_queue_and_the_case_page_shows_it() {
    let (server, browser, id) = console_with_cases("lead").await;
    browser.go("#/queue").await;

    let row = row(&id);
    browser.wait_for(&format!("{row} a[data-open-case]")).await;
    let rationale = "photos in the ticket match the carrier's damage report";
    browser.type_into(&format!("{row} textarea[name=\"rationale\"]"), rationale).await;
    browser.click(&format!("{row} button[data-action=\"approve\"]")).await;
    let result = format!("{row} [data-result=\"approved\"]");
    let done = async || (browser.count(&row).await == 0 || browser.count(&result).await > 0).then_some(());
    browser.until("the row to go or say approved", done).await;

    let (_, view) = server.get("auditor", &format!("/v1/cases/{id}")).await;
    assert_eq!(view["status"], "approved", "{view}");
    assert_eq!(view["case"]["approvals"][0]["approver"], "lee.lead");
    assert_eq!(view["case"]["approvals"][0]["rationale"], rationale);

    browser.go(&format!("#/cases/{id}")).await;
    assert_eq!(browser.text_content("#case-status").await, "approved");
    let seqs: Vec<String> = ledger_of(&view).iter().map(|entry| entry["seq"].to_string()).collect();
    assert_eq!(browser.attributes("ol#timeline > li[data-seq]", "data-seq").await, seqs);
    let timeline = browser.texts("ol#timeline > li[data-seq]").await;
    assert!(timeline[0].contains("case.submitted"), "{timeline:?}");
    assert!(timeline[timeline.len() - 1].contains("case.approved"), "{timeline:?}");
    browser.wait_for("#verify[data-ok=\"true\"]").await;
    server.stop().await;
}

/// The case page tells stored evidence from asserted: an approver uploads a file from it, sees
/// it as stored with levee's SHA-256, and downloads it with that hash checked in the browser.
#[tokio::test]
async fn the_case_page_uploads_a_file_and_downloads_it_checked() {
    let server = TestServer::start().await;
    let mut body = case("refund", 300_000, "USD", "files", "DAMAGED_IN_TRANSIT");
    body["evidence"] = json!([{"kind": "order_record", "reference": "oms://orders/files"}]);
    let id = submit(&server, body).await;
    let browser = Browser::open(&server).await;
    browser.sign_in_as(server.token("finance")).await;
    browser.go(&format!("#/cases/{id}")).await;
    browser.wait_for("table#evidence tr[data-provenance=\"asserted\"]").await;

    let folder = tempfile::tempdir().expect("a folder");
    let receipt = folder.path().join("receipt.pdf");
    let bytes = b"%PDF-1.7\n% the carrier's damage report\n%%EOF\n";
    std::fs::write(&receipt, bytes).expect("write the file");
    browser.choose_file("#evidence-file", &receipt).await;
    browser.type_into("#evidence-description", "carrier damage report").await;
    browser.click("#evidence-upload").await;
    let stored = "table#evidence tr[data-provenance=\"stored\"]";
    browser.wait_for(stored).await;
    assert!(browser.text(stored).await.contains("receipt.pdf"));

    let (_, view) = server.get("auditor", &format!("/v1/cases/{id}")).await;
    let sha256 = hex::encode(sha2::Sha256::digest(bytes));
    let evidence = &view["case"]["evidence"][1];
    assert_eq!(
        (evidence["sha256"].as_str(), evidence["description"].as_str()),
        (Some(sha256.as_str()), Some("carrier damage report"))
    );
    assert_eq!(view["decision"]["missing_evidence"], json!([]), "{view}");

    browser.click(&format!("{stored} button[data-action=\"download\"]")).await;
    browser.wait_for("[data-download-result=\"verified\"]").await;
    server.stop().await;
}

/// The case's ledger entries as `GET /v1/cases/{id}` gives them: a submission and an approval.
fn ledger_of(view: &Value) -> &Vec<Value> {
    let entries = view["ledger"].as_array().expect("the case's ledger");
    let events: Vec<&str> = entries.iter().filter_map(|entry| entry["event"].as_str()).collect();
    assert_eq!(events, ["case.submitted", "case.approved"]);
    entries
}

/// The approve button shows only where its role may use it, checked on the page where it
/// appears, once that page has loaded: in the queue, the lead has it on the case the agent
/// requested but not on the one the lead requested themselves, which the manager has it on. An
/// agent and an auditor see no queue in the navigation, where an approver does, and the console
/// refuses them the queue page itself.
#[tokio::test]
async fn what_a_role_may_not_do_is_not_shown() {
    let server = TestServer::start().await;
    let agents = plant_cases(&server).await;
    let leads = server.submit_as("lead", case("refund", LEAD_BAND, "USD", "damaged-3", "DAMAGED_IN_TRANSIT")).await;
    assert_eq!(
        (leads["status"].as_str(), leads["decision"]["level"].as_str()),
        (Some("pending_approval"), Some("lead"))
    );
    let leads = leads["case_id"].as_str().expect("case_id").to_owned();
    let browser = Browser::open(&server).await;
    let queue_link = "a[data-nav=\"queue\"]";
    let approve = |id: &str| format!("{} button[data-action=\"approve\"]", row(id));
    // A row's cells, its decision cell included, are drawn with it: once its case link shows,
    // whatever the row offers shows too.
    let queue_with_rows = async || {
        browser.go("#/queue").await;
        for id in [&agents, &leads] {
            browser.wait_for(&format!("{} a[data-open-case]", row(id))).await;
        }
    };

    assert!(browser.sign_in_as(server.token("lead")).await.contains("lee.lead"));
    browser.wait_for("a[data-nav]").await;
    assert_eq!(browser.count(queue_link).await, 1, "an approver sees the queue");
    queue_with_rows().await;
    assert_eq!(browser.count(&approve(&agents)).await, 1, "the lead may approve the agent's case");
    let actions = format!("{} td.actions", row(&leads));
    browser.wait_for(&actions).await;
    assert_eq!(browser.count(&approve(&leads)).await, 0, "the lead may not approve their own case");
    assert_eq!(browser.text(&actions).await, "nothing you can do here", "the lead's own case");
    browser.click("button#sign-out").await;

    assert!(browser.sign_in_as(server.token("manager")).await.contains("morgan.manager"));
    queue_with_rows().await;
    assert_eq!(browser.count(&approve(&leads)).await, 1, "the manager may approve the lead's case");
    browser.click("button#sign-out").await;

    for role in ["agent", "auditor"] {
        assert!(browser.sign_in_as(server.token(role)).await.contains(&format!(".{role}")));
        browser.wait_for("a[data-nav]").await;
        assert_eq!(browser.count(queue_link).await, 0, "{role} sees no queue");
        browser.go("#/queue").await;
        let refusal = browser.text("#error").await;
        assert!(refusal.contains("do not give access to this page"), "{role} is refused the queue: {refusal:?}");
        browser.click("button#sign-out").await;
    }
    server.stop().await;
}

/// Four eyes in the console: the dashboard tells an admin a chain proposal waits; on the
/// Policies page its proposer's approval is refused with the API's reason, and a second admin's
/// approval puts it in force.
#[tokio::test]
async fn a_second_admin_approves_a_proposed_chain_on_the_policies_page() {
    let server = TestServer::start().await;
    let links = json!([{"name": "threshold"}, {"name": "routing"}]);
    let (status, proposal) =
        server.post("admin", "/v1/policies/chain", json!({"links": links, "rationale": "CR-60: pin the chain"})).await;
    assert_eq!(status, 202, "{proposal}");
    let browser = Browser::open(&server).await;
    let proposal = "[data-proposal=\"1\"]";
    let review_as = async |who: &str| {
        browser.sign_in_as(server.token(who)).await;
        browser.wait_for("section.flagged li").await;
        assert!(
            browser.text("section.flagged").await.contains("Chain proposal 1 by ade.admin"),
            "the dashboard flags it"
        );
        browser.go("#/policies").await;
        browser.wait_for(&format!("{proposal} textarea[name=\"rationale\"]")).await;
        browser.type_into(&format!("{proposal} textarea[name=\"rationale\"]"), "backtest reviewed").await;
        browser.click(&format!("{proposal} button[data-action=\"approve\"]")).await;
    };

    review_as("admin").await;
    let refusal = browser
        .until("the proposer's approval to be refused", async || {
            let message = browser.text_content(&format!("{proposal} .message")).await;
            (!message.is_empty()).then_some(message)
        })
        .await;
    assert!(refusal.contains("second admin"), "{refusal}");
    browser.click("button#sign-out").await;

    review_as("admin2").await;
    browser.wait_until_gone(proposal).await;
    let (_, view) = server.get("auditor", "/v1/policies").await;
    assert_eq!(view["registry"]["chains"][0]["approval"]["approved"]["by"], "alex.admin", "{view}");
    assert!(browser.text("#policies-history + table").await.contains("approved by alex.admin"));

    // A floors proposal, approved by the second admin from the same page.
    let floors = json!({"control": "floors", "floors": {"auto_approve_max": {"USD": 1_000}}});
    let (status, _) =
        server.post("admin", "/v1/controls/proposals", json!({"change": floors, "rationale": "CR-61"})).await;
    assert_eq!(status, 202);
    browser.go("#/dashboard").await;
    browser.go("#/policies").await;
    let control = "[data-control-proposal=\"1\"]";
    assert!(browser.text(&format!("{control} ul.alters")).await.contains("auto_approve_max"));
    browser.type_into(&format!("{control} textarea[name=\"rationale\"]"), "floor agreed with finance").await;
    browser.click(&format!("{control} button[data-action=\"approve\"]")).await;
    browser.wait_until_gone(control).await;
    let in_force = browser.text("section[aria-labelledby=\"controls-in-force\"]").await;
    assert!(in_force.contains("Floors (from the ledger)"), "{in_force}");
    server.stop().await;
}

/// A failing browser test leaves a screenshot of its page behind, named after the test.
#[tokio::test]
async fn a_failing_browser_test_leaves_a_screenshot() {
    let path = browser::screenshot_path();
    let _ = std::fs::remove_file(&path);
    let failing = AssertUnwindSafe(async {
        let browser = Browser::launch("data:text/html,<p id=there>a page to photograph</p>").await;
        browser.go("").await;
        browser.wait_for("#there").await;
        panic!("a deliberate failure");
    });
    assert!(failing.catch_unwind().await.is_err(), "the test fails");
    let png = std::fs::read(&path).unwrap_or_else(|error| panic!("no screenshot at {}: {error}", path.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
}
