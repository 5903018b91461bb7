//! The authorization matrix: every endpoint of the route table, called by every role of the demo
//! cast, with no token and with a token levee never issued. `POLICY` is where the access policy
//! of every endpoint is written down; the test holds the server to it, and fails on a route that
//! has no row there (or a row for a route that is gone).
//!
//! For each endpoint × caller: no token and an unknown token get 401 (except on public routes);
//! a role outside the row gets 403; a role inside it gets anything but 401 and 403 (a 404 or a
//! 422 for the probe's dummy input proves authorization passed); nothing answers 5xx, except a
//! 501 to an allowed caller, which means authorization passed and the host cannot do it at all
//! (an upload on Spin, a checkpoint without a signing key). A refused request changes nothing:
//! the refusals are sent first, a route at a time, and after each route's the ledger has as many
//! entries as before and the fixture case the same version, status, level and approvals.
//! Every violation is reported at once.
//!
//! Where the policy depends on the object (the case's requester, the delegator, the remediation
//! item's owner team), the probe names a real one made first (`Fixtures`), so the check on the
//! object is what answers; elsewhere it names one that does not exist. Bodies change nothing
//! that matters: `{}` where fields are required (the role is checked before the body is read,
//! so an allowed caller gets a 422), and where the check is on the object, a body that passes
//! validation but cannot take effect (a stale `expected_version`) or whose effect is harmless.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{Duration, Utc};
use futures::stream::{self, StreamExt};
use levee_core::inbound::Scheme;
use levee_core::intake::WebhookSource;
use levee_tests::{Options, StatusCode, TestServer, case, eventually, evidence, refund};
use serde_json::{Value, json};

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Anyone, with a token or without.
    Public,
    /// No bearer token: the sender's signature is the credential. Without a valid one every
    /// caller is refused (401), whatever token it holds.
    Signed,
    /// These roles of the demo cast. Any other role is refused (403); no token or an unknown
    /// one, 401.
    Roles(&'static [&'static str]),
}

use Access::{Public, Roles, Signed};

/// Every role of the demo cast (`levee_core::config::demo::CAST`).
const ANY_ROLE: &[&str] =
    &["agent", "lead", "manager", "finance", "director", "director2", "auditor", "comms", "admin", "admin2"];
/// The approvers, lead to director.
const APPROVERS: &[&str] = &["lead", "manager", "finance", "director", "director2"];
/// Who may submit a case: agents, approvers, admins.
const SUBMITTERS: &[&str] = &["agent", "lead", "manager", "finance", "director", "director2", "admin", "admin2"];
/// The requester of the fixture case (the agent), an approver or an admin: who may attach
/// evidence to a pending case and draft its customer message.
const CASE_HANDS: &[&str] = SUBMITTERS;
/// The fixture case's requester (the agent), approvers, auditors and admins: its stored files.
const FILE_READERS: &[&str] =
    &["agent", "lead", "manager", "finance", "director", "director2", "auditor", "admin", "admin2"];
/// Approvers, auditors and admins: metrics, charts, the monthly review, findings.
const ANALYSTS: &[&str] = &["lead", "manager", "finance", "director", "director2", "auditor", "admin", "admin2"];
/// Approvers and admins: baselines (an approver for their own team only; `{}` names none).
const APPROVERS_AND_ADMIN: &[&str] = &["lead", "manager", "finance", "director", "director2", "admin", "admin2"];
/// Auditors and admins: the ledger, its verification and exports, the registry, delivery logs.
const AUDITORS: &[&str] = &["auditor", "admin", "admin2"];
const ADMIN: &[&str] = &["admin", "admin2"];
/// The fixture case's requester (the agent) or an admin.
const REQUESTER_OR_ADMIN: &[&str] = &["agent", "admin", "admin2"];
/// The fixture delegation's delegator (director) or an admin.
const DELEGATOR_OR_ADMIN: &[&str] = &["director", "admin", "admin2"];
/// The fixture remediation item's owner team (support-ops: the manager) or an admin.
const OWNER_TEAM_OR_ADMIN: &[&str] = &["manager", "admin", "admin2"];

/// The access policy of every endpoint: method, path as the route table has it, who may call it.
#[rustfmt::skip]
const POLICY: &[(&str, &str, Access)] = &[
    // Liveness, the API's description and the web console (its pages hold no data).
    ("GET",  "/healthz",                               Public),
    ("GET",  "/v1/openapi.json",                       Public),
    ("GET",  "/",                                      Public),
    ("GET",  "/console",                               Public),
    ("GET",  "/console/",                              Public),
    ("GET",  "/console/{id}",                          Public),
    // Helpdesk and payment webhooks: the vendor's signature, never a token.
    ("POST", "/v1/webhooks/{id}",                      Signed),
    // Anyone signed in: who they are, the taxonomy and workflow in force, the board.
    ("GET",  "/v1/me",                                 Roles(ANY_ROLE)),
    ("GET",  "/v1/taxonomy",                           Roles(ANY_ROLE)),
    ("GET",  "/v1/taxonomy/revisions",                 Roles(ANY_ROLE)),
    ("GET",  "/v1/taxonomy/versions/{id}",             Roles(ANY_ROLE)),
    ("GET",  "/v1/workflow",                           Roles(ANY_ROLE)),
    ("GET",  "/v1/remediation",                        Roles(ANY_ROLE)),
    ("GET",  "/v1/remediation/{id}",                   Roles(ANY_ROLE)),
    ("GET",  "/v1/scorecards",                         Roles(ANY_ROLE)),
    ("GET",  "/v1/delegations",                        Roles(ANY_ROLE)),
    // Cases: everyone reads; agents, approvers and admins submit; approvers decide.
    ("POST", "/v1/cases",                              Roles(SUBMITTERS)),
    ("GET",  "/v1/cases/{id}",                         Roles(ANY_ROLE)),
    ("GET",  "/v1/cases/{id}/timeline",                Roles(ANY_ROLE)),
    ("GET",  "/v1/cases/{id}/comms",                   Roles(ANY_ROLE)),
    ("POST", "/v1/cases/{id}/approve",                 Roles(APPROVERS)),
    ("POST", "/v1/cases/{id}/reject",                  Roles(APPROVERS)),
    ("POST", "/v1/cases/{id}/cancel",                  Roles(REQUESTER_OR_ADMIN)),
    ("POST", "/v1/cases/{id}/evidence",                Roles(CASE_HANDS)),
    ("POST", "/v1/cases/{id}/attachments",             Roles(CASE_HANDS)),
    ("GET",  "/v1/cases/{id}/attachments",             Roles(FILE_READERS)),
    ("POST", "/v1/cases/{id}/comms",                   Roles(CASE_HANDS)),
    ("POST", "/v1/cases/{id}/comms/review",            Roles(&["comms"])),
    ("GET",  "/v1/queue",                              Roles(APPROVERS)),
    // Delegation: an approver grants their own authority; the delegator or an admin revokes.
    ("POST", "/v1/delegations",                        Roles(APPROVERS)),
    ("POST", "/v1/delegations/{id}/revoke",            Roles(DELEGATOR_OR_ADMIN)),
    // Remediation: the owner team (or an admin) works an item.
    ("POST", "/v1/remediation/{id}/start",             Roles(OWNER_TEAM_OR_ADMIN)),
    ("POST", "/v1/remediation/{id}/fix",               Roles(OWNER_TEAM_OR_ADMIN)),
    // Intake and reconciliation.
    ("GET",  "/v1/intake/rejections",                  Roles(&["agent", "auditor", "admin", "admin2"])),
    ("GET",  "/v1/findings",                           Roles(ANALYSTS)),
    ("GET",  "/v1/webhooks/outgoing",                  Roles(AUDITORS)),
    // Metrics, charts, the monthly review and Prometheus text.
    ("GET",  "/metrics",                               Roles(ANALYSTS)),
    ("GET",  "/v1/metrics/summary",                    Roles(ANALYSTS)),
    ("GET",  "/v1/metrics/leakage",                    Roles(ANALYSTS)),
    ("GET",  "/v1/metrics/cycle-time",                 Roles(ANALYSTS)),
    ("GET",  "/v1/metrics/evidence",                   Roles(ANALYSTS)),
    ("GET",  "/v1/metrics/outliers",                   Roles(ANALYSTS)),
    ("GET",  "/v1/metrics/drift",                      Roles(ANALYSTS)),
    ("GET",  "/v1/metrics/baselines",                  Roles(ANALYSTS)),
    ("POST", "/v1/metrics/baselines",                  Roles(APPROVERS_AND_ADMIN)),
    ("GET",  "/v1/charts/{id}",                        Roles(ANALYSTS)),
    ("GET",  "/v1/reports/monthly",                    Roles(ANALYSTS)),
    // Audit: the chain, the ledger, exports, signed checkpoints and proofs.
    ("GET",  "/v1/audit/verify",                       Roles(AUDITORS)),
    ("GET",  "/v1/ledger",                             Roles(AUDITORS)),
    ("GET",  "/v1/export/cases",                       Roles(AUDITORS)),
    ("GET",  "/v1/export/ledger",                      Roles(AUDITORS)),
    ("GET",  "/v1/audit/checkpoint",                   Roles(AUDITORS)),
    ("GET",  "/v1/audit/proof/inclusion",              Roles(AUDITORS)),
    ("GET",  "/v1/audit/proof/consistency",            Roles(AUDITORS)),
    // Rule plugins: admins change them; auditors read the registry, backtest and read shadows.
    ("GET",  "/v1/policies",                           Roles(AUDITORS)),
    ("POST", "/v1/policies",                           Roles(ADMIN)),
    ("POST", "/v1/policies/chain",                     Roles(ADMIN)),
    ("POST", "/v1/policies/chain/rollback",            Roles(ADMIN)),
    ("GET",  "/v1/controls",                           Roles(AUDITORS)),
    ("POST", "/v1/controls/proposals",                 Roles(ADMIN)),
    ("POST", "/v1/controls/proposals/{id}/approve",    Roles(ADMIN)),
    ("POST", "/v1/controls/proposals/{id}/reject",     Roles(ADMIN)),
    ("POST", "/v1/policies/chains/{id}/confirm",       Roles(ADMIN)),
    ("POST", "/v1/policies/proposals/{id}/approve",    Roles(ADMIN)),
    ("POST", "/v1/policies/proposals/{id}/reject",     Roles(ADMIN)),
    ("POST", "/v1/policies/{id}/backtest",             Roles(AUDITORS)),
    ("POST", "/v1/policies/shadow",                    Roles(ADMIN)),
    ("POST", "/v1/policies/shadow/stop",               Roles(ADMIN)),
    ("GET",  "/v1/policies/shadow/differences",        Roles(AUDITORS)),
    // The taxonomy is changed by admins.
    ("POST", "/v1/taxonomy/codes",                     Roles(ADMIN)),
    ("POST", "/v1/taxonomy/codes/{id}/deprecate",      Roles(ADMIN)),
    ("POST", "/v1/taxonomy/codes/{id}/merge",          Roles(ADMIN)),
    // One run of the schedule, for a scheduler (Spin has no background tasks).
    ("POST", "/v1/jobs/run",                           Roles(ADMIN)),
];

/// A token levee never issued.
const UNKNOWN_TOKEN: &str = "lv_unknown_0123456789abcdef0123456789abcdef";
/// How many requests are in flight at once.
const IN_FLIGHT: usize = 16;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Role(&'static str),
    NoToken,
    UnknownToken,
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Role(role) => write!(f, "{role}"),
            Caller::NoToken => write!(f, "no token"),
            Caller::UnknownToken => write!(f, "an unknown token"),
        }
    }
}

/// What a caller must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// 401.
    Unauthenticated,
    /// 403.
    Forbidden,
    /// Anything but 401 and 403.
    Passes,
    /// 404: the route does not exist on this backend.
    Absent,
}

impl Expected {
    fn of(access: Access, caller: Caller) -> Expected {
        match (access, caller) {
            (Public, _) => Expected::Passes,
            (Signed, _) => Expected::Unauthenticated,
            (Roles(_), Caller::NoToken | Caller::UnknownToken) => Expected::Unauthenticated,
            (Roles(roles), Caller::Role(role)) if roles.contains(&role) => Expected::Passes,
            (Roles(_), Caller::Role(_)) => Expected::Forbidden,
        }
    }

    /// What is wrong with `status`, if anything.
    fn problem(self, status: StatusCode) -> Option<String> {
        // 501 is what a host cannot do at all (an upload on Spin, a checkpoint with no signing
        // key), answered once authorization has passed.
        let cannot = self == Expected::Passes && status == StatusCode::NOT_IMPLEMENTED;
        if status.is_server_error() && !cannot {
            return Some(format!("{status}: a server error"));
        }
        let denied = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
        let fine = match self {
            Expected::Unauthenticated => status == StatusCode::UNAUTHORIZED,
            Expected::Forbidden => status == StatusCode::FORBIDDEN,
            Expected::Passes => !denied,
            Expected::Absent => status == StatusCode::NOT_FOUND,
        };
        (!fine).then(|| format!("{status}, expected {self:?}"))
    }
}

/// The objects whose policy depends on who they belong to, made before the matrix runs.
struct Fixtures {
    /// A refund pending at the lead's level, submitted by the agent.
    case: String,
    /// The director's authority, delegated to the lead.
    delegation: String,
    /// An open remediation item owned by support-ops (the manager's team).
    item: String,
    /// A configured webhook source (Stripe's signature scheme).
    source: &'static str,
}

const SOURCE: &str = "stripe";
/// A code whose first case opens a remediation item for support-ops.
const REMEDIATED_CODE: &str = "AUTHZ_MATRIX_PROBE";

async fn start() -> (TestServer, Fixtures) {
    let source = WebhookSource {
        name: SOURCE.into(),
        signature: Scheme::Stripe,
        secrets: vec!["whsec_authorization_matrix_0123456789".into()],
        intake: None,
    };
    // Jobs run often, so the remediation item opens soon after its case.
    let options = Options { webhook_sources: vec![source], jobs_interval_ms: Some(100), ..Options::default() };
    let server = TestServer::start_with(options).await;

    let submitted = server.submit(refund(40_000, "authz-pending")).await;
    assert_eq!(submitted["status"], "pending_approval", "{submitted}");
    let case_id = submitted["case_id"].as_str().expect("a case id").to_owned();

    let now = Utc::now();
    let grant = json!({"delegate": "lee.lead", "starts_at": now, "ends_at": now + Duration::days(1),
                       "reason": "authorization matrix"});
    let (status, delegation) = server.post("director", "/v1/delegations", grant).await;
    assert_eq!(status, StatusCode::CREATED, "{delegation}");
    let delegation = delegation["id"].as_str().expect("a delegation id").to_owned();

    let code = json!({
        "code": REMEDIATED_CODE, "category": "billing", "description": "The authorization matrix's own code.",
        "owner": "support-ops", "queue": "billing-approvals", "sla_minutes": 240,
        "playbook": "Nothing to fix: a test fixture.",
        "remediation": {"count": 1, "window_days": 7, "sla_hours": 48, "verify_drop_percent": 50},
    });
    server.put_code(code).await;
    server.submit(case("refund", 1_000, "USD", "authz-remediation", REMEDIATED_CODE)).await;
    let item = eventually("the fixture's remediation item", || async {
        let (_, items) = server.get("auditor", "/v1/remediation").await;
        let items = items.as_array()?.clone();
        items.into_iter().find(|item| item["code"] == REMEDIATED_CODE)
    })
    .await;
    assert_eq!((item["owner"].as_str(), item["status"].as_str()), (Some("support-ops"), Some("open")), "{item}");
    let item = item["id"].as_str().expect("an item id").to_owned();

    (server, Fixtures { case: case_id, delegation, item, source: SOURCE })
}

/// The request sent to an endpoint: the path (with ids and a query) and the JSON body, if any.
fn probe(method: &str, route: &str, fixtures: &Fixtures) -> (String, Option<String>) {
    let case_path = |suffix: &str| format!("/v1/cases/{}{suffix}", fixtures.case);
    let item_path = |suffix: &str| format!("/v1/remediation/{}{suffix}", fixtures.item);
    let body = |value: Value| Some(value.to_string());
    let (path, body) = match (method, route) {
        ("GET", "/v1/cases/{id}") => (case_path(""), None),
        ("GET", "/v1/cases/{id}/timeline") => (case_path("/timeline"), None),
        ("GET", "/v1/cases/{id}/comms") => (case_path("/comms"), None),
        // Stale: an allowed caller gets 409 and the case stays pending.
        ("POST", "/v1/cases/{id}/cancel") => {
            (case_path("/cancel"), body(json!({"rationale": "authorization matrix", "expected_version": 1_000_000})))
        }
        // These take effect (more evidence, a redraft), which changes no one's access.
        ("POST", "/v1/cases/{id}/evidence") => (case_path("/evidence"), body(evidence("attachment"))),
        // No name: an allowed caller gets 422 and nothing is stored.
        ("POST", "/v1/cases/{id}/attachments") => (case_path("/attachments"), body(json!({}))),
        // No such file: an allowed caller gets 404.
        ("GET", "/v1/cases/{id}/attachments") => (case_path(&format!("/attachments?sha256={}", "0".repeat(64))), None),
        ("POST", "/v1/cases/{id}/comms") => (case_path("/comms"), body(json!({}))),
        ("POST", "/v1/cases/{id}/approve" | "/v1/cases/{id}/reject" | "/v1/cases/{id}/comms/review") => {
            (route.replace("{id}", &fixtures.case), body(json!({})))
        }
        // The first allowed caller revokes it; the next gets 409.
        ("POST", "/v1/delegations/{id}/revoke") => {
            (format!("/v1/delegations/{}/revoke", fixtures.delegation), body(json!({"reason": "authorization matrix"})))
        }
        // The owner team's steps take effect; a step out of turn is a 409.
        ("GET", "/v1/remediation/{id}") => (item_path(""), None),
        ("POST", "/v1/remediation/{id}/start") => (item_path("/start"), body(json!({"note": "authorization matrix"}))),
        ("POST", "/v1/remediation/{id}/fix") => {
            (item_path("/fix"), body(json!({"link": "https://sop.example/authz", "note": "authorization matrix"})))
        }
        // Unsigned.
        ("POST", "/v1/webhooks/{id}") => (format!("/v1/webhooks/{}", fixtures.source), body(json!({}))),
        ("POST", "/v1/policies") => ("/v1/policies?name=authz-probe".to_owned(), body(json!({}))),
        ("POST", "/v1/policies/{id}/backtest") => {
            (format!("/v1/policies/{}/backtest", "0".repeat(64)), body(json!({})))
        }
        ("GET", "/v1/charts/{id}") => ("/v1/charts/leakage".to_owned(), None),
        ("GET", "/v1/reports/monthly") => ("/v1/reports/monthly?month=2026-01".to_owned(), None),
        ("GET", "/v1/export/cases" | "/v1/export/ledger") => (format!("{route}?from=2026-01-01&to=2026-01-31"), None),
        ("GET", "/v1/ledger") => ("/v1/ledger?limit=10".to_owned(), None),
        ("GET", "/console/{id}") => ("/console/console.js".to_owned(), None),
        ("POST", "/v1/taxonomy/codes/{id}/deprecate" | "/v1/taxonomy/codes/{id}/merge") => {
            (route.replace("{id}", "NO_SUCH_CODE"), body(json!({})))
        }
        ("GET", _) => (route.replace("{id}", "no-such-id"), None),
        (_, _) => (route.replace("{id}", "no-such-id"), body(json!({}))),
    };
    (path, body)
}

/// The routes this backend answers, as (method, path).
fn routes() -> BTreeSet<(String, String)> {
    levee_core::api::route_table()
        .into_iter()
        .flat_map(|(path, methods)| methods.into_iter().map(move |method| (method.to_string(), path.to_owned())))
        .collect()
}

/// One request; its status, or why there was none.
async fn send(
    client: &reqwest::Client,
    server: &TestServer,
    method: &str,
    path: &str,
    body: Option<&str>,
    caller: Caller,
) -> Result<StatusCode, String> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = client.request(method, format!("{}{path}", server.base_url));
    request = match caller {
        Caller::Role(role) => request.bearer_auth(server.token(role)),
        Caller::UnknownToken => request.bearer_auth(UNKNOWN_TOKEN),
        Caller::NoToken => request,
    };
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    let response = request.send().await.map_err(|error| format!("no answer: {error}"))?;
    Ok(response.status())
}

/// One request of the matrix and what its caller must get.
struct Call {
    method: &'static str,
    route: &'static str,
    path: String,
    body: Option<String>,
    caller: Caller,
    expected: Expected,
}

/// Sends `calls`, [`IN_FLIGHT`] at a time; each one's status (if any) and what is wrong with it.
async fn send_all(
    client: &reqwest::Client,
    server: &TestServer,
    calls: Vec<Call>,
) -> Vec<(Option<StatusCode>, Option<String>)> {
    stream::iter(calls)
        .map(|Call { method, route, path, body, caller, expected }| async move {
            let (status, problem) = match send(client, server, method, &path, body.as_deref(), caller).await {
                Ok(status) => (Some(status), expected.problem(status)),
                Err(error) => (None, Some(error)),
            };
            (status, problem.map(|problem| format!("{method} {route} ({path}) as {caller}: {problem}")))
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await
}

/// What refused requests must leave as they found it: the length of the ledger, and the fixture
/// case's version, status, approver level and approvals (as the auditor reads them).
#[derive(Debug, PartialEq)]
struct Untouched {
    ledger: u64,
    case: Value,
}

impl Untouched {
    async fn read(server: &TestServer, fixtures: &Fixtures) -> Untouched {
        let path = format!("/v1/cases/{}", fixtures.case);
        let ((status, view), ledger) = tokio::join!(server.get("auditor", &path), server.ledger_len());
        assert_eq!(status, StatusCode::OK, "the fixture case: {view}");
        let case = json!({
            "version": view["case"]["version"], "status": view["status"], "level": view["decision"]["level"],
            "approvals": view["case"]["approvals"],
        });
        assert!(case["version"].is_u64() && case["approvals"].is_array(), "the fixture case: {view}");
        Untouched { ledger, case }
    }
}

#[tokio::test]
async fn every_endpoint_admits_exactly_the_callers_its_policy_names() {
    let mut violations: Vec<String> = Vec::new();

    // The table covers the cast and the route table, no more and no less.
    let cast: BTreeSet<&str> = levee_core::config::demo::cast(str::to_owned).into_keys().collect();
    let roles: BTreeSet<&str> = ANY_ROLE.iter().copied().collect();
    if cast != roles {
        violations
            .push(format!("ANY_ROLE is {roles:?} but the demo cast is {cast:?}: write down the new role's access"));
    }
    let real = routes();
    let mut written = BTreeSet::new();
    for (method, path, _) in POLICY {
        if !written.insert(((*method).to_owned(), (*path).to_owned())) {
            violations.push(format!("POLICY has two rows for {method} {path}"));
        }
    }
    for (method, path) in real.difference(&written) {
        violations.push(format!("{method} {path} has no row in POLICY: write down who may call it"));
    }
    for (method, path) in written.difference(&real) {
        violations.push(format!("POLICY has a row for {method} {path}, which the route table does not have"));
    }

    let (server, fixtures) = start().await;
    levee::install_tls_provider();
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("an HTTP client");
    let callers: Vec<Caller> =
        ANY_ROLE.iter().map(|&role| Caller::Role(role)).chain([Caller::NoToken, Caller::UnknownToken]).collect();
    let mut calls = Vec::new();
    for &(method, route, access) in POLICY {
        let absent = !real.contains(&(method.to_owned(), route.to_owned()));
        let (path, body) = probe(method, route, &fixtures);
        for &caller in &callers {
            let expected = if absent { Expected::Absent } else { Expected::of(access, caller) };
            calls.push(Call { method, route, path: path.clone(), body: body.clone(), caller, expected });
        }
    }
    let sent = calls.len();
    // The refused requests first, on the fixtures as they were made, a route at a time: a
    // route's refusals must leave the ledger and the fixture case as they found them. Then the
    // admitted ones, which may change things.
    let (refusals, admissions): (Vec<Call>, Vec<Call>) =
        calls.into_iter().partition(|call| call.expected != Expected::Passes);
    let mut by_route: BTreeMap<(&str, &str), Vec<Call>> = BTreeMap::new();
    for call in refusals {
        by_route.entry((call.method, call.route)).or_default().push(call);
    }
    let mut outcomes = Vec::new();
    let mut changes = Vec::new();
    let mut state = Untouched::read(&server, &fixtures).await;
    for ((method, route), group) in by_route {
        let callers: Vec<String> = group.iter().map(|call| call.caller.to_string()).collect();
        outcomes.extend(send_all(&client, &server, group).await);
        let after = Untouched::read(&server, &fixtures).await;
        if after != state {
            changes.push(format!(
                "{method} {route}: refused to {}, yet the ledger and the fixture case went from {state:?} to {after:?}",
                callers.join(", ")
            ));
        }
        state = after;
    }
    outcomes.extend(send_all(&client, &server, admissions).await);
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for status in outcomes.iter().filter_map(|(status, _)| *status) {
        *statuses.entry(status.as_u16()).or_default() += 1;
    }
    let mut found: Vec<String> = outcomes.into_iter().filter_map(|(_, problem)| problem).collect();
    found.sort();
    violations.extend(found);
    violations.extend(changes);
    println!(
        "authorization matrix: {} endpoints × {} callers = {sent} requests; answers {statuses:?}; {} violations",
        POLICY.len(),
        callers.len(),
        violations.len()
    );
    server.stop().await;
    assert!(violations.is_empty(), "{} authorization violations:\n{}", violations.len(), violations.join("\n"));
}
