//! What only the Spin component has: its rule plugins are component dependencies that reach
//! nothing of the component's configuration, and its schedule runs when a scheduler calls it.
//! These run on the Spin backend only (`LEVEE_TEST_BACKEND=spin`).

use levee::policy::builtin::{self, KV_SNOOPER_WASM_PATH};
use levee_core::store::Store;
use levee_tests::spin_host::{self, Configuration, KvStore};
use levee_tests::{Backend, Options, StatusCode, TestServer, backend, refund};
use serde_json::Value;

fn spin_only() -> bool {
    if backend() != Backend::Spin {
        eprintln!("skipped natively: a test of the Spin component");
        return false;
    }
    true
}

/// levee-spin with the kv-snooper test plugin in the `threshold` slot, each dependency given
/// `configuration`.
fn with_snooper(configuration: Configuration) -> Vec<u8> {
    let component = std::fs::read(spin_host::LEVEE_SPIN_WASM).expect("the levee-spin component was built");
    let snooper = std::fs::read(KV_SNOOPER_WASM_PATH).expect("the kv-snooper fixture was built");
    let routing = builtin::by_name("routing").expect("the built-in routing plugin");
    spin_host::compose_with(&component, &[("threshold", &snooper), ("routing", routing)], configuration)
        .expect("levee-spin composes with the snooper")
}

fn snooped_keys(server: &TestServer) -> Vec<String> {
    let kv = KvStore::for_dir(&server.data_dir);
    kv.keys().expect("the store lists its keys").into_iter().filter(|key| key.starts_with("snooped/")).collect()
}

fn threshold_result(answer: &Value) -> &Value {
    let policies = answer["decision"]["policies"].as_array().expect("the decision names its policies");
    policies.iter().find(|policy| policy["name"] == "threshold").expect("the threshold slot decided")
}

/// A plugin that tries to read the ledger's head and write a key of its own is refused by the
/// store (spin.toml's dependencies inherit no configuration): the case fails closed to a
/// director, the failure names the refusal, and nothing of the plugin's is in the store. The
/// same plugin given the component's configuration (`dependencies_inherit_configuration =
/// true`) does reach the store, so it is the composition that keeps it out.
#[tokio::test]
async fn a_plugin_dependency_cannot_reach_the_key_value_store() {
    if !spin_only() {
        return;
    }
    let denied = Options { spin_component: Some(with_snooper(Configuration::Denied)), ..Options::default() };
    let server = TestServer::start_with(denied).await;
    let answer = server.submit(refund(4_000, "snooped")).await;
    assert_eq!(answer["status"], "pending_approval", "{answer}");
    assert_eq!(answer["decision"]["level"], "director", "a failed policy fails closed: {answer}");
    let failure = threshold_result(&answer).to_string();
    assert!(failure.contains("the key-value store refused") && failure.contains("AccessDenied"), "{failure}");
    assert_eq!(snooped_keys(&server), Vec::<String>::new());
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;

    let inherited = Options { spin_component: Some(with_snooper(Configuration::Inherited)), ..Options::default() };
    let server = TestServer::start_with(inherited).await;
    let answer = server.submit(refund(4_000, "snooped")).await;
    assert_eq!(threshold_result(&answer)["rule_id"], "kv-snooper/reached-store", "{answer}");
    let signals = answer["decision"]["signals"].to_string();
    assert!(signals.contains("store-reached:"), "with inherited configuration the plugin reaches the store: {answer}");
    let case_id = answer["case_id"].as_str().expect("a case id");
    assert_eq!(snooped_keys(&server), vec![format!("snooped/{case_id}")]);
    server.stop().await;
}

/// The schedule runs when a scheduler calls `POST /v1/jobs/run`: admins only, POST only, and
/// the answer says what it did.
#[tokio::test]
async fn the_schedule_runs_on_an_admins_call() {
    if !spin_only() {
        return;
    }
    let server = TestServer::start().await;
    server.submit(refund(4_000, "scheduled")).await;
    assert_eq!(server.get_anonymous("/v1/jobs/run").await.0, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(server.post("lead", "/v1/jobs/run", Value::Null).await.0, StatusCode::FORBIDDEN);
    let (status, run) = server.post("admin", "/v1/jobs/run", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert!(run["governance"]["escalated"].is_array() && run["deliveries"].is_array(), "{run}");
    assert_eq!(run["governance"]["metrics_folded"], 1, "the submission is folded into the metrics: {run}");
    let kv = KvStore::for_dir(&server.data_dir);
    assert!(kv.get("metrics/cursor").expect("the store answers").is_some(), "the run folded the metrics");
    server.stop().await;
}
