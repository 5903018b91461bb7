//! The Redis backend against a real redis-server: the storage port's contract, deployments
//! kept apart by their prefixes, a password, and TLS with a private CA. Runs with
//! `LEVEE_TEST_BACKEND=redis`.

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

/// `rediss://` to a server whose certificate a private CA signed: trusted with `tls_ca`,
/// refused without it (the system does not trust that CA).
#[test]
fn tls_with_a_private_ca() {
    if only_on_redis() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &ca).unwrap();
    std::fs::write(temp.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(temp.path().join("server.pem"), server_cert.pem()).unwrap();
    std::fs::write(temp.path().join("server.key"), server_key.serialize_pem()).unwrap();
    let server = RedisServer::start_tls(temp.path());
    assert!(server.url().starts_with("rediss://"));

    let trusted = RedisConfig { tls_ca: Some(temp.path().join("ca.pem")), ..RedisConfig::new(&server.url()) };
    let store = RedisStore::open(&trusted).expect("TLS with the private CA");
    assert!(store.compare_and_swap("k", None, b"over TLS").unwrap());
    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"over TLS"[..]));

    let mut untrusted = RedisConfig::new(&server.url());
    untrusted.connect_timeout_ms = 1_000;
    let error = format!("{:#}", RedisStore::open(&untrusted).err().expect("an unknown CA is refused"));
    assert!(error.contains("reach Redis at rediss://127.0.0.1"), "{error}");
    assert!(error.to_lowercase().contains("certificate"), "{error}");
}
