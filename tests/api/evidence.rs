//! Evidence that proves itself, over real HTTP: files uploaded to levee are hashed by levee,
//! kept by that hash and read back unchanged by the people the case is for; a bare reference is
//! only asserted, and a gate that asks for stored files is not met by one.

use levee_tests::{Options, StatusCode, TestServer, evidence, refund};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const RECEIPT: &[u8] = b"%PDF-1.7\n% a receipt for order-stored: 3000.00 USD\n%%EOF\n";

fn case_id(answer: &Value) -> String {
    answer["case_id"].as_str().expect("a case id").to_owned()
}

async fn upload(
    server: &TestServer,
    who: &str,
    id: &str,
    name: &str,
    media_type: &str,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let path = format!("/v1/cases/{id}/attachments?name={name}&description=the%20customer%27s%20receipt");
    server.post_raw(who, &path, media_type, bytes.to_vec()).await
}

#[tokio::test]
async fn stored_files_are_hashed_by_levee_and_read_back_by_the_people_the_case_is_for() {
    let server = TestServer::start().await;
    let id = case_id(&server.submit(refund(300_000, "stored")).await);
    let (status, case) = upload(&server, "agent", &id, "receipt.pdf", "application/pdf", RECEIPT).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    let sha256 = hex::encode(Sha256::digest(RECEIPT));
    let stored = &case["case"]["evidence"][0];
    assert_eq!(stored["sha256"], sha256.as_str(), "levee's own hash of the bytes");
    assert_eq!(stored["reference"], format!("levee:attachment/{sha256}"));
    assert_eq!(
        stored["stored"],
        json!({"media_type": "application/pdf", "size_bytes": RECEIPT.len(), "file_name": "receipt.pdf"})
    );
    assert_eq!(stored["description"], "the customer's receipt");
    assert_eq!(case["decision"]["missing_evidence"], json!([]), "{case}");

    let path = format!("/v1/cases/{id}/attachments?sha256={sha256}");
    for reader in ["agent", "finance", "auditor", "admin"] {
        let (status, headers, bytes) = server.get_bytes(reader, &path).await;
        assert_eq!((status, bytes.as_slice()), (StatusCode::OK, RECEIPT), "{reader}");
        assert_eq!(headers["content-type"], "application/pdf");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["content-disposition"], "attachment; filename=\"receipt.pdf\"");
    }
    assert_eq!(server.get_bytes("comms", &path).await.0, StatusCode::FORBIDDEN, "not the case's people");
    let unknown = format!("/v1/cases/{id}/attachments?sha256={}", "0".repeat(64));
    assert_eq!(server.get_bytes("auditor", &unknown).await.0, StatusCode::NOT_FOUND);

    let entries = server.ledger_len().await;
    let oversized = [b"%PDF-".as_slice(), &vec![b'x'; 4 << 20]].concat();
    let refusals: [(&str, &str, &[u8], &str, &str); 5] = [
        ("page.html", "text/html", b"<script>alert(1)</script>", "body", "not a media type levee stores"),
        ("photo.png", "image/png", RECEIPT, "body", "the file's bytes are not image/png"),
        ("empty.txt", "text/plain", b"", "body", "the file is empty"),
        ("big.pdf", "application/pdf", &oversized, "body", "over the limit of 4194304"),
        ("a/b.pdf", "application/pdf", RECEIPT, "name", "without /"),
    ];
    for (name, media_type, bytes, field, reason) in refusals {
        let (status, answer) = upload(&server, "agent", &id, name, media_type, bytes).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{answer}"
        );
        assert!(answer["error"]["message"].as_str().unwrap_or_default().contains(reason), "{name}: {answer}");
    }
    assert_eq!(server.ledger_len().await, entries, "a refused upload writes nothing to the ledger");
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

/// With `[evidence] stored_attachments`, a bare reference is recorded as asserted and does not
/// meet the attachment gate; a file uploaded to levee does.
#[tokio::test]
async fn a_gate_that_asks_for_stored_files_is_not_met_by_a_bare_reference() {
    let server = TestServer::start_with(Options { stored_attachments: true, ..Options::default() }).await;
    let mut body = refund(300_000, "asserted");
    body["evidence"] = json!([{"kind": "attachment", "reference": "x"}]);
    let submitted = server.submit(body).await;
    let id = case_id(&submitted);
    assert_eq!(submitted["decision"]["missing_evidence"], json!(["attachment"]), "{submitted}");
    assert!(submitted["case"]["evidence"][0].get("stored").is_none(), "recorded as asserted: {submitted}");
    let approve_path = format!("/v1/cases/{id}/approve");
    let approve = |who: &'static str| server.post(who, &approve_path, json!({"rationale": "checked the receipt"}));
    let (status, refused) = approve("finance").await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("evidence_required"))
    );
    let (status, _) = server.post("agent", &format!("/v1/cases/{id}/evidence"), evidence("attachment")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        approve("finance").await.0,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reference with a hash is still asserted"
    );

    let (status, _) = upload(&server, "agent", &id, "receipt.pdf", "application/pdf", RECEIPT).await;
    assert_eq!(status, StatusCode::OK);
    let (status, approved) = approve("finance").await;
    assert_eq!((status, approved["status"].as_str()), (StatusCode::OK, Some("approved")), "{approved}");
    server.stop().await;
}
