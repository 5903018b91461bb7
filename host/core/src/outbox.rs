//! Outgoing signals: remediation items opened, overdue and reopened, and decisions awaiting a
//! person, sent to configured endpoints as Standard Webhooks (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.payload>`).
//!
//! The ledger is the outbox. Each endpoint keeps a cursor (the last ledger entry it has dealt
//! with) in the store, and sends the entries after it, in order, one at a time. A message that
//! fails is retried on a schedule of growing delays (by default about three days); only then is
//! it recorded as failed and passed over. Because the cursor is in the store, nothing is lost
//! when a receiver is down or levee restarts. An endpoint starts where the ledger ends when levee
//! first starts with it (`Outbox::start`, before any request is served): it is sent everything
//! from then on, not the history. Hosts take turns through a short lease on the
//! endpoint's state (compare-and-swap), and a retried message keeps its `webhook-id`, so a
//! receiver can drop duplicates.
//!
//! The core decides what to send, signs it and runs the delivery loop (`deliver_due`); the shell
//! only does the HTTP, with the client its runtime has.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

use crate::case::CaseStatus;
use crate::ledger::{EventType, LedgerEntry};

/// The signals an endpoint may subscribe to.
pub const SIGNALS: &[&str] = &[
    "case.awaiting_approval",
    "case.escalated",
    "remediation.opened",
    "remediation.escalated",
    "remediation.reopened",
];
/// The most messages one endpoint is sent in one run of the schedule.
pub const MESSAGES_PER_RUN: usize = 50;

/// About three days: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 24 h, 24 h.
pub const DEFAULT_RETRY_DELAYS_MS: &[u64] =
    &[5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000, 86_400_000, 86_400_000];
/// How long a host may hold an endpoint while it sends.
pub(crate) const LEASE: Duration = Duration::seconds(60);
/// Ledger entries looked at per call, so one call stays short.
pub(crate) const SCAN_LIMIT: u64 = 500;
/// Delivery attempts kept in the log.
pub(crate) const LOG_KEPT: usize = 200;
/// The shortest secret accepted, in bytes.
const MIN_SECRET_BYTES: usize = 24;
/// The longest single retry delay accepted: a week.
const MAX_RETRY_DELAY_MS: u64 = 7 * 24 * 3_600_000;

/// `[[outgoing_webhooks]]`: where signals go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutgoingEndpoint {
    /// Lowercase letters, digits and hyphens.
    pub name: String,
    pub url: String,
    /// `whsec_` followed by the base64 key (Standard Webhooks), at least 24 bytes.
    #[schema(value_type = String)]
    pub secret: String,
    /// The signals sent; empty: all of `SIGNALS`.
    #[serde(default)]
    pub events: Vec<String>,
    /// Delays before each retry, in milliseconds; absent: about three days.
    #[serde(default)]
    pub retry_delays_ms: Option<Vec<u64>>,
}

impl OutgoingEndpoint {
    /// Checks the endpoint, naming what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return Err(format!("'{}': use lowercase letters, digits and hyphens", self.name));
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(format!("{}: url must be http:// or https://", self.name));
        }
        let key = self.key().map_err(|problem| format!("{}: secret {problem}", self.name))?;
        if key.len() < MIN_SECRET_BYTES {
            return Err(format!("{}: the secret must be at least {MIN_SECRET_BYTES} bytes", self.name));
        }
        if let Some(unknown) = self.events.iter().find(|event| !SIGNALS.contains(&event.as_str())) {
            return Err(format!("{}: unknown signal {unknown} (known: {})", self.name, SIGNALS.join(", ")));
        }
        if self.retry_delays().iter().any(|delay| *delay > MAX_RETRY_DELAY_MS) {
            return Err(format!("{}: a retry delay is over a week ({MAX_RETRY_DELAY_MS} ms)", self.name));
        }
        Ok(())
    }

    /// The URL without credentials or query, which may hold secrets, for showing.
    pub fn shown_url(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(authority, path)| (authority, path));
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let hidden =
            if self.url.contains('?') || authority.contains('@') { " (credentials and query hidden)" } else { "" };
        format!("{scheme}://{host}/{path}{hidden}")
    }

    /// The signing key: the base64 after `whsec_`.
    fn key(&self) -> Result<Vec<u8>, String> {
        let encoded = self.secret.strip_prefix("whsec_").ok_or("must start with whsec_")?;
        BASE64.decode(encoded).map_err(|error| format!("is not base64 after whsec_: {error}"))
    }

    pub(crate) fn wants(&self, signal: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|event| event == signal)
    }

    pub(crate) fn retry_delays(&self) -> &[u64] {
        self.retry_delays_ms.as_deref().unwrap_or(DEFAULT_RETRY_DELAYS_MS)
    }
}

/// `v1,<base64>`: the Standard Webhooks signature of `id.timestamp.payload`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, payload: &[u8]) -> String {
    // HMAC takes keys of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// One message, ready to POST.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub endpoint: String,
    pub url: String,
    /// The ledger entry it tells of.
    pub seq: u64,
    pub signal: String,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`, `content-type`.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub attempt: u32,
}

/// How a send went.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered { status: u16 },
    /// Another status, or no answer.
    Failed { reason: String },
}

/// The shell's HTTP for outgoing webhooks: POSTs one signed message and says how it went (2xx
/// is delivered; any other answer, or none in time, failed). It may block: the schedule runs
/// where requests run, off any async executor.
pub trait WebhookSender: Send + Sync {
    fn send(&self, message: &OutgoingMessage) -> DeliveryOutcome;
}

/// What one endpoint was sent in one run: messages delivered, and the failure that stopped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EndpointDeliveries {
    pub endpoint: String,
    pub delivered: usize,
    pub failed: Option<String>,
}

/// One delivery attempt, as the log lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryRecord {
    pub seq: u64,
    pub signal: String,
    pub webhook_id: String,
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub delivered: bool,
    /// The HTTP status, or why there was none.
    pub result: String,
    /// Set when this was the last attempt allowed and the message was passed over.
    pub gave_up: bool,
}

/// An endpoint's progress through the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OutboxState {
    /// The last ledger entry dealt with (sent, failed for good, or not a signal for it).
    pub cursor: u64,
    /// Failed attempts of the message after the cursor.
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub lease: Option<Lease>,
    pub delivered: u64,
    pub failed: u64,
    /// The most recent attempts, newest last.
    pub log: Vec<DeliveryRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Lease {
    pub holder: String,
    pub until: DateTime<Utc>,
}

pub(crate) fn state_key(endpoint: &str) -> String {
    format!("outbox/{endpoint}")
}

/// The signal a ledger entry gives, if any.
pub(crate) fn signal_of(entry: &LedgerEntry) -> Option<&'static str> {
    match entry.event {
        EventType::CaseSubmitted if entry.payload["status"] == serde_json::json!(CaseStatus::PendingApproval) => {
            Some("case.awaiting_approval")
        }
        EventType::CaseEscalated => Some("case.escalated"),
        EventType::RemediationOpened => Some("remediation.opened"),
        EventType::RemediationEscalated => Some("remediation.escalated"),
        EventType::RemediationReopened => Some("remediation.reopened"),
        _ => None,
    }
}

/// Stable across retries, so receivers can drop duplicates.
pub(crate) fn webhook_id(seq: u64) -> String {
    format!("msg_levee_{seq:020}")
}

pub(crate) fn message(
    config: &OutgoingEndpoint,
    signal: &str,
    entry: &LedgerEntry,
    attempt: u32,
    now: DateTime<Utc>,
) -> OutgoingMessage {
    let body = serde_json::to_vec(&serde_json::json!({
        "type": signal,
        "timestamp": entry.at,
        "data": {
            "subject": entry.subject,
            "seq": entry.seq,
            "event": entry.event,
            "actor": entry.actor,
            "details": entry.payload,
        },
    }))
    .unwrap_or_default();
    let id = webhook_id(entry.seq);
    let timestamp = now.timestamp();
    let signature = sign(&config.key().unwrap_or_default(), &id, timestamp, &body);
    OutgoingMessage {
        endpoint: config.name.clone(),
        url: config.url.clone(),
        seq: entry.seq,
        signal: signal.to_owned(),
        headers: vec![
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
            ("content-type", "application/json".to_owned()),
        ],
        body,
        attempt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_as_the_standard_webhooks_reference_does() {
        let key = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let payload = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, payload),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn endpoints_are_checked() {
        let endpoint = OutgoingEndpoint {
            name: "ops".into(),
            url: "https://hooks.example.com/levee".into(),
            secret: format!("whsec_{}", BASE64.encode([7u8; 32])),
            events: vec![],
            retry_delays_ms: None,
        };
        assert_eq!(endpoint.validate(), Ok(()));
        let short = OutgoingEndpoint { secret: format!("whsec_{}", BASE64.encode([7u8; 8])), ..endpoint.clone() };
        assert!(short.validate().unwrap_err().contains("at least 24 bytes"));
        let unknown = OutgoingEndpoint { events: vec!["case.approved".into()], ..endpoint.clone() };
        assert!(unknown.validate().unwrap_err().contains("unknown signal case.approved"));
        let secret_url =
            OutgoingEndpoint { url: "https://user:pw@hooks.example.com/levee/T0/B1?token=x".into(), ..endpoint };
        assert_eq!(secret_url.shown_url(), "https://hooks.example.com/levee/T0/B1 (credentials and query hidden)");
    }
}
