//! The Redis backend against a real redis-server: the storage port's contract, deployments
//! kept apart by their prefixes, and a password. Runs with `LEVEE_TEST_BACKEND=redis`.

use levee::store::{RedisConfig, RedisStore};
use levee_core::store::Store;
use levee_tests::only_on_redis;
use levee_tests::redis_server::RedisServer;

#[test]
fn redis_store_keeps_the_contract_and_its_prefix() {
    if only_on_redis() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let shared = RedisServer::shared();
    let acme = RedisStore::open(&shared.store_for(&temp.path().join("acme"))).expect("open");
    levee_core::store::contract::check_store_contract(&acme);

    // Another deployment on the same Redis sees none of it, and binary values come back intact.
    let globex = RedisStore::open(&shared.store_for(&temp.path().join("globex"))).expect("open");
    assert_eq!(globex.get("fresh").unwrap(), None);
    let bytes: Vec<u8> = (0..=255).collect();
    assert!(globex.compare_and_swap("blob", None, &bytes).unwrap());
    assert!(globex.compare_and_swap("blob", Some(&bytes), b"next").unwrap());
    assert_eq!(acme.get("blob").unwrap(), None);
}

#[test]
fn a_password_is_required_and_never_shown() {
    if only_on_redis() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let server = RedisServer::start_with_password(temp.path(), Some("correct-horse-battery"));
    let right = RedisStore::open(&RedisConfig::new(&server.url())).expect("the right password opens it");
    right.set("k", b"v").unwrap();

    let wrong = format!("redis://:wrong-password@127.0.0.1:{}", server.port);
    let error = format!("{:#}", RedisStore::open(&RedisConfig::new(&wrong)).err().expect("refused"));
    assert!(error.contains(&format!("redis://:***@127.0.0.1:{}", server.port)), "{error}");
    assert!(!error.contains("wrong-password"), "{error}");
    let none = format!("redis://127.0.0.1:{}", server.port);
    let error = format!("{:#}", RedisStore::open(&RedisConfig::new(&none)).err().expect("refused"));
    assert!(error.to_lowercase().contains("auth"), "{error}");
}
