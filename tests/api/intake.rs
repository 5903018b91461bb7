//! Helpdesk intake over real HTTP, for every helpdesk source: a delivery shaped and signed as
//! the vendor documents is taken in as a case; a wrong signature, a body changed by one byte, a
//! stale timestamp, a missing header and malformed JSON are refused with nothing written; a
//! duplicate delivery changes nothing; both secrets work during a rotation; a ticket makes one
//! case, however often its helpdesk sends it; a ticket that does not make a valid case is
//! recorded as a rejected intake.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use hmac::{Hmac, Mac};
use levee_core::identity::Role;
use levee_core::inbound::{Encoding, HmacAlgorithm, Scheme};
use levee_core::intake::{AmountFormat, IntakeMapping, WebhookSource};
use levee_core::intake::{INTAKE_SUBJECT, IntakeLog, IntakeRejection};
use levee_core::ledger::EventType;
use levee_core::ledger_store::entry_key;
use levee_core::subject::Change;
use levee_tests::{Options, StatusCode, TestServer, append_to_stopped, open_store, verify_stopped};
use serde_json::{Value, json};

const OLD: &str = "old-secret-0123456789";
const NEW: &str = "new-secret-9876543210";

/// Request headers, as (name, value).
type Headers = Vec<(String, String)>;

/// One helpdesk: its configuration, a payload in its documented shape, and how it signs.
struct Vendor {
    source: WebhookSource,
    payload: fn(code: &str) -> Value,
    sign: fn(secret: &str, body: &[u8]) -> Headers,
    /// The header whose absence must be refused.
    signature_header: &'static str,
    /// Whether the vendor signs the body (Freshdesk and Gorgias only send a shared secret, so a
    /// changed body cannot be told apart: docs/webhooks.md says so).
    signs_body: bool,
}

fn hmac256(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    parts.iter().for_each(|part| mac.update(part));
    mac.finalize().into_bytes().to_vec()
}

fn hmac1(secret: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn mapping(ticket: &str, amount: &str, currency: &str, code: &str, customer: &str) -> IntakeMapping {
    IntakeMapping {
        ticket: ticket.into(),
        kind: "=refund".into(),
        amount: amount.into(),
        amount_format: AmountFormat::Decimal,
        currency: currency.into(),
        exception_code: code.into(),
        customer_ref: customer.into(),
        order_ref: None,
        rationale: Some("=raised in the helpdesk".into()),
        team: Some("support-emea".into()),
    }
}

fn source(name: &str, signature: Scheme, intake: IntakeMapping) -> WebhookSource {
    WebhookSource { name: name.into(), signature, secrets: vec![OLD.into(), NEW.into()], intake: Some(intake) }
}

fn vendors() -> Vec<Vendor> {
    vec![
        Vendor {
            source: source(
                "zendesk",
                Scheme::Zendesk,
                mapping(
                    "/detail/id",
                    "/detail/custom_fields/refund_amount",
                    "=USD",
                    "tag:/detail/tags:code_",
                    "/detail/requester_id",
                ),
            ),
            payload: |code| {
                json!({
                "type": "zen:event-type:ticket.created", "account_id": 9, "id": "01HZ", "time": Utc::now(),
                "subject": "zen:ticket:4711",
                "detail": {"id": "4711", "requester_id": "8812", "tags": ["refund", format!("code_{}", code.to_lowercase())],
                           "custom_fields": {"refund_amount": "25.00"}}})
            },
            sign: |secret, body| {
                let timestamp = Utc::now().to_rfc3339();
                let signature = BASE64.encode(hmac256(secret, &[timestamp.as_bytes(), body]));
                vec![
                    ("X-Zendesk-Webhook-Signature".into(), signature),
                    ("X-Zendesk-Webhook-Signature-Timestamp".into(), timestamp),
                    (
                        "X-Zendesk-Webhook-Invocation-Id".into(),
                        format!("inv-{}", hex::encode(&hmac256("id", &[body])[..8])),
                    ),
                ]
            },
            signature_header: "X-Zendesk-Webhook-Signature",
            signs_body: true,
        },
        Vendor {
            source: source(
                "intercom",
                Scheme::Intercom,
                mapping(
                    "/data/item/id",
                    "/data/item/custom_attributes/refund_amount",
                    "/data/item/custom_attributes/currency",
                    "/data/item/custom_attributes/exception_code",
                    "/data/item/contacts/contacts/0/id",
                ),
            ),
            payload: |code| {
                json!({
                "type": "notification_event", "id": format!("notif_{code}"), "topic": "conversation.user.created",
                "data": {"item": {"id": "215469", "contacts": {"contacts": [{"id": "contact_1"}]},
                                  "custom_attributes": {"refund_amount": "25.00", "currency": "USD", "exception_code": code}}}})
            },
            sign: |secret, body| vec![("X-Hub-Signature".into(), format!("sha1={}", hex::encode(hmac1(secret, body))))],
            signature_header: "X-Hub-Signature",
            signs_body: true,
        },
        Vendor {
            source: source(
                "helpscout",
                Scheme::HelpScout,
                mapping("/id", "/customFields/0/value", "=USD", "/customFields/1/value", "/customer/email"),
            ),
            payload: |code| {
                json!({"id": 88012, "number": 412, "customer": {"email": "ann@example.com"},
                "customFields": [{"name": "Refund", "value": "25.00"}, {"name": "Code", "value": code}]})
            },
            sign: |secret, body| vec![("X-HelpScout-Signature".into(), BASE64.encode(hmac1(secret, body)))],
            signature_header: "X-HelpScout-Signature",
            signs_body: true,
        },
        Vendor {
            source: source(
                "freshdesk",
                Scheme::SharedSecret { header: "X-Levee-Secret".into() },
                mapping(
                    "/freshdesk_webhook/ticket_id",
                    "/freshdesk_webhook/ticket_cf_refund_amount",
                    "=USD",
                    "/freshdesk_webhook/ticket_cf_exception_code",
                    "/freshdesk_webhook/ticket_contact_email",
                ),
            ),
            payload: |code| {
                json!({"freshdesk_webhook": {"ticket_id": 9001, "ticket_cf_refund_amount": "25.00",
                "ticket_cf_exception_code": code, "ticket_contact_email": "bo@example.com"}})
            },
            sign: |secret, _| vec![("X-Levee-Secret".into(), secret.to_owned())],
            signature_header: "X-Levee-Secret",
            signs_body: false,
        },
        Vendor {
            source: source(
                "in-house",
                Scheme::Hmac {
                    header: "X-Signature".into(),
                    algorithm: HmacAlgorithm::Sha256,
                    encoding: Encoding::Hex,
                    prefix: Some("sha256=".into()),
                },
                mapping("/ticket", "/refund/amount", "/refund/currency", "/refund/code", "/customer"),
            ),
            payload: |code| json!({"ticket": "T-1", "customer": "cus_7", "refund": {"amount": "25.00", "currency": "USD", "code": code}}),
            sign: |secret, body| {
                vec![
                    ("X-Signature".into(), format!("sha256={}", hex::encode(hmac256(secret, &[body])))),
                    ("X-Delivery".into(), format!("d-{}", hex::encode(&hmac256("id", &[body])[..8]))),
                ]
            },
            signature_header: "X-Signature",
            signs_body: true,
        },
    ]
}

async fn server() -> TestServer {
    let sources = vendors().into_iter().map(|vendor| vendor.source).collect();
    TestServer::start_with(Options { webhook_sources: sources, ..Options::default() }).await
}

#[tokio::test]
async fn each_helpdesk_is_verified_by_its_own_scheme_and_its_tickets_become_cases() {
    let server = server().await;
    let mut written = 0;
    for vendor in vendors() {
        let name = vendor.source.name.clone();
        let body = serde_json::to_vec(&(vendor.payload)("LATE_DELIVERY")).unwrap();
        let headers = (vendor.sign)(OLD, &body);

        // Refused, with nothing written.
        let wrong = (vendor.sign)("not-the-secret-0000", &body);
        let mut changed = body.clone();
        let last = changed.len() - 2;
        changed[last] ^= 0x01;
        let missing: Vec<_> = headers.iter().filter(|(header, _)| header != vendor.signature_header).cloned().collect();
        let mut refused = vec![("wrong secret", &wrong, &body), ("no signature", &missing, &body)];
        if vendor.signs_body {
            refused.push(("changed byte", &headers, &changed));
        }
        for (what, headers, body) in refused {
            let (status, answer) = server.post_webhook(&name, headers, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}, {what}: {answer}");
            assert_eq!(answer["error"]["code"], "signature_rejected", "{name}, {what}");
        }
        let garbage = b"{not json".to_vec();
        let (status, _) = server.post_webhook(&name, &(vendor.sign)(OLD, &garbage), &garbage).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: malformed JSON, signed");
        assert_eq!(server.ledger_len().await, written, "{name}: refusals write nothing");

        // Accepted, once; the new secret works as well as the old.
        let (status, case) = server.post_webhook(&name, &headers, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {case}");
        assert_eq!(case["case"]["amount"], json!({"minor_units": 2500, "currency": "USD"}), "{name}");
        assert_eq!(case["case"]["channel"], "webhook");
        assert!(case["case"]["attributes"]["ticket"].is_string(), "{name}: {case}");
        written += 1;
        let (status, again) = server.post_webhook(&name, &headers, &body).await;
        assert_eq!(
            (status, &again["case_id"]),
            (StatusCode::OK, &case["case_id"]),
            "{name}: a duplicate changes nothing"
        );
        // The same ticket asking for another code, signed with the new secret: verified, and
        // recorded as a rejected intake that names the ticket's case, not a second case.
        let rotated = serde_json::to_vec(&(vendor.payload)("DAMAGED_IN_TRANSIT")).unwrap();
        let (status, rejection) = server.post_webhook(&name, &(vendor.sign)(NEW, &rotated), &rotated).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{name}: the new secret during a rotation: {rejection}");
        assert_eq!(rejection["field"], "ticket", "{name}");
        let case_id = case["case_id"].as_str().unwrap();
        assert!(rejection["reason"].as_str().unwrap().contains(case_id), "{name}: {rejection}");
        written += 1;
        assert_eq!(server.ledger_len().await, written, "{name}");
    }
    assert_eq!(server.verify().await["ok"], true);
    server.stop().await;
}

#[tokio::test]
async fn a_ticket_sent_again_in_a_new_delivery_answers_with_its_case() {
    let server = server().await;
    // The helpdesk fires again because the ticket changed (its status, a note): another body,
    // so another delivery, asking for the same refund.
    let delivery = |status: &str| {
        let body = serde_json::to_vec(&json!({"ticket": "T-9", "customer": "cus_7", "status": status,
            "refund": {"amount": "40.00", "currency": "USD", "code": "LATE_DELIVERY"}}))
        .unwrap();
        let headers = vec![("X-Signature".to_owned(), format!("sha256={}", hex::encode(hmac256(OLD, &[&body]))))];
        (headers, body)
    };
    let (headers, body) = delivery("new");
    let (status, first) = server.post_webhook("in-house", &headers, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (headers, body) = delivery("open");
    let (status, again) = server.post_webhook("in-house", &headers, &body).await;
    assert_eq!((status, &again["case_id"]), (StatusCode::OK, &first["case_id"]), "{again}");
    assert_eq!(server.ledger_len().await, 1, "one case, one entry: no second case for the ticket");
    server.stop().await;
}

#[tokio::test]
async fn a_stale_zendesk_delivery_is_refused() {
    let server = server().await;
    let body = serde_json::to_vec(&json!({"detail": {"id": "1"}})).unwrap();
    let timestamp = (Utc::now() - chrono::Duration::seconds(301)).to_rfc3339();
    let headers = vec![
        ("X-Zendesk-Webhook-Signature".to_owned(), BASE64.encode(hmac256(OLD, &[timestamp.as_bytes(), &body]))),
        ("X-Zendesk-Webhook-Signature-Timestamp".to_owned(), timestamp),
    ];
    let (status, answer) = server.post_webhook("zendesk", &headers, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(answer["error"]["message"].as_str().unwrap().contains("more than the 300 s allowed"), "{answer}");
    assert_eq!(server.ledger_len().await, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_ticket_without_a_valid_code_is_recorded_as_a_rejected_intake() {
    let server = server().await;
    let vendor = vendors().into_iter().find(|vendor| vendor.source.name == "intercom").unwrap();
    let body = serde_json::to_vec(&(vendor.payload)("MADE_UP")).unwrap();
    let headers = (vendor.sign)(OLD, &body);
    let (status, rejection) = server.post_webhook("intercom", &headers, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{rejection}");
    assert_eq!(rejection["field"], "exception_code");
    assert!(rejection["valid_values"].as_array().unwrap().contains(&json!("LATE_DELIVERY")));
    let (status, _) = server.post_webhook("intercom", &headers, &body).await;
    assert_eq!(status, StatusCode::OK, "a replayed rejection changes nothing");
    let (_, listed) = server.get("auditor", "/v1/intake/rejections").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["reason"], rejection["reason"]);
    assert_eq!(server.ledger_len().await, 1, "one intake.rejected entry");
    let (status, _) = server.post_webhook("nobody", &headers, &body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

/// Each rejected intake is a ledger subject of its own: the slot that records the fortieth is
/// no larger than the one that recorded the first (one list in one subject grew with every
/// rejection), a replay still changes nothing, every rejection is listed once in order, and the
/// stopped store verifies.
#[tokio::test]
async fn rejected_intakes_cost_the_same_however_many_came_before() {
    let server = server().await;
    let vendor = vendors().into_iter().find(|vendor| vendor.source.name == "intercom").unwrap();
    let delivery = |n: usize| {
        let body = serde_json::to_vec(&(vendor.payload)(&format!("MADE_UP_{n:02}"))).unwrap();
        ((vendor.sign)(OLD, &body), body)
    };
    for n in 0..40 {
        let (headers, body) = delivery(n);
        let (status, rejection) = server.post_webhook("intercom", &headers, &body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{rejection}");
    }
    let (headers, body) = delivery(2);
    let (status, replayed) = server.post_webhook("intercom", &headers, &body).await;
    assert_eq!((status, &replayed["delivery_id"]), (StatusCode::OK, &json!("notif_MADE_UP_02")), "{replayed}");
    let (_, listed) = server.get("auditor", "/v1/intake/rejections").await;
    let delivery_ids: Vec<&str> =
        listed.as_array().unwrap().iter().map(|r| r["delivery_id"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..40).map(|n| format!("notif_MADE_UP_{n:02}")).collect();
    assert_eq!(delivery_ids, expected, "every rejection once, oldest first");
    assert_eq!(server.ledger_len().await, 40);

    let data_dir = server.data_dir.clone();
    let _kept = server.stop().await;
    let store = open_store(&data_dir);
    let slots: Vec<usize> = (1..=40).map(|seq| store.get(&entry_key(seq)).unwrap().expect("a slot").len()).collect();
    let (smallest, largest) = (slots.iter().min().unwrap(), slots.iter().max().unwrap());
    assert!(largest - smallest <= 64, "slot sizes grow with the rejections before them: {slots:?}");
    drop(store);
    let report = verify_stopped(&data_dir);
    assert!(report.ok, "{report:?}");
}

/// A ledger from before rejections were subjects of their own keeps its one list: after an
/// upgrade, a replay of a delivery in that list is still a replay, and the list is shown first.
#[tokio::test]
async fn rejections_an_older_ledger_kept_in_one_list_still_count() {
    let server = server().await;
    let data_dir = server.data_dir.clone();
    let options =
        Options { webhook_sources: vendors().into_iter().map(|vendor| vendor.source).collect(), ..Options::default() };
    let _kept = server.stop().await;
    let vendor = vendors().into_iter().find(|vendor| vendor.source.name == "intercom").unwrap();
    let delivery = |code: &str| {
        let body = serde_json::to_vec(&(vendor.payload)(code)).unwrap();
        ((vendor.sign)(OLD, &body), body)
    };
    // What levee wrote before: the rejection appended to the list in `intake-rejections`.
    let old = IntakeRejection {
        source: "intercom".into(),
        delivery_id: "notif_OLD_CODE".into(),
        field: "exception_code".into(),
        reason: "OLD_CODE is not in the taxonomy".into(),
        valid_values: None,
        at: Utc::now(),
        payload_sha256: "00".repeat(32),
    };
    let log = IntakeLog { version: 1, ledger_seqs: vec![], rejections: vec![old.clone()] };
    let change = Change::of(log, EventType::IntakeRejected, json!({"rejection": old}));
    let slot = append_to_stopped(&data_dir, change, "webhook:intercom", Role::Agent);
    assert_eq!(slot.entry.subject, INTAKE_SUBJECT);
    let server = TestServer::start_in(&data_dir, &options).await;
    let (headers, body) = delivery("OLD_CODE");
    let (status, replayed) = server.post_webhook("intercom", &headers, &body).await;
    assert_eq!(
        (status, &replayed["reason"]),
        (StatusCode::OK, &json!("OLD_CODE is not in the taxonomy")),
        "{replayed}"
    );
    let (headers, body) = delivery("NEW_CODE");
    let (status, _) = server.post_webhook("intercom", &headers, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, listed) = server.get("auditor", "/v1/intake/rejections").await;
    let delivery_ids: Vec<&str> =
        listed.as_array().unwrap().iter().map(|r| r["delivery_id"].as_str().unwrap()).collect();
    assert_eq!(delivery_ids, ["notif_OLD_CODE", "notif_NEW_CODE"]);
    assert_eq!(server.ledger_len().await, 2, "the replay wrote nothing");
    assert_eq!(server.verify().await["ok"], json!(true));
    server.stop().await;
}
