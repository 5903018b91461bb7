//! The rule-plugin registry over real HTTP: uploads are checked before anything is stored,
//! activation and rollback change which digests decide, and both are in the ledger.

use levee::policy::SandboxMaxima;
use levee_tests::{HOSTILE_WASM_PATH, Options, StatusCode, TestServer, on_order, refund, run_of, skip_on_spin};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn upload(server: &TestServer, who: &str, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    server.post_raw(who, &format!("/v1/policies?name={name}"), "application/wasm", bytes).await
}

fn hostile_bytes() -> Vec<u8> {
    std::fs::read(HOSTILE_WASM_PATH).expect("the hostile test plugin was built")
}

async fn activate(server: &TestServer, links: Value) -> (StatusCode, Value) {
    server.activate_chain(json!({"links": links, "rationale": "change request CR-12"})).await
}

fn deciding_policies(answer: &Value) -> Vec<String> {
    let policies = answer["decision"]["policies"].as_array().expect("policies");
    policies.iter().map(|policy| policy["name"].as_str().unwrap_or_default().to_owned()).collect()
}

fn events(entries: &Value) -> Vec<String> {
    entries.as_array().unwrap().iter().map(|entry| entry["event"].as_str().unwrap_or_default().to_owned()).collect()
}

/// Every refusal names the problem and stores nothing; a good plugin is stored by digest once.
#[tokio::test]
async fn uploads_are_checked_before_anything_is_stored() {
    if skip_on_spin(
        "Spin cannot load uploaded plugins; on_spin_an_upload_says_how_to_deploy_a_plugin_instead covers it",
    ) {
        return;
    }
    let server = TestServer::start().await;
    assert_eq!(upload(&server, "agent", "guard", hostile_bytes()).await.0, StatusCode::FORBIDDEN);
    let refused: [(Vec<u8>, &str); 4] = [
        (b"MZ\x90\x00 not webassembly".to_vec(), "is not a WebAssembly binary"),
        (wat::parse_str("(module)").unwrap(), "is a core WebAssembly module, not a component"),
        (
            wat::parse_str(r#"(component (import "wasi:sockets/tcp@0.2.0" (instance)))"#).unwrap(),
            "imports wasi:sockets/tcp@0.2.0",
        ),
        (wat::parse_str("(component)").unwrap(), "is not a levee:policy plugin"),
    ];
    for (bytes, problem) in refused {
        let (status, answer) = upload(&server, "admin", "guard", bytes).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("plugin_rejected"))
        );
        assert!(answer["error"]["message"].as_str().unwrap_or_default().contains(problem), "{problem}: {answer}");
    }
    let mut oversized = wat::parse_str("(component)").unwrap();
    oversized.resize((4 << 20) + 1, 0);
    let (status, answer) = upload(&server, "admin", "guard", oversized).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("over the limit"), "{answer}");
    let (status, answer) = upload(&server, "admin", "Bad Name", hostile_bytes()).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("name")));
    assert_eq!(server.ledger_len().await, 0, "refused uploads write nothing");

    let digest = hex::encode(Sha256::digest(hostile_bytes()));
    let (status, first) = upload(&server, "admin", "hostile", hostile_bytes()).await;
    assert_eq!((status, first["digest"].as_str()), (StatusCode::CREATED, Some(digest.as_str())), "{first}");
    assert_eq!(first["version"], "0.1.0");
    let (status, again) = upload(&server, "admin", "hostile", hostile_bytes()).await;
    assert_eq!((status, again["digest"].as_str()), (StatusCode::OK, Some(digest.as_str())));
    let (_, ledger) = server.get("auditor", "/v1/ledger").await;
    assert_eq!(events(&ledger), ["policy.uploaded"]);
    server.stop().await;
}

/// Activating a chain with an uploaded plugin changes which digests decide the next case;
/// rolling back restores the earlier behaviour; every step is in the ledger, which verifies.
#[tokio::test]
async fn activation_and_rollback_change_which_plugins_decide() {
    if skip_on_spin(
        "Spin cannot load uploaded plugins; on_spin_an_upload_says_how_to_deploy_a_plugin_instead covers it",
    ) {
        return;
    }
    let server = TestServer::start().await;
    let (_, uploaded) = upload(&server, "admin", "hostile", hostile_bytes()).await;
    let digest = uploaded["digest"].as_str().unwrap().to_owned();

    let builtins = json!([{"name": "threshold"}, {"name": "routing"}]);
    assert_eq!(activate(&server, builtins).await.0, StatusCode::OK);
    let with_plugin = json!([{"name": "threshold"}, {"name": "routing"},
                             {"name": "hostile", "digest": digest, "params": {"mode": "error"}}]);
    let (status, registry) = activate(&server, with_plugin).await;
    assert_eq!(status, StatusCode::OK, "{registry}");
    assert_eq!(registry["chains"].as_array().unwrap().len(), 2);

    let decided = server.submit(refund(4_000, "after-activation")).await;
    assert_eq!(deciding_policies(&decided), ["threshold", "routing", "hostile"]);
    assert_eq!(decided["decision"]["policies"][2]["digest"], digest);
    assert_eq!(
        (decided["status"].as_str(), decided["decision"]["failed_closed"].as_bool()),
        (Some("pending_approval"), Some(true))
    );

    let (status, registry) =
        server.post("admin", "/v1/policies/chain/rollback", json!({"rationale": "plugin errors on every case"})).await;
    assert_eq!(status, StatusCode::OK, "{registry}");
    assert_eq!(registry["chains"][2]["restores"], 1);
    let restored = server.submit(refund(4_000, "after-rollback")).await;
    assert_eq!(deciding_policies(&restored), ["threshold", "routing"]);
    assert_eq!(restored["status"], "auto_approved");

    let (_, view) = server.get("auditor", "/v1/policies").await;
    assert_eq!(view["loaded"].as_array().unwrap().len(), 2);
    let (_, ledger) = server.get("auditor", "/v1/ledger").await;
    let recorded = events(&ledger);
    assert_eq!(recorded.iter().filter(|event| *event == "policy.chain_activated").count(), 3, "{recorded:?}");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

/// The active chain is the registry's, across a restart.
#[tokio::test]
async fn the_active_chain_survives_a_restart() {
    if skip_on_spin(
        "Spin cannot load uploaded plugins; on_spin_an_upload_says_how_to_deploy_a_plugin_instead covers it",
    ) {
        return;
    }
    let server = TestServer::start().await;
    let (_, uploaded) = upload(&server, "admin", "hostile", hostile_bytes()).await;
    let links =
        json!([{"name": "threshold"}, {"name": "hostile", "digest": uploaded["digest"], "params": {"mode": "error"}}]);
    assert_eq!(activate(&server, links).await.0, StatusCode::OK);
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;

    let server = TestServer::start_in(&data_dir, &Options::default()).await;
    let decided = server.submit(refund(4_000, "restarted")).await;
    assert_eq!(deciding_policies(&decided), ["threshold", "hostile"]);
    server.stop().await;
    drop(temp);
}

/// A host restarted with a lower `sandbox_max` than the active chain needs decides nothing with
/// any other chain: every case fails closed to a director naming why, and `/healthz` and
/// `/v1/policies` say so. Raising the maximum again brings the chain back.
#[tokio::test]
async fn a_host_that_cannot_load_the_active_chain_fails_every_case_closed_and_says_why() {
    if skip_on_spin("Spin fixes a plugin's memory when it is deployed: on_spin_a_link_cannot_set_fuel_or_memory") {
        return;
    }
    let roomy = SandboxMaxima { memory_bytes: 128 << 20, ..SandboxMaxima::default() };
    let server = TestServer::start_with(Options { sandbox_max: Some(roomy), ..Options::default() }).await;
    let links = json!([{"name": "threshold", "memory_bytes": 96_u64 << 20}, {"name": "routing"}]);
    assert_eq!(activate(&server, links).await.0, StatusCode::OK);
    assert_eq!(server.get_anonymous("/healthz").await.1["status"], "ok");
    let data_dir = server.data_dir.clone();
    let temp = server.stop().await;

    let server = TestServer::start_in(&data_dir, &Options::default()).await;
    let (_, health) = server.get_anonymous("/healthz").await;
    assert_eq!(health["status"], "degraded", "{health}");
    let fault = health["policy_chain"]["fault"].as_str().unwrap_or_default().to_owned();
    assert!(fault.contains("chain 1") && fault.contains("memory_bytes"), "{health}");
    let (_, registry) = server.get("auditor", "/v1/policies").await;
    assert_eq!(registry["host"]["runs_active_chain"], false, "{registry}");
    assert_eq!(registry["loaded"], json!([]), "nothing decides on this host: {registry}");

    let case = server.submit(refund(4_000, "a $40 refund that would auto-approve")).await;
    let decision = &case["decision"];
    assert_eq!((&decision["outcome"], &decision["level"]), (&json!("pending_approval"), &json!("director")), "{case}");
    assert_eq!(decision["failed_closed"], true, "{case}");
    assert_eq!(deciding_policies(&case), ["threshold", "routing"], "the active chain's policies, not loaded");
    let failure = decision["policies"][0]["failure"].as_str().unwrap_or_default();
    assert!(failure.contains("cannot load the active policy chain 1"), "{case}");
    server.stop().await;

    let server = TestServer::start_in(&data_dir, &Options { sandbox_max: Some(roomy), ..Options::default() }).await;
    assert_eq!(server.get_anonymous("/healthz").await.1["status"], "ok");
    let case = server.submit(refund(4_000, "back to normal")).await;
    assert_eq!(case["status"], "auto_approved", "{case}");
    server.stop().await;
    drop(temp);
}

/// A chain naming what does not exist is refused by field, and only admins activate.
#[tokio::test]
async fn chains_naming_unknown_plugins_are_refused() {
    if skip_on_spin(
        "Spin cannot load uploaded plugins; on_spin_an_upload_says_how_to_deploy_a_plugin_instead covers it",
    ) {
        return;
    }
    let server = TestServer::start().await;
    let unknown_digest = json!([{"name": "guard", "digest": "ab".repeat(32)}]);
    let (status, answer) = activate(&server, unknown_digest).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("links[0].digest"))
    );
    let (status, answer) = activate(&server, json!([{"name": "no-such-builtin"}])).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("links[0].name")));
    assert_eq!(activate(&server, json!([])).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let body = json!({"links": [{"name": "threshold"}], "rationale": "x"});
    assert_eq!(server.post("director", "/v1/policies/chain", body).await.0, StatusCode::FORBIDDEN);
    let (status, _) =
        server.post("admin", "/v1/policies/chain/rollback", json!({"rationale": "nothing to restore"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(server.ledger_len().await, 0);
    server.stop().await;
}

/// A backtest on a dataset with a known answer: three $40 refunds that auto-approved and two
/// $400 refunds that waited for a lead, replayed through a chain whose extra plugin fails every
/// case (so every case would wait for a director), and through one that never objects.
#[tokio::test]
async fn backtest_reports_changes_workload_and_amounts() {
    if skip_on_spin(
        "Spin cannot load uploaded plugins; on_spin_an_upload_says_how_to_deploy_a_plugin_instead covers it",
    ) {
        return;
    }
    let server = TestServer::start().await;
    for index in 0..3 {
        server.submit(refund(4_000, &format!("small-{index}"))).await;
    }
    for index in 0..2 {
        server.submit(refund(40_000, &format!("large-{index}"))).await;
    }
    let (_, uploaded) = upload(&server, "admin", "hostile", hostile_bytes()).await;
    let path = format!("/v1/policies/{}/backtest", uploaded["digest"].as_str().unwrap());

    let (status, report) = server.post("auditor", &path, json!({"days": 7, "params": {"mode": "error"}})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!((report["cases"].as_u64(), report["changed"].as_u64()), (Some(5), Some(5)), "{report}");
    assert_eq!(report["changes"], json!({"auto_approve → director": 3, "lead → director": 2}));
    assert_eq!(
        report["workload"],
        json!({"lead": {"actual": 2, "candidate": 0}, "director": {"actual": 0, "candidate": 5}})
    );
    let usd = &report["amounts"]["USD"];
    assert_eq!(usd["auto_approved"], json!({"actual": 12_000, "candidate": 0}));
    assert_eq!(usd["needing_approval"], json!({"actual": 80_000, "candidate": 92_000}));
    assert_eq!(report["failed_closed"], 5);

    let (_, unchanged) = server.post("auditor", &path, json!({"params": {"mode": "approve"}})).await;
    assert_eq!((unchanged["cases"].as_u64(), unchanged["changed"].as_u64()), (Some(5), Some(0)), "{unchanged}");
    assert_eq!(server.ledger_len().await, 6, "a backtest writes nothing");
    server.stop().await;
}

/// A shadow chain runs beside the active one without affecting cases: the live decision
/// stands, the shadow's is in the case's ledger entry, differences are listed, and stopping
/// the shadow stops the recording.
#[tokio::test]
async fn shadow_chain_records_differences_without_affecting_cases() {
    if skip_on_spin(
        "Spin cannot load uploaded plugins; on_spin_an_upload_says_how_to_deploy_a_plugin_instead covers it",
    ) {
        return;
    }
    let server = TestServer::start().await;
    let (_, uploaded) = upload(&server, "admin", "hostile", hostile_bytes()).await;
    let links = json!([{"name": "threshold"}, {"name": "routing"},
                       {"name": "hostile", "digest": uploaded["digest"], "params": {"mode": "error"}}]);
    let body = json!({"links": links, "rationale": "try the stricter chain on live traffic"});
    let (status, registry) = server.post("admin", "/v1/policies/shadow", body).await;
    assert_eq!((status, registry["shadow"]["number"].as_u64()), (StatusCode::OK, Some(1)), "{registry}");

    let live = server.submit(refund(4_000, "shadowed")).await;
    assert_eq!(live["status"], "auto_approved", "the shadow does not affect the case");
    let (_, case) = server.get("auditor", &format!("/v1/cases/{}", live["case_id"].as_str().unwrap())).await;
    let recorded = &case["ledger"][0]["payload"]["shadow"];
    assert_eq!(
        (recorded["live"].as_str(), recorded["shadow"].as_str()),
        (Some("auto_approve"), Some("director")),
        "{recorded}"
    );

    let (status, view) = server.get("auditor", "/v1/policies/shadow/differences").await;
    assert_eq!(status, StatusCode::OK);
    let differences = view["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "{view}");
    assert_eq!(differences[0]["case_id"], live["case_id"]);

    let stop = json!({"rationale": "seen enough"});
    assert_eq!(server.post("admin", "/v1/policies/shadow/stop", stop.clone()).await.0, StatusCode::OK);
    assert_eq!(server.post("admin", "/v1/policies/shadow/stop", stop).await.0, StatusCode::CONFLICT);
    server.submit(refund(4_000, "unshadowed")).await;
    let (_, view) = server.get("auditor", "/v1/policies/shadow/differences").await;
    assert_eq!((view["shadow"].is_null(), view["differences"].as_array().unwrap().len()), (true, 1));
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

/// The hostile-plugin suite over real HTTP upload and evaluation. With no recent cases to
/// dry-run it on, a looping plugin can be activated, and every case then fails closed with its
/// failure named while the server keeps answering. Once a case exists, each misbehaviour is
/// caught by the dry run before it is recorded: 422 naming the link, the case and the failure,
/// and nothing is written. A good chain then decides normally again.
#[tokio::test]
async fn uploaded_hostile_plugins_are_contained() {
    if skip_on_spin(
        "Spin cannot load uploaded plugins; on_spin_an_upload_says_how_to_deploy_a_plugin_instead covers it",
    ) {
        return;
    }
    // Room for the plugin that builds a huge answer, so that the output check is what stops it.
    let generous = SandboxMaxima { fuel: 2_000_000_000, deadline_ms: 5_000, ..SandboxMaxima::default() };
    let server = TestServer::start_with(Options { sandbox_max: Some(generous), ..Options::default() }).await;
    let (_, uploaded) = upload(&server, "admin", "hostile", hostile_bytes()).await;
    let digest = uploaded["digest"].clone();
    let hostile = |params: Value, limits: Value| {
        let mut link = json!({"name": "hostile", "digest": digest, "params": params});
        link.as_object_mut().unwrap().extend(limits.as_object().unwrap().clone());
        json!([{"name": "threshold"}, link])
    };

    let (status, answer) = activate(&server, hostile(json!({"mode": "loop"}), json!({"fuel": 5_000_000}))).await;
    assert_eq!(status, StatusCode::OK, "nothing to dry-run it on yet: {answer}");
    let decided = server.submit(refund(4_000, "victim")).await;
    assert_eq!(
        (decided["status"].as_str(), decided["decision"]["level"].as_str()),
        (Some("pending_approval"), Some("director"))
    );
    let failure = decided["decision"]["policies"][1]["failure"].as_str().unwrap_or_default();
    assert!(failure.starts_with("ran out of fuel (limit 5000000)"), "{failure}");
    let victim = decided["case_id"].as_str().unwrap().to_owned();

    let suite = [
        (json!({"mode": "grow"}), json!({"memory_bytes": 8 << 20}), "exceeded its memory cap of 8388608 bytes"),
        (json!({"mode": "recurse"}), json!({}), "trapped: wasm trap: call stack exhausted"),
        (
            json!({"mode": "huge"}),
            json!({"fuel": 2_000_000_000_u64, "deadline_ms": 5_000}),
            "returned a malformed decision: the decision is too large",
        ),
        (json!({"mode": "panic"}), json!({}), "trapped"),
        (json!({"mode": "error"}), json!({}), "returned an error"),
    ];
    let entries = server.ledger_len().await;
    for (params, limits, expected) in suite {
        let (status, answer) = activate(&server, hostile(params.clone(), limits)).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("links[1]")),
            "{params}: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(expected) && message.contains(&victim),
            "{params}: expected «{expected}» in «{message}»"
        );
        assert_eq!(server.get_anonymous("/healthz").await.0, StatusCode::OK);
    }
    assert_eq!(server.ledger_len().await, entries, "a chain refused by the dry run writes nothing");
    assert_eq!(activate(&server, json!([{"name": "threshold"}, {"name": "routing"}])).await.0, StatusCode::OK);
    assert_eq!(server.submit(refund(4_000, "after-the-suite")).await["status"], "auto_approved");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

/// On Spin a plugin is deployed with the component, not uploaded: the upload API says so with
/// 501 and how to deploy one instead, after checking who asks, and writes nothing. The loaded
/// chain is spin.toml's two slots. (The native server's uploads are the tests above.)
#[tokio::test]
async fn on_spin_an_upload_says_how_to_deploy_a_plugin_instead() {
    if levee_tests::only_on_spin() {
        return;
    }
    let server = TestServer::start().await;
    assert_eq!(upload(&server, "agent", "guard", hostile_bytes()).await.0, StatusCode::FORBIDDEN);
    let (status, answer) = upload(&server, "admin", "guard", hostile_bytes()).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{answer}");
    assert_eq!(answer["error"]["code"], "not_implemented");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    for needle in ["cannot load uploaded components", "component of its own", "spin.toml", "levee:policy/rules@0.2.0"] {
        assert!(message.contains(needle), "{needle:?} missing from {message}");
    }
    assert_eq!(server.ledger_len().await, 0, "a refused upload writes nothing");
    let (status, view) = server.get("auditor", "/v1/policies").await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let loaded: Vec<&str> = view["loaded"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(loaded, ["threshold", "routing"]);
    let links = json!([{"name": "threshold"}, {"name": "guard", "digest": "ab".repeat(32)}]);
    assert_ne!(activate(&server, links).await.0, StatusCode::OK, "no chain names a plugin Spin does not have");
    server.stop().await;
}

/// Rollback works from any sequence: activate, roll back to the configured chain, activate a
/// chain that fails on every case, and roll back again, to the configured chain that the
/// previous rollback restored.
#[tokio::test]
async fn a_rollback_after_a_rollback_to_the_configured_chain_restores_it() {
    if skip_on_spin(
        "Spin cannot load uploaded plugins; on_spin_an_upload_says_how_to_deploy_a_plugin_instead covers it",
    ) {
        return;
    }
    let server = TestServer::start().await;
    let (_, uploaded) = upload(&server, "admin", "hostile", hostile_bytes()).await;
    let rollback = || server.post("admin", "/v1/policies/chain/rollback", json!({"rationale": "restore"}));
    assert_eq!(activate(&server, json!([{"name": "threshold"}])).await.0, StatusCode::OK);
    let (status, registry) = rollback().await;
    assert_eq!((status, registry["chains"][1]["restores"].as_u64()), (StatusCode::OK, Some(0)), "{registry}");
    let failing =
        json!([{"name": "threshold"}, {"name": "hostile", "digest": uploaded["digest"], "params": {"mode": "error"}}]);
    assert_eq!(activate(&server, failing).await.0, StatusCode::OK);
    let (status, registry) = rollback().await;
    assert_eq!((status, registry["chains"][3]["restores"].as_u64()), (StatusCode::OK, Some(2)), "{registry}");
    let decided = server.submit(refund(4_000, "after-two-rollbacks")).await;
    assert_eq!(deciding_policies(&decided), ["threshold", "routing"], "the configured chain decides");
    assert_eq!(decided["status"], "auto_approved");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

/// A link's params are checked against the JSON Schema its plugin's `describe()` gives before
/// the chain is recorded: a mismatch is 422 naming the link's params and the place in them, and
/// nothing is written. The issue's sequence (activate, roll back, bad params, roll back) ends
/// with a working rollback.
#[tokio::test]
async fn params_that_do_not_match_the_plugins_schema_are_refused_and_rollback_still_works() {
    let server = TestServer::start().await;
    let rollback = || server.post("admin", "/v1/policies/chain/rollback", json!({"rationale": "restore"}));
    assert_eq!(activate(&server, json!([{"name": "threshold"}, {"name": "routing"}])).await.0, StatusCode::OK);
    assert_eq!(rollback().await.0, StatusCode::OK);
    let entries = server.ledger_len().await;

    let route = json!({"queue": "refunds", "team": "billing-ops", "sla_minutes": -5});
    // The schema each plugin's `describe()` gives is checked first, before its own `configure`.
    let refusals = [
        (
            json!([{"name": "threshold", "params": {"version": "v1"}}, {"name": "routing"}]),
            "links[0].params",
            ["the params do not match policy threshold", "ladders"],
        ),
        (
            json!([{"name": "threshold"}, {"name": "routing", "params": {"default": route}}]),
            "links[1].params",
            ["the params do not match policy", "/default/sla_minutes: -5 is less than the minimum of 0"],
        ),
    ];
    for (links, field, needles) in refusals {
        let (status, answer) = activate(&server, links).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(needles.iter().all(|needle| message.contains(needle)), "{message}");
    }
    assert_eq!(server.ledger_len().await, entries, "a refused activation writes nothing");

    let (status, registry) = rollback().await;
    assert_eq!((status, registry["chains"][2]["restores"].as_u64()), (StatusCode::OK, Some(1)), "{registry}");
    let decided = server.submit(refund(4_000, "after-the-refusal")).await;
    assert_eq!(deciding_policies(&decided), ["threshold", "routing"]);
    assert_eq!(decided["status"], "auto_approved", "{decided}");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

/// Rollback always works: over random sequences of valid and invalid activations and rollbacks
/// (to the configured chain, to earlier chains, to chains that do not exist), every answer is
/// what a model of the registry predicts, a refusal writes nothing, and each sequence ends with
/// a rollback that works and a case decided by a working chain. The seeds are fixed, so a
/// failure names the seed and step that reproduce it.
#[tokio::test]
async fn rollback_always_works_after_any_sequence_of_activations_and_rollbacks() {
    let server = TestServer::start().await;
    let mut model = RegistryModel::default();
    for seed in 1..=12_u64 {
        let mut random = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for step in 0..10 {
            let place = format!("seed {seed}, step {step}");
            let entries = server.ledger_len().await;
            let (expected, (status, answer)) = match random.below(4) {
                0 => {
                    let deadline = 100 + 50 * random.below(4);
                    let links = json!([{"name": "threshold", "deadline_ms": deadline}, {"name": "routing"}]);
                    (model.activate(), activate(&server, links).await)
                }
                1 => {
                    let invalid = [
                        json!([]),
                        json!([{"name": "no-such-policy"}]),
                        json!([{"name": "threshold", "deadline_ms": 0}, {"name": "routing"}]),
                        json!([{"name": "threshold"}, {"name": "routing", "params": {"default": {"queue": ""}}}]),
                    ];
                    let links = invalid[random.below(invalid.len() as u64) as usize].clone();
                    (StatusCode::UNPROCESSABLE_ENTITY, activate(&server, links).await)
                }
                _ => {
                    let to = (random.below(3) > 0).then(|| random.below(model.chains + 2));
                    let body = match to {
                        Some(to) => json!({"to": to, "rationale": "restore"}),
                        None => json!({"rationale": "restore"}),
                    };
                    (model.rollback(to), server.post("admin", "/v1/policies/chain/rollback", body).await)
                }
            };
            assert_eq!(status, expected, "{place}: {answer}");
            if status != StatusCode::OK {
                assert_eq!(server.ledger_len().await, entries, "{place}: a refusal writes nothing");
            }
        }
        if model.chains == 0 {
            assert_eq!(model.activate(), StatusCode::OK);
            assert_eq!(activate(&server, json!([{"name": "threshold"}, {"name": "routing"}])).await.0, StatusCode::OK);
        }
        let expected = model.rollback(None);
        let (status, registry) =
            server.post("admin", "/v1/policies/chain/rollback", json!({"rationale": "end of sequence"})).await;
        assert_eq!((status, expected), (StatusCode::OK, StatusCode::OK), "seed {seed}: {registry}");
        assert_eq!(registry["chains"].as_array().map(Vec::len), Some(model.chains as usize), "seed {seed}");
        let decided = server.submit(refund(4_000, &format!("after-sequence-{seed}"))).await;
        assert_eq!(deciding_policies(&decided), ["threshold", "routing"], "seed {seed}");
        assert_eq!(decided["status"], "auto_approved", "seed {seed}: {decided}");
    }
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

/// What the registry should answer: how many chains were activated (rollbacks included) and
/// which is active (0: the configured chain).
#[derive(Default)]
struct RegistryModel {
    chains: u64,
    active: u64,
}

impl RegistryModel {
    fn activate(&mut self) -> StatusCode {
        self.chains += 1;
        self.active = self.chains;
        StatusCode::OK
    }

    /// A rollback restores chain 0 or an earlier chain other than the active one (by default
    /// the one before it), as a new activation; anything else is refused.
    fn rollback(&mut self, to: Option<u64>) -> StatusCode {
        if self.chains == 0 {
            return StatusCode::UNPROCESSABLE_ENTITY;
        }
        let target = to.unwrap_or(self.active.saturating_sub(1));
        if target != 0 && (target > self.chains || target == self.active) {
            return StatusCode::UNPROCESSABLE_ENTITY;
        }
        self.activate()
    }
}

/// A small seeded generator (xorshift64*), so that a failing sequence can be replayed.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound.max(1)
    }
}

/// Before a chain is recorded it is dry-run on the most recent cases: a threshold whose params
/// pass its schema but have no ladder for USD fails on the recent USD case, so the activation is
/// refused naming the link, the case and the failure, and nothing is written. A rollback is not
/// dry-run: it restores a chain that ran before.
#[tokio::test]
async fn a_chain_that_fails_on_recent_cases_is_refused_by_the_dry_run() {
    let server = TestServer::start().await;
    let recent = server.submit(refund(4_000, "recent")).await;
    let mut no_usd = levee_core::matrix::ApprovalMatrix::default_matrix();
    no_usd.ladders.remove("USD");
    let links = json!([{"name": "threshold", "params": no_usd.to_params()}, {"name": "routing"}]);
    let entries = server.ledger_len().await;
    let (status, answer) = activate(&server, links).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("links[0]")),
        "{answer}"
    );
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    let case_id = recent["case_id"].as_str().unwrap_or_default();
    assert!(message.contains("policy threshold returned an error") && message.contains(case_id), "{message}");
    assert_eq!(server.ledger_len().await, entries, "a chain refused by the dry run writes nothing");
    assert_eq!(deciding_policies(&server.submit(refund(4_000, "still-decided")).await), ["threshold", "routing"]);
    server.stop().await;
}

/// An activation is loaded on this host under its limits before it is recorded: a link asking
/// for more memory than the engine's ceiling, or for no fuel, memory or time at all, is refused
/// with 422 naming the link and why, and nothing is written; the chain in force stays.
#[tokio::test]
async fn a_chain_this_host_cannot_load_is_refused_and_nothing_is_written() {
    if skip_on_spin("Spin's own limits test: on_spin_a_link_cannot_set_fuel_or_memory") {
        return;
    }
    let server = TestServer::start().await;
    let (status, before) = server.get("auditor", "/v1/policies").await;
    assert_eq!(status, StatusCode::OK);
    let refusals = [
        (json!({"name": "routing", "memory_bytes": 1_u64 << 30}), "links[1].memory_bytes", "maximum of 67108864"),
        (json!({"name": "routing", "deadline_ms": 20_000}), "links[1].deadline_ms", "maximum of 1000 ms"),
        (json!({"name": "routing", "fuel": 1_000_000_000}), "links[1].fuel", "maximum of 100000000"),
        (json!({"name": "routing", "fuel": 10}), "links[1]", "describe() ran out of fuel (limit 10)"),
        (json!({"name": "routing", "memory_bytes": 0}), "links[1].memory_bytes", "at least 1"),
        (json!({"name": "routing", "fuel": 0}), "links[1].fuel", "at least 1"),
        (json!({"name": "routing", "deadline_ms": 0}), "links[1].deadline_ms", "at least 1"),
    ];
    for (link, field, reason) in refusals {
        let (status, answer) = activate(&server, json!([{"name": "threshold"}, link])).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason) && message.contains("routing"), "{link}: {message}");
    }
    assert_eq!(server.ledger_len().await, 0, "a refused activation writes nothing");
    assert_eq!(server.get("auditor", "/v1/policies").await.1, before, "the registry is as it was");
    assert_eq!(deciding_policies(&server.submit(refund(4_000, "unchanged")).await), ["threshold", "routing"]);
    server.stop().await;
}

/// On Spin a plugin's fuel and memory are fixed when it is deployed (its metered budget, the
/// component's memory): a link that sets them is refused, not silently ignored; and a link's
/// deadline has a maximum, as under `levee serve`.
#[tokio::test]
async fn on_spin_a_link_cannot_set_fuel_or_memory() {
    if levee_tests::only_on_spin() {
        return;
    }
    let server = TestServer::start().await;
    for limit in [json!({"fuel": 1_000_000}), json!({"memory_bytes": 1_u64 << 30})] {
        let mut routing = json!({"name": "routing"});
        routing.as_object_mut().unwrap().extend(limit.as_object().unwrap().clone());
        let field = format!("links[1].{}", limit.as_object().unwrap().keys().next().unwrap());
        let (status, answer) = activate(&server, json!([{"name": "threshold"}, routing])).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field.as_str())),
            "{answer}"
        );
        assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("deploy"), "{answer}");
    }
    // A link's deadline is levee's wait for the plugin: at most policy_deadline_max_ms (5 s).
    let slow = json!([{"name": "threshold", "deadline_ms": 20_000}, {"name": "routing"}]);
    let (status, answer) = activate(&server, slow).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("links[0].deadline_ms")),
        "{answer}"
    );
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("deadline_ms 20000 ms is over this host's maximum of 5000 ms"), "{message}");
    assert_eq!(server.ledger_len().await, 0, "a refused activation writes nothing");
    server.stop().await;
}

/// A plugin built against the frozen `levee:policy@0.1.0` (its own bindings of
/// wit/frozen/v0.1.0) is uploaded, activated and decides like any other: levee gives it its
/// params with every case and the customer's history, as 0.1.0 has it.
#[tokio::test]
async fn a_plugin_on_the_frozen_contract_is_uploaded_and_decides() {
    if skip_on_spin("Spin cannot load uploaded plugins, and its runner takes levee:policy@0.2.0 plugins only") {
        return;
    }
    let server = TestServer::start().await;
    let bytes = std::fs::read(levee::policy::builtin::FROZEN_V0_1_WASM_PATH).expect("the 0.1.0 fixture was built");
    let (status, uploaded) = upload(&server, "admin", "legacy", bytes).await;
    assert_eq!((status, uploaded["version"].as_str()), (StatusCode::CREATED, Some("0.1.0")), "{uploaded}");
    let digest = uploaded["digest"].as_str().unwrap();
    let links = json!([{"name": "threshold"}, {"name": "routing"},
        {"name": "legacy", "digest": digest, "params": {"tag": "pilot", "repeat_refunds": 1}}]);
    let (status, activated) = activate(&server, links).await;
    assert_eq!(status, StatusCode::OK, "{activated}");

    let first = server.submit(on_order(refund(1_500, "legacy-customer"), "order-legacy-1")).await;
    assert_eq!(run_of(&first, "legacy")["rule_id"], "frozen-v0-1/pilot/fine", "{first}");
    assert_eq!(first["status"], "auto_approved", "{first}");
    let second = server.submit(on_order(refund(1_500, "legacy-customer"), "order-legacy-2")).await;
    let legacy = run_of(&second, "legacy");
    assert_eq!(
        (legacy["verdict"].as_str(), legacy["rule_id"].as_str()),
        (Some("require_approval"), Some("frozen-v0-1/pilot/repeat")),
        "{second}"
    );
    assert_eq!(second["status"], "pending_approval", "{second}");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

/// A 0.2.0 plugin whose `configure` traps on the params a chain gives it, or runs out of fuel, is
/// refused when the chain is proposed, naming that link (its params, for the trap) and how it
/// failed; nothing is written, and the same plugin with params it takes is accepted.
#[tokio::test]
async fn a_chain_whose_plugin_fails_to_configure_is_refused_naming_its_params() {
    if skip_on_spin("Spin cannot load uploaded plugins; on Spin every call configures the plugin") {
        return;
    }
    let server = TestServer::start().await;
    let (status, uploaded) = upload(&server, "admin", "hostile", hostile_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let digest = uploaded["digest"].as_str().unwrap();
    let entries = server.ledger_len().await;
    let chain = |params: Value| {
        json!([{"name": "threshold"}, {"name": "routing"},
        {"name": "hostile", "digest": digest, "params": params}])
    };
    // A trap is the params' doing; a broken limit is the link's.
    let refusals =
        [("trap", "links[2].params", "configure() trapped"), ("loop", "links[2]", "configure() ran out of fuel")];
    for (mode, field, named) in refusals {
        let (status, answer) = activate(&server, chain(json!({"mode": mode, "when": "configure"}))).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("policy hostile: {named}")), "{mode}: {message}");
    }
    assert_eq!(server.ledger_len().await, entries, "a refused chain writes nothing");
    let (status, activated) = activate(&server, chain(json!({"mode": "approve", "when": "configure"}))).await;
    assert_eq!(status, StatusCode::OK, "{activated}");
    let decided = server.submit(refund(4_000, "configured")).await;
    assert_eq!(run_of(&decided, "hostile")["rule_id"], "hostile/configured", "{decided}");
    server.stop().await;
}
