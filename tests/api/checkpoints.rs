//! The ledger's Merkle tree over HTTP: inclusion and consistency proofs from the API verify
//! with `levee_core::merkle` against roots recomputed from the exported entries, and a signed
//! checkpoint from `GET /v1/audit/checkpoint` verifies with the host's published key and is
//! extended by the ledger that grows after it.

use levee_core::checkpoint::CheckpointSigner;
use levee_core::merkle::{self, Hash};
use levee_tests::{Options, StatusCode, TestServer, refund, skip_on_spin};
use serde_json::Value;

fn hash(value: &Value) -> Hash {
    let text = value.as_str().unwrap_or_else(|| panic!("a hex hash, not {value}"));
    hex::decode(text).unwrap().try_into().unwrap()
}

fn hashes(value: &Value) -> Vec<Hash> {
    value.as_array().expect("a list of hashes").iter().map(hash).collect()
}

/// The leaves as an auditor computes them from the export: each entry's hash, hashed as a leaf.
async fn exported_leaves(server: &TestServer) -> Vec<Hash> {
    let (status, entries) = server.get("auditor", "/v1/ledger").await;
    assert_eq!(status, StatusCode::OK, "{entries}");
    entries.as_array().unwrap().iter().map(|entry| merkle::leaf_hash(&hash(&entry["hash"]))).collect()
}

async fn submit_refunds(server: &TestServer, prefix: &str, n: usize) {
    for i in 0..n {
        server.submit(refund(2_500, &format!("{prefix}-{i}"))).await;
    }
}

#[tokio::test]
async fn inclusion_and_consistency_proofs_verify() {
    let server = TestServer::start().await;
    submit_refunds(&server, "merkle", 7).await;
    let leaves = exported_leaves(&server).await;
    assert_eq!(leaves.len(), 7);

    for size in [1, 4, 5, 7] {
        let tree_root = merkle::root(&leaves[..size]);
        for seq in 1..=size {
            let (status, answer) =
                server.get("auditor", &format!("/v1/audit/proof/inclusion?seq={seq}&size={size}")).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!((answer["seq"].as_u64(), answer["size"].as_u64()), (Some(seq as u64), Some(size as u64)));
            assert_eq!(hash(&answer["leaf_hash"]), leaves[seq - 1]);
            assert_eq!(hash(&answer["root"]), tree_root);
            let proof = hashes(&answer["proof"]);
            let index = seq as u64 - 1;
            assert_eq!(merkle::verify_inclusion(&leaves[seq - 1], index, size as u64, &proof, &tree_root), Ok(()));
        }
    }
    let (_, latest) = server.get("auditor", "/v1/audit/proof/inclusion?seq=3").await;
    assert_eq!(
        (latest["size"].as_u64(), hash(&latest["root"])),
        (Some(7), merkle::root(&leaves)),
        "size defaults to all"
    );

    let new_root = merkle::root(&leaves);
    for from in 1..=7 {
        let (status, answer) = server.get("auditor", &format!("/v1/audit/proof/consistency?from={from}&to=7")).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let old_root = merkle::root(&leaves[..from]);
        assert_eq!((hash(&answer["root_from"]), hash(&answer["root_to"])), (old_root, new_root));
        let proof = hashes(&answer["proof"]);
        assert_eq!(merkle::verify_consistency(from as u64, 7, &old_root, &new_root, &proof), Ok(()), "{from}→7");
    }
    server.stop().await;
}

/// Past 256 entries the schedule stores the roots of complete tiles of 256, and proofs answer
/// from them: proofs asked by many auditors at once still verify against roots recomputed from
/// the export, at sizes inside, at the end of and past a tile, and the ledger with its stored
/// nodes verifies.
#[tokio::test]
async fn proofs_over_stored_tiles_verify_and_so_does_the_ledger() {
    // The background schedule runs once at start, on an empty ledger; the test runs it after.
    let server = TestServer::start_with(Options { jobs_interval_ms: Some(3_600_000), ..Options::default() }).await;
    let writers = (0..4).map(|writer| {
        let server = &server;
        async move { submit_refunds(server, &format!("tile-{writer}"), 135).await }
    });
    futures::future::join_all(writers).await;
    let leaves = exported_leaves(&server).await;
    assert!(leaves.len() >= 540, "{} entries", leaves.len());
    for expected_tiles in [2, 0] {
        let (status, run) = server.post("admin", "/v1/jobs/run", Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        assert_eq!(run["governance"]["merkle_tiles_stored"], expected_tiles, "{run}");
    }

    let sizes = [255, 256, 257, 512, 513, leaves.len()];
    let asks = sizes.iter().flat_map(|&size| [1, size / 2, size].map(move |seq| (seq, size)));
    let answers =
        futures::future::join_all(asks.map(|(seq, size)| {
            let server = &server;
            async move {
                (seq, size, server.get("auditor", &format!("/v1/audit/proof/inclusion?seq={seq}&size={size}")).await)
            }
        }))
        .await;
    for (seq, size, (status, answer)) in answers {
        assert_eq!(status, StatusCode::OK, "{answer}");
        let tree_root = merkle::root(&leaves[..size]);
        assert_eq!(hash(&answer["root"]), tree_root, "the root of {size}");
        let proof = hashes(&answer["proof"]);
        let verified = merkle::verify_inclusion(&leaves[seq - 1], seq as u64 - 1, size as u64, &proof, &tree_root);
        assert_eq!(verified, Ok(()), "entry {seq} of {size}");
    }
    let to = leaves.len();
    for from in [100, 256, 300, 512] {
        let (status, answer) = server.get("auditor", &format!("/v1/audit/proof/consistency?from={from}&to={to}")).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let (old_root, new_root) = (merkle::root(&leaves[..from]), merkle::root(&leaves));
        assert_eq!((hash(&answer["root_from"]), hash(&answer["root_to"])), (old_root, new_root));
        let proof = hashes(&answer["proof"]);
        assert_eq!(merkle::verify_consistency(from as u64, to as u64, &old_root, &new_root, &proof), Ok(()));
    }
    let (status, report) = server.get("auditor", "/v1/audit/verify").await;
    assert_eq!((status, report["ok"].as_bool()), (StatusCode::OK, Some(true)), "{report}");
    server.stop().await;
}

#[tokio::test]
async fn proofs_are_for_auditors_and_name_a_bad_parameter() {
    let server = TestServer::start().await;
    submit_refunds(&server, "params", 2).await;
    for (path, field) in [
        ("/v1/audit/proof/inclusion?seq=0", "seq"),
        ("/v1/audit/proof/inclusion?seq=3", "seq"),
        ("/v1/audit/proof/inclusion?seq=1&size=9", "size"),
        ("/v1/audit/proof/inclusion", "seq"),
        ("/v1/audit/proof/inclusion?seq=one", "seq"),
        ("/v1/audit/proof/consistency?from=3&to=2", "from"),
        ("/v1/audit/proof/consistency?from=1&to=3", "to"),
        ("/v1/audit/proof/consistency", "from"),
    ] {
        let (status, answer) = server.get("auditor", path).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{path}: {answer}");
    }
    for path in ["/v1/audit/proof/inclusion?seq=1", "/v1/audit/proof/consistency?from=1", "/v1/audit/checkpoint"] {
        assert_eq!(server.get("agent", path).await.0, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(server.get_anonymous(path).await.0, StatusCode::UNAUTHORIZED, "{path}");
    }
    server.stop().await;
}

/// Without `[audit] checkpoint_key` there is nothing to sign with: 501, naming the setting.
#[tokio::test]
async fn a_checkpoint_without_a_signing_key_names_the_setting() {
    let server = TestServer::start().await;
    let (status, answer) = server.get("auditor", "/v1/audit/checkpoint").await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{answer}");
    assert_eq!(answer["error"]["code"], "not_implemented");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("checkpoint_key") && message.contains("[audit]"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn a_signed_checkpoint_verifies_and_the_growing_ledger_extends_it() {
    if skip_on_spin("the Spin component has no checkpoint signing key") {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let signer = CheckpointSigner::from_seed("ledger.example.com/levee", [9; 32]).unwrap();
    let key_file = keys.path().join("checkpoint.key");
    std::fs::write(&key_file, signer.private_key()).unwrap();
    let server = TestServer::start_with(Options { checkpoint_key: Some(key_file), ..Options::default() }).await;
    submit_refunds(&server, "signed", 3).await;

    let (status, content_type, note) = server.get_text("admin", "/v1/audit/checkpoint").await;
    assert_eq!(status, StatusCode::OK, "{note}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let checkpoint = signer.verifier().verify(&note).expect("the published key verifies the checkpoint");
    assert_eq!((checkpoint.origin.as_str(), checkpoint.size), ("ledger.example.com/levee", 3));
    let leaves = exported_leaves(&server).await;
    assert_eq!(checkpoint.root, merkle::root(&leaves));

    submit_refunds(&server, "later", 2).await;
    let (_, answer) = server.get("auditor", "/v1/audit/proof/consistency?from=3").await;
    let (to, new_root) = (answer["to"].as_u64().unwrap(), hash(&answer["root_to"]));
    assert_eq!(to, 5);
    let proof = hashes(&answer["proof"]);
    assert_eq!(merkle::verify_consistency(3, 5, &checkpoint.root, &new_root, &proof), Ok(()));
    let (_, answer) = server.get("auditor", "/v1/audit/proof/inclusion?seq=2&size=3").await;
    let proof = hashes(&answer["proof"]);
    assert_eq!(merkle::verify_inclusion(&hash(&answer["leaf_hash"]), 1, 3, &proof, &checkpoint.root), Ok(()));
    server.stop().await;
}

/// The OpenAPI document describes the routes and their answers.
#[tokio::test]
async fn the_openapi_document_describes_checkpoints_and_proofs() {
    let server = TestServer::start().await;
    let (status, document) = server.get_anonymous("/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/v1/audit/checkpoint", "/v1/audit/proof/inclusion", "/v1/audit/proof/consistency"] {
        assert!(document["paths"][path]["get"].is_object(), "{path} is documented");
    }
    let checkpoint = &document["paths"]["/v1/audit/checkpoint"]["get"]["responses"];
    assert!(checkpoint["200"]["content"]["text/plain"].is_object(), "{checkpoint}");
    assert!(checkpoint["501"].is_object(), "{checkpoint}");
    for schema in ["InclusionProof", "ConsistencyProof"] {
        assert!(document["components"]["schemas"][schema].is_object(), "{schema}");
    }
    server.stop().await;
}
