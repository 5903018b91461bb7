//! Smoke tests of the Spin stand-in: the real composed levee component answers over HTTP and
//! keeps state in the key-value store across requests; a component importing what Spin does not
//! provide is refused at start; a request that traps answers 500 naming the trap.

use std::collections::BTreeMap;
use std::sync::Arc;

use levee_core::clock::SystemClock;
use levee_core::store::Store;
use serde_json::Value;

use super::*;

fn config(component: Vec<u8>, kv: Arc<KvStore>) -> SpinConfig {
    let variables = BTreeMap::from([("config".to_owned(), String::new()), ("demo".to_owned(), "true".to_owned())]);
    SpinConfig { component, kv, variables, clock: Arc::new(SystemClock) }
}

#[tokio::test]
async fn the_levee_component_answers_and_keeps_its_demo_tokens() {
    let kv = Arc::new(KvStore::new());
    let server = start(config(composed_levee().unwrap(), kv.clone())).await.expect("starts");
    let client = levee::http_client();
    let base = format!("http://{}", server.addr);

    let response = client.get(format!("{base}/healthz")).send().await.expect("answers");
    assert_eq!(response.status(), 200);
    let tokens: BTreeMap<String, String> =
        serde_json::from_slice(&kv.get("demo/tokens").unwrap().expect("demo tokens stored")).unwrap();
    for role in ["agent", "lead", "manager", "finance", "director", "director2", "auditor", "comms", "admin"] {
        assert!(tokens.contains_key(role), "no demo token for {role}: {tokens:?}");
    }

    // A later request, in a fresh instance, reads the same store.
    let response = client.get(format!("{base}/v1/me")).bearer_auth(&tokens["agent"]).send().await.expect("answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_component_importing_more_than_spin_provides_is_refused() {
    let component = wat::parse_str(r#"(component (import "wasi:sockets/tcp@0.2.0" (instance)))"#).unwrap();
    let error = start(config(component, Arc::new(KvStore::new()))).await.err().expect("refused");
    assert!(error.to_string().contains("wasi:sockets/tcp@0.2.0"), "{error}");
}

/// An incoming handler whose core function is `unreachable`.
const TRAPPING_HANDLER: &str = r#"
(component
  (import "wasi:http/types@0.2.0" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))
  ))
  (alias export $types "incoming-request" (type $request))
  (alias export $types "response-outparam" (type $outparam))
  (core module $module
    (func (export "handle") (param i32 i32) unreachable)
  )
  (core instance $instance (instantiate $module))
  (func $handle (param "request" (own $request)) (param "response-out" (own $outparam))
    (canon lift (core func $instance "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $handler))
)
"#;

#[tokio::test]
async fn a_trap_answers_500_naming_it() {
    let component = wat::parse_str(TRAPPING_HANDLER).unwrap();
    let server = start(config(component, Arc::new(KvStore::new()))).await.expect("starts");
    let response = levee::http_client().get(format!("http://{}/healthz", server.addr)).send().await.expect("answers");
    assert_eq!(response.status(), 500);
    let body = response.text().await.unwrap();
    assert!(body.contains("trapped") && body.contains("unreachable"), "{body}");
    server.stop().await;
}
