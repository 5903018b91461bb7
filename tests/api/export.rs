//! Auditor exports over real HTTP, on a manual clock: cases submitted and decided across
//! several days, exported by range as CSV and NDJSON, read back with the `csv` crate and
//! serde_json; the range's edges, the headers, who may export, and the 422s.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use levee_core::clock::{Clock, ManualClock};
use levee_core::ledger::LedgerEntry;
use levee_tests::{Options, StatusCode, TestServer, case, evidence, refund};
use serde_json::{Value, json};

/// An answer as the auditor's browser gets it: status, headers, body.
struct Download {
    status: StatusCode,
    content_type: String,
    disposition: String,
    body: String,
}

async fn download(server: &TestServer, who: &str, path: &str) -> Download {
    let response = levee::http_client()
        .get(format!("{}{path}", server.base_url))
        .bearer_auth(server.token(who))
        .send()
        .await
        .expect("the server answers");
    let header =
        |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned();
    let (status, content_type, disposition) =
        (response.status(), header("content-type"), header("content-disposition"));
    Download { status, content_type, disposition, body: response.text().await.expect("a body") }
}

/// The CSV's rows as maps from column to cell, and its header.
fn read_csv(text: &str) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().expect("a header").iter().map(str::to_owned).collect();
    let rows = reader
        .records()
        .map(|record| header.iter().cloned().zip(record.expect("a record").iter().map(str::to_owned)).collect())
        .collect();
    (header, rows)
}

fn read_ndjson(text: &str) -> Vec<Value> {
    assert!(text.is_empty() || text.ends_with('\n'), "every line ends with a newline");
    text.lines().map(|line| serde_json::from_str(line).expect("one JSON object per line")).collect()
}

fn at(day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, day, hour, minute, second).single().expect("a time")
}

fn set_clock(clock: &ManualClock, to: DateTime<Utc>) {
    clock.advance(to - clock.now());
}

fn id_of(answer: &Value) -> String {
    answer["case_id"].as_str().expect("case_id").to_owned()
}

/// What the scenario made: case ids by name.
struct Scenario {
    server: TestServer,
    ids: BTreeMap<&'static str, String>,
}

/// Four cases over 14, 15 and 16 January 2030 (UTC):
/// - `approved` on the 14th at 10:00, approved by the lead at 11:00, with a hostile customer
///   reference and a rationale that needs quoting;
/// - `auto` on the 14th at 15:00, auto-approved;
/// - `late` on the 15th at 23:59:59, approved by the lead on the 16th at 00:30;
/// - `rejected` on the 16th at 00:00:00, rejected by the lead at 01:00.
async fn scenario() -> Scenario {
    let clock = Arc::new(ManualClock::new(at(14, 9, 0, 0)));
    // Jobs stay out of the way: nothing here is ever overdue, but no job should add entries.
    let options = Options { clock: Some(clock.clone()), jobs_interval_ms: Some(3_600_000), ..Options::default() };
    let server = TestServer::start_with(options).await;
    let mut ids = BTreeMap::new();
    let approve = json!({"rationale": "checked the carrier's report"});

    set_clock(&clock, at(14, 10, 0, 0));
    let mut hostile = case("refund", 40_000, "USD", "=HYPERLINK(\"http://evil.example\")", "LATE_DELIVERY");
    hostile["rationale"] = json!("parcel lost, \"twice\"; customer upset\n-see ticket 42");
    let approved = id_of(&server.submit(hostile).await);
    let (status, _) = server.post("agent", &format!("/v1/cases/{approved}/evidence"), evidence("attachment")).await;
    assert_eq!(status, StatusCode::OK);
    set_clock(&clock, at(14, 11, 0, 0));
    let (status, answer) = server.post("lead", &format!("/v1/cases/{approved}/approve"), approve.clone()).await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("approved")), "{answer}");
    ids.insert("approved", approved);

    set_clock(&clock, at(14, 15, 0, 0));
    let auto = server.submit(refund(2_500, "small")).await;
    assert_eq!(auto["status"], "auto_approved", "{auto}");
    ids.insert("auto", id_of(&auto));

    set_clock(&clock, at(15, 23, 59, 59));
    let late = id_of(&server.submit(refund(30_000, "late")).await);
    set_clock(&clock, at(16, 0, 0, 0));
    let rejected = id_of(&server.submit(refund(45_000, "refused")).await);
    set_clock(&clock, at(16, 0, 30, 0));
    let (status, _) = server.post("lead", &format!("/v1/cases/{late}/approve"), approve).await;
    assert_eq!(status, StatusCode::OK);
    set_clock(&clock, at(16, 1, 0, 0));
    let reason = json!({"rationale": "duplicate of an earlier refund"});
    let (status, _) = server.post("lead", &format!("/v1/cases/{rejected}/reject"), reason).await;
    assert_eq!(status, StatusCode::OK);
    ids.insert("late", late);
    ids.insert("rejected", rejected);
    Scenario { server, ids }
}

#[tokio::test]
async fn cases_export_by_day_as_csv_and_ndjson() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let Scenario { server, ids } = scenario().await;

    let csv = download(&server, "auditor", "/v1/export/cases?from=2030-01-14&to=2030-01-15&format=csv").await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    assert_eq!(csv.content_type, "text/csv; charset=utf-8");
    assert_eq!(csv.disposition, "attachment; filename=\"levee-cases-2030-01-14-2030-01-15.csv\"");
    assert!(csv.body.contains("\r\n"), "RFC 4180 line ends");
    let (header, rows) = read_csv(&csv.body);
    assert_eq!(header.len(), 36, "{header:?}");
    let listed: Vec<&str> = rows.iter().map(|row| row["case_id"].as_str()).collect();
    assert_eq!(
        listed,
        [ids["approved"].as_str(), ids["auto"].as_str(), ids["late"].as_str()],
        "in order of submission"
    );

    let approved = &rows[0];
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["customer_ref"], "'=HYPERLINK(\"http://evil.example\")", "the formula is guarded");
    assert_eq!(approved["rationale"], "parcel lost, \"twice\"; customer upset\n-see ticket 42");
    assert_eq!((approved["amount_minor_units"].as_str(), approved["currency"].as_str()), ("40000", "USD"));
    assert_eq!((approved["verdict"].as_str(), approved["level"].as_str()), ("require_approval", "lead"));
    assert_eq!(approved["approvals_needed"], "1");
    assert_eq!(approved["approvals"], "lee.lead@2030-01-14T11:00:00Z");
    assert_eq!(approved["decided_at"], "2030-01-14T11:00:00Z");
    assert_eq!(approved["submitted_at"], "2030-01-14T10:00:00Z");
    assert_eq!(approved["exception_code"], "LATE_DELIVERY");
    assert!(approved["policies"].starts_with("threshold@"), "{}", approved["policies"]);
    assert!(approved["evidence"].starts_with("attachment:doc://attachment/1 sha256:abab"), "{}", approved["evidence"]);
    let approvals: Value = serde_json::from_str(&approved["approvals_json"]).expect("approvals as JSON");
    assert_eq!(approvals[0]["level"], "lead");
    assert_eq!(approvals[0]["limit_minor_units"], 100_000);
    assert_eq!(approvals[0]["authority_source"], "demo:lead");
    assert_eq!(rows[1]["verdict"], "auto_approve");
    assert_eq!(rows[1]["approval_count"], "0");
    assert_eq!(rows[2]["approvals"], "lee.lead@2030-01-16T00:30:00Z", "a case as it stands now");

    let ndjson = download(&server, "auditor", "/v1/export/cases?from=2030-01-16&to=2030-01-16&format=ndjson").await;
    assert_eq!(ndjson.status, StatusCode::OK, "{}", ndjson.body);
    assert_eq!(ndjson.content_type, "application/x-ndjson");
    assert_eq!(ndjson.disposition, "attachment; filename=\"levee-cases-2030-01-16-2030-01-16.ndjson\"");
    let lines = read_ndjson(&ndjson.body);
    assert_eq!(lines.len(), 1, "only the case submitted at midnight on the 16th: {lines:?}");
    let rejected = &lines[0];
    assert_eq!(rejected["case_id"], ids["rejected"].as_str());
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["closure"]["by"], "lee.lead");
    assert_eq!(rejected["closure"]["rationale"], "duplicate of an earlier refund");
    assert_eq!(rejected["decision"]["level"], "lead");
    assert_eq!(rejected["amount_minor_units"], 45_000);
    assert!(rejected["decision"]["policies"][0]["digest"].is_string(), "{rejected}");

    let empty = download(&server, "admin", "/v1/export/cases?from=2030-01-17&to=2030-02-17").await;
    assert_eq!(empty.status, StatusCode::OK, "admins may export too");
    assert_eq!(read_csv(&empty.body).1.len(), 0, "a header and no rows: {}", empty.body);
    assert!(empty.disposition.ends_with(".csv\""), "CSV is the default");
    server.stop().await;
}

#[tokio::test]
async fn the_ledger_exports_by_day_with_its_hash_chain() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let Scenario { server, ids } = scenario().await;

    let csv = download(&server, "auditor", "/v1/export/ledger?from=2030-01-16&to=2030-01-16&format=csv").await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    assert_eq!(csv.disposition, "attachment; filename=\"levee-ledger-2030-01-16-2030-01-16.csv\"");
    let (header, rows) = read_csv(&csv.body);
    assert_eq!(header[..2], ["seq", "at"]);
    let events: Vec<(&str, &str)> = rows.iter().map(|row| (row["subject"].as_str(), row["event"].as_str())).collect();
    assert_eq!(
        events,
        [
            (ids["rejected"].as_str(), "case.submitted"),
            (ids["late"].as_str(), "case.approved"),
            (ids["rejected"].as_str(), "case.rejected"),
        ]
    );
    for pair in rows.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "the chain links");
    }
    let approval = &rows[1];
    assert_eq!((approval["actor"].as_str(), approval["role"].as_str()), ("lee.lead", "approver"));
    assert_eq!((approval["authority_level"].as_str(), approval["authority_source"].as_str()), ("lead", "demo:lead"));
    let payload: Value = serde_json::from_str(&approval["payload"]).expect("the payload as JSON text");
    assert!(payload.is_object(), "{payload}");

    let ndjson = download(&server, "auditor", "/v1/export/ledger?from=2030-01-01&to=2030-01-31&format=ndjson").await;
    assert_eq!(ndjson.content_type, "application/x-ndjson");
    let entries: Vec<LedgerEntry> =
        ndjson.body.lines().map(|line| serde_json::from_str(line).expect("a ledger entry")).collect();
    assert_eq!(entries.len() as u64, server.ledger_len().await, "every entry of the month");
    for entry in &entries {
        assert_eq!(entry.compute_hash(), entry.hash, "entry {} hashes as exported", entry.seq);
    }
    let seqs: Vec<u64> = entries.iter().map(|entry| entry.seq).collect();
    assert_eq!(seqs, (1..=entries.len() as u64).collect::<Vec<_>>(), "in sequence order");

    let before = download(&server, "auditor", "/v1/export/ledger?from=2030-01-13&to=2030-01-13&format=ndjson").await;
    assert_eq!((before.status, before.body.as_str()), (StatusCode::OK, ""), "nothing the day before");
    server.stop().await;
}

#[tokio::test]
async fn only_auditors_and_admins_export_and_bad_requests_name_their_field() {
    if levee_tests::skip_on_spin(levee_tests::NEEDS_A_MANUAL_CLOCK) {
        return;
    }
    let server = TestServer::start().await;
    for path in ["/v1/export/cases?from=2030-01-01&to=2030-01-02", "/v1/export/ledger?from=2030-01-01&to=2030-01-02"] {
        let (status, answer) = server.get("agent", path).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
        let (status, _) = server.get("lead", path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "approvers do not export");
        let (status, _) = server.get_anonymous(path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let refusals = [
        ("", "from"),
        ("?from=2030-01-01", "to"),
        ("?from=2030-1-1&to=2030-01-02", "from"),
        ("?from=2030-01-01&to=tomorrow", "to"),
        ("?from=2030-01-02&to=2030-01-01", "to"),
        ("?from=2029-01-01&to=2030-01-02", "to"),
        ("?from=2030-01-01&to=2030-01-02&format=xlsx", "format"),
    ];
    for (query, field) in refusals {
        for export in ["cases", "ledger"] {
            let (status, answer) = server.get("auditor", &format!("/v1/export/{export}{query}")).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{export}{query}: {answer}");
            assert_eq!(answer["error"]["field"], field, "{export}{query}: {answer}");
        }
    }
    let (status, document) = server.get_anonymous("/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/v1/export/cases", "/v1/export/ledger"] {
        let parameters = document["paths"][path]["get"]["parameters"].as_array().cloned().unwrap_or_default();
        let named: Vec<(&str, bool)> = parameters
            .iter()
            .map(|parameter| (parameter["name"].as_str().unwrap_or_default(), parameter["required"] == true))
            .collect();
        assert_eq!(named, [("from", true), ("to", true), ("format", false)], "{path} is documented");
    }
    server.stop().await;
}

/// More rows than the export reads in one batch (256), on whichever backend the suite runs,
/// real Spin included, on the real clock: the exports are sent as they are read (no
/// `Content-Length`), the ledger's holds every entry from the first, once and in order, each
/// line chained to the one before by its hashes, and the cases export every case submitted,
/// once.
#[tokio::test]
async fn an_export_of_many_batches_is_sent_whole_as_it_is_read() {
    use futures::StreamExt;
    const CASES: usize = 300;
    let server = TestServer::start().await;
    let submitted: Vec<String> = futures::stream::iter(0..CASES)
        .map(|n| {
            let server = &server;
            async move { id_of(&server.submit(refund(2_500, &format!("cus_stream_{n}"))).await) }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let today = Utc::now().date_naive();
    let (yesterday, tomorrow) = (today.pred_opt().expect("a day"), today.succ_opt().expect("a day"));
    let range = format!("from={yesterday}&to={tomorrow}");

    let (status, headers, body) =
        server.get_bytes("auditor", &format!("/v1/export/ledger?{range}&format=ndjson")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert!(headers.get("content-length").is_none(), "sent as it is read: {headers:?}");
    let entries: Vec<LedgerEntry> = read_ndjson(std::str::from_utf8(&body).expect("UTF-8"))
        .into_iter()
        .map(|line| serde_json::from_value(line).expect("a ledger entry"))
        .collect();
    let seqs: Vec<u64> = entries.iter().map(|entry| entry.seq).collect();
    assert_eq!(seqs, (1..=entries.len() as u64).collect::<Vec<_>>(), "every entry from the first, once, in order");
    assert!(entries.len() >= CASES, "{} entries for {CASES} submissions", entries.len());
    assert!(entries.len() as u64 <= server.ledger_len().await);
    for pair in entries.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash, "entry {} follows {}", pair[1].seq, pair[0].seq);
        assert_eq!(pair[1].compute_hash(), pair[1].hash, "entry {} is exported as hashed", pair[1].seq);
    }

    let (status, headers, body) = server.get_bytes("auditor", &format!("/v1/export/cases?{range}")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert!(headers.get("content-length").is_none(), "sent as it is read: {headers:?}");
    let (_, rows) = read_csv(std::str::from_utf8(&body).expect("UTF-8"));
    let mut exported: Vec<&str> = rows.iter().map(|row| row["case_id"].as_str()).collect();
    exported.sort_unstable();
    let mut distinct = exported.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), exported.len(), "each case once");
    for id in &submitted {
        assert!(exported.binary_search(&id.as_str()).is_ok(), "{id} is exported");
    }
    server.stop().await;
}
