//! Signed ledger checkpoints from the command line: `audit keygen` writes a key, `audit
//! checkpoint` signs the ledger's tree, and `audit verify --checkpoint` proves that the ledger
//! still extends it (and includes an entry), failing by name on a ledger rewritten below it
//! even when the rewritten chain is re-sealed so that the chain check alone passes.

use std::path::Path;
use std::sync::Arc;

use levee::store::{RedbStore, redb_path};
use levee_core::clock::SystemClock;
use levee_core::ledger::LedgerEntry;
use levee_core::ledger_store::{HEAD_KEY, entry_key};
use levee_core::store::Store;
use serde_json::{Value, json};

use super::levee;

/// Submits `n` small refunds as the demo agent to a levee built in-process on `data` (no
/// server, no port); the store is released on return.
fn append_cases(data: &Path, n: usize) {
    let mut config = levee::config::ServeConfig::resolve(None, Some(data.to_path_buf()), None, true).unwrap();
    config.seed_demo_data = false;
    let service = levee::app::build_levee(&config, Arc::new(SystemClock)).expect("levee builds");
    let tokens: Value = serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    let agent = tokens["agent"].as_str().unwrap();
    for i in 0..n {
        let body = json!({"kind": "refund", "amount": {"minor_units": 2500, "currency": "USD"},
                          "customer_ref": format!("cus_cp_{i}"), "exception_code": "LATE_DELIVERY", "rationale": "late"});
        let request = http::Request::post("/v1/cases")
            .header("authorization", format!("Bearer {agent}"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
            .unwrap();
        let response = levee_core::api::handle(&service, request);
        assert_eq!(
            response.status(),
            201,
            "{}",
            String::from_utf8_lossy(response.body().as_whole().unwrap_or_default())
        );
    }
}

/// Rewrites entry `seq` with `change`, then re-seals it and every later entry (each one's
/// `prev_hash` and `hash`) and the head hint, as an attacker with write access to the store
/// would: the chain is whole again.
fn reseal_from(data: &Path, seq: u64, change: impl FnOnce(&mut LedgerEntry)) {
    let store = RedbStore::open(&redb_path(data)).unwrap();
    let mut change = Some(change);
    let mut prev_hash: Option<String> = None;
    let mut at = seq;
    while let Some(bytes) = store.get(&entry_key(at)).unwrap() {
        let mut slot: Value = serde_json::from_slice(&bytes).unwrap();
        let mut entry: LedgerEntry = serde_json::from_value(slot["entry"].clone()).unwrap();
        if let Some(change) = change.take() {
            change(&mut entry);
        }
        if let Some(prev_hash) = prev_hash {
            entry.prev_hash = prev_hash;
        }
        entry.hash = entry.compute_hash();
        prev_hash = Some(entry.hash.clone());
        slot["entry"] = serde_json::to_value(&entry).unwrap();
        store.set(&entry_key(at), &serde_json::to_vec(&slot).unwrap()).unwrap();
        at += 1;
    }
    let head = json!({"seq": at - 1, "hash": prev_hash});
    store.set(HEAD_KEY, &serde_json::to_vec(&head).unwrap()).unwrap();
}

/// `audit keygen`: the verifier key it prints (its last line).
fn keygen(dir: &Path, name: &str, out: &str) -> String {
    let (code, text) = levee(&["audit", "keygen", "--name", name, "--out", out], dir);
    assert_eq!(code, Some(0), "{text}");
    text.lines().last().unwrap().trim().to_owned()
}

#[test]
fn a_published_checkpoint_proves_the_ledger_extends_it_and_catches_a_resealed_rewrite() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let data = dir.join("levee-data");
    let verifier = keygen(dir, "ledger.example.com/levee", "checkpoint.key");
    assert!(verifier.starts_with("ledger.example.com/levee+"), "{verifier}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("checkpoint.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is readable by its owner only");
    }
    let (code, text) = levee(&["audit", "keygen", "--name", "other", "--out", "checkpoint.key"], dir);
    assert_eq!(code, Some(2), "an existing key is never replaced: {text}");
    std::fs::write(dir.join("levee.toml"), "[audit]\ncheckpoint_key = \"checkpoint.key\"\n").unwrap();

    append_cases(&data, 3);
    let sign = ["audit", "checkpoint", "--data", "levee-data", "--config", "levee.toml", "--out", "checkpoint.txt"];
    let (code, text) = levee(&sign, dir);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("3 entries") && text.contains("signed by ledger.example.com/levee"), "{text}");
    let note = std::fs::read_to_string(dir.join("checkpoint.txt")).unwrap();
    assert!(note.starts_with("ledger.example.com/levee\n3\n"), "{note}");

    append_cases(&data, 2);
    let verify = ["audit", "verify", "--data", "levee-data", "--checkpoint", "checkpoint.txt", "--key"];
    let (code, text) = levee(&[&verify[..], &[verifier.as_str()]].concat(), dir);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ledger OK: 5 entries"), "{text}");
    assert!(text.contains("the ledger's first 3 entries hash to the checkpoint's root"), "{text}");
    assert!(text.contains("the ledger (5 entries) extends it"), "{text}");

    // The verifier key from a file; an entry's inclusion; one past the checkpoint.
    std::fs::write(dir.join("verifier.pub"), format!("{verifier}\n")).unwrap();
    let (code, text) = levee(&[&verify[..], &["verifier.pub", "--entry", "2"]].concat(), dir);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("entry 2 (hash ") && text.contains("is included"), "{text}");
    let (code, text) = levee(&[&verify[..], &["verifier.pub", "--entry", "4"]].concat(), dir);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("entry 4 is not in the checkpoint, which covers entries 1 to 3"), "{text}");

    // A key with the same name that did not sign it.
    let impostor = keygen(dir, "ledger.example.com/levee", "impostor.key");
    let (code, text) = levee(&[&verify[..], &[impostor.as_str()]].concat(), dir);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("checkpoint FAILED") && text.contains("no signature by the key"), "{text}");

    // Entry 2 rewritten and the chain re-sealed from there: the chain check passes, the
    // checkpoint does not.
    reseal_from(&data, 2, |entry| entry.actor = "mallory".into());
    let (code, text) = levee(&["audit", "verify", "--data", "levee-data"], dir);
    assert_eq!(code, Some(0), "a re-sealed chain passes the chain check alone: {text}");
    let (code, text) = levee(&[&verify[..], &[verifier.as_str()]].concat(), dir);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("ledger OK: 5 entries"), "{text}");
    assert!(text.contains("checkpoint FAILED: root mismatch: the ledger's first 3 entries hash to root"), "{text}");
}

/// Signing needs a configured key, and a ledger that verifies.
#[test]
fn a_checkpoint_needs_a_key_and_a_sound_ledger() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let data = dir.join("levee-data");
    append_cases(&data, 2);
    let (code, text) = levee(&["audit", "checkpoint", "--data", "levee-data", "--out", "checkpoint.txt"], dir);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("checkpoint_key"), "{text}");

    keygen(dir, "ledger.example.com/levee", "checkpoint.key");
    std::fs::write(dir.join("levee.toml"), "[audit]\ncheckpoint_key = \"checkpoint.key\"\n").unwrap();
    let store = RedbStore::open(&redb_path(&data)).unwrap();
    let mut slot: Value = serde_json::from_slice(&store.get(&entry_key(2)).unwrap().unwrap()).unwrap();
    slot["entry"]["actor"] = json!("mallory");
    store.set(&entry_key(2), &serde_json::to_vec(&slot).unwrap()).unwrap();
    drop(store);
    let sign = ["audit", "checkpoint", "--data", "levee-data", "--config", "levee.toml", "--out", "checkpoint.txt"];
    let (code, text) = levee(&sign, dir);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("ledger BROKEN at entry 2") && text.contains("not signed"), "{text}");
    assert!(!dir.join("checkpoint.txt").exists());

    std::fs::write(dir.join("bad.key"), "PRIVATE+KEY+x+00000000+AAAA\n").unwrap();
    std::fs::write(dir.join("bad.toml"), "[audit]\ncheckpoint_key = \"bad.key\"\n").unwrap();
    let (code, text) = levee(&["audit", "checkpoint", "--config", "bad.toml", "--out", "c.txt"], dir);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("the checkpoint key bad.key") && !text.contains("AAAA"), "{text}");
}
