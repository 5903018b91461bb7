//! Webhook intake. From a payment tool (Stripe, Shopify), a verified delivery reports executed
//! refunds, which are recorded and reconciled (`executions`, `reconcile`). From a helpdesk, a
//! verified ticket webhook carrying a refund request becomes a case, decided
//! like any other, with the ticket id as its reference. What a payload means is configured per
//! source (`IntakeMapping`): each field is a JSON pointer into the payload (`/ticket/id`), a tag
//! (`tag:/ticket/tags:code_`, the rest of the first tag with that prefix), or a constant
//! (`=refund`). A payload that does not make a valid case (no valid code, no amount) is recorded
//! in the ledger as a rejected intake with the reason, never dropped silently. Every delivery is
//! idempotent by its id: a replay changes nothing. A ticket makes at most one case: helpdesks
//! fire their webhooks again when a ticket changes, and a second delivery for the same ticket
//! answers with the case the first made; one that asks for something else (another amount or
//! code) is recorded as a rejected intake naming that case, so a ticket can never be refunded
//! twice through intake.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::case::{Case, SubmitRequest};
use crate::inbound::Scheme;
use crate::money::{Money, MoneyError};
use crate::validation::FieldError;

/// The ledger subject that held every rejected intake in one list, before each rejection was a
/// subject of its own: still read (older ledgers have it), never written.
pub const INTAKE_SUBJECT: &str = "intake-rejections";

/// What every rejected intake's own subject id starts with.
pub const REJECTION_PREFIX: &str = "intake-rejection/";

/// `[[webhook_sources]]`: a helpdesk that sends refund requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSource {
    /// The `{source}` of `POST /v1/webhooks/{source}`: lowercase letters, digits, hyphens.
    pub name: String,
    /// How its deliveries are signed.
    pub signature: Scheme,
    /// One secret, or two during a rotation.
    #[schema(value_type = Vec<String>)]
    pub secrets: Vec<String>,
    /// For a helpdesk: where each field of a case is in a ticket payload. None for Stripe and
    /// Shopify, whose payloads are known.
    #[serde(default)]
    pub intake: Option<IntakeMapping>,
}

/// Where each field of a case is found in a ticket payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntakeMapping {
    /// The ticket id: the case's reference, and its `ticket` attribute.
    pub ticket: String,
    pub kind: String,
    pub amount: String,
    /// `minor` (integer minor units, the default) or `decimal` ("12.50").
    #[serde(default)]
    pub amount_format: AmountFormat,
    pub currency: String,
    pub exception_code: String,
    pub customer_ref: String,
    #[serde(default)]
    pub order_ref: Option<String>,
    #[serde(default)]
    pub rationale: Option<String>,
    /// The team cases are filed for (default: the source's name).
    #[serde(default)]
    pub team: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AmountFormat {
    #[default]
    Minor,
    Decimal,
}

/// A delivery that verified but did not make a valid case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IntakeRejection {
    pub source: String,
    pub delivery_id: String,
    /// The field at fault, as the case would name it.
    pub field: String,
    pub reason: String,
    pub valid_values: Option<Vec<String>>,
    pub at: DateTime<Utc>,
    /// SHA-256 of the payload, to find it in the helpdesk's own log.
    pub payload_sha256: String,
}

/// Every rejected intake up to this version, in one subject (`INTAKE_SUBJECT`): how older
/// ledgers recorded them. Each slot held the whole list, so every rejection cost more than the
/// last; a rejection is now a subject of its own (`RejectedIntake`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IntakeLog {
    pub version: u64,
    pub ledger_seqs: Vec<u64>,
    pub rejections: Vec<IntakeRejection>,
}

/// One rejected intake as a ledger subject, with the id `rejection_id` gives its delivery:
/// recorded once, never changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RejectedIntake {
    pub id: String,
    pub version: u64,
    pub ledger_seqs: Vec<u64>,
    pub rejection: IntakeRejection,
}

/// The subject id of the rejection of delivery `delivery_id` from `source`: the same for every
/// replay of the delivery. The delivery id is hashed: senders choose it, and it may hold any
/// character.
pub fn rejection_id(source: &str, delivery_id: &str) -> String {
    let digest = crate::ledger::sha256_hex(delivery_id.as_bytes());
    format!("{REJECTION_PREFIX}{source}/{}", &digest[..32])
}

/// Whether a subject id is a rejected intake's.
pub fn is_rejection_id(subject: &str) -> bool {
    subject.starts_with(REJECTION_PREFIX)
}

/// What a delivery did.
#[derive(Debug)]
pub enum IntakeOutcome {
    /// A new case; `replayed` when an earlier delivery with this id made it.
    Case { case: Box<Case>, replayed: bool },
    /// Recorded as rejected; `replayed` when an earlier delivery with this id was.
    Rejected { rejection: IntakeRejection, replayed: bool },
    /// Executed refunds from a payment tool, each with whether it was new.
    Executions(Vec<(crate::reconcile::ExecutionRecord, bool)>),
}

impl WebhookSource {
    /// Checks the source's shape, naming what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok || self.name == "outgoing" {
            return Err(format!("'{}': use lowercase letters, digits and hyphens (not 'outgoing')", self.name));
        }
        if self.secrets.is_empty() || self.secrets.len() > 2 {
            return Err(format!("{}: give one secret, or two during a rotation", self.name));
        }
        if self.secrets.iter().any(|secret| secret.len() < 16) {
            return Err(format!("{}: a secret must be at least 16 characters", self.name));
        }
        let payments = matches!(self.signature, Scheme::Stripe | Scheme::Shopify);
        match (payments, &self.intake) {
            (true, Some(_)) => Err(format!("{}: Stripe and Shopify report executed refunds; drop [intake]", self.name)),
            (false, None) => Err(format!("{}: a helpdesk source needs [intake], the field mapping", self.name)),
            _ => Ok(()),
        }
    }
}

impl IntakeMapping {
    /// The case a payload asks for; the error names the case field that could not be found.
    pub fn request(&self, payload: &serde_json::Value) -> Result<SubmitRequest, FieldError> {
        let ticket = required(payload, &self.ticket, "ticket")?;
        let currency = required(payload, &self.currency, "amount.currency")?.to_ascii_uppercase();
        let amount = exact_amount(payload, &self.amount)?;
        let minor_units = match self.amount_format {
            AmountFormat::Minor => amount.parse::<i64>().map_err(|_| {
                FieldError::new("amount.minor_units", format!("'{amount}' is not a whole number of minor units"))
            })?,
            AmountFormat::Decimal => decimal_to_minor(&amount, &currency)?,
        };
        let request = serde_json::json!({
            "kind": required(payload, &self.kind, "kind")?.to_ascii_lowercase(),
            "amount": {"minor_units": minor_units, "currency": currency},
            "customer_ref": required(payload, &self.customer_ref, "customer_ref")?,
            "order_ref": self.order_ref.as_deref().and_then(|spec| field(payload, spec)),
            "exception_code": required(payload, &self.exception_code, "exception_code")?.to_ascii_uppercase(),
            "rationale": self.rationale.as_deref().and_then(|spec| field(payload, spec)).unwrap_or_default(),
            "channel": "webhook",
            "attributes": {TICKET_ATTRIBUTE: ticket},
        });
        serde_json::from_value(request).map_err(|error| FieldError::new("kind", error.to_string()))
    }
}

/// The case attribute that carries a helpdesk case's ticket id.
pub const TICKET_ATTRIBUTE: &str = "ticket";

/// A field by its spec: `/pointer`, `tag:/pointer:prefix`, or `=constant`.
pub fn field(payload: &serde_json::Value, spec: &str) -> Option<String> {
    if let Some(constant) = spec.strip_prefix('=') {
        return Some(constant.to_owned());
    }
    if let Some(tag) = spec.strip_prefix("tag:") {
        let (pointer, prefix) = tag.rsplit_once(':')?;
        let tags = payload.pointer(pointer)?.as_array()?;
        return tags.iter().filter_map(|tag| tag.as_str()?.strip_prefix(prefix)).next().map(str::to_owned);
    }
    match payload.pointer(spec)? {
        serde_json::Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn required(payload: &serde_json::Value, spec: &str, name: &str) -> Result<String, FieldError> {
    field(payload, spec).ok_or_else(|| FieldError::new(name, format!("the payload has nothing at {spec}")))
}

/// The amount field as text. A JSON number with a fraction arrives as a binary float, which
/// holds at most 15 significant decimal digits exactly: beyond that the sender must use a string.
fn exact_amount(payload: &serde_json::Value, spec: &str) -> Result<String, FieldError> {
    let amount = required(payload, spec, "amount.minor_units")?;
    let float = payload.pointer(spec).is_some_and(|value| value.is_f64());
    let significant = amount.trim_start_matches(['0', '.']).bytes().filter(u8::is_ascii_digit).count();
    if float && (significant > 15 || amount.contains(['e', 'E'])) {
        let message = format!("{amount} as a JSON number is not exact; send the amount as a string");
        return Err(FieldError::new("amount.minor_units", message));
    }
    Ok(amount)
}

/// "12.5" USD → 1250; more decimals than the currency has is refused, never rounded.
fn decimal_to_minor(amount: &str, currency: &str) -> Result<i64, FieldError> {
    Money::from_decimal(amount, currency).map(|money| money.minor_units).map_err(|error| match error {
        MoneyError::UnknownCurrency(_) | MoneyError::NoMinorUnit(_) => {
            FieldError::new("amount.currency", error.to_string())
        }
        _ => FieldError::new("amount.minor_units", error.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> IntakeMapping {
        IntakeMapping {
            ticket: "/ticket/id".into(),
            kind: "=refund".into(),
            amount: "/ticket/fields/amount".into(),
            amount_format: AmountFormat::Decimal,
            currency: "/ticket/fields/currency".into(),
            exception_code: "tag:/ticket/tags:code_".into(),
            customer_ref: "/ticket/requester/email".into(),
            order_ref: Some("/ticket/fields/order".into()),
            rationale: Some("/ticket/subject".into()),
            team: None,
        }
    }

    #[test]
    fn maps_pointers_tags_constants_and_decimal_amounts() {
        let payload = serde_json::json!({"ticket": {
            "id": 4711, "subject": "Parcel never arrived", "tags": ["vip", "code_late_delivery"],
            "requester": {"email": "ann@example.com"},
            "fields": {"amount": "12.5", "currency": "usd", "order": "#1001"}}});
        let request = serde_json::to_value(mapping().request(&payload).unwrap()).unwrap();
        assert_eq!(request["amount"], serde_json::json!({"minor_units": 1250, "currency": "USD"}));
        assert_eq!(request["exception_code"], "LATE_DELIVERY");
        assert_eq!(request["attributes"]["ticket"], "4711");
        assert_eq!(request["order_ref"], "#1001");
    }

    #[test]
    fn refuses_missing_fields_and_inexact_amounts_naming_them() {
        let payload = serde_json::json!({"ticket": {"id": 1, "tags": [], "requester": {"email": "a@b"},
            "fields": {"amount": "12.505", "currency": "USD"}}});
        assert_eq!(mapping().request(&payload).unwrap_err().field, "amount.minor_units");
        assert_eq!(decimal_to_minor("100", "JPY"), Ok(100));
        assert!(decimal_to_minor("1.5", "JPY").is_err());
        assert_eq!(decimal_to_minor("1.500", "USD"), Ok(150));
        assert_eq!(decimal_to_minor("1.5", "ZZZ").unwrap_err().field, "amount.currency");
    }

    #[test]
    fn takes_json_number_amounts_only_while_they_are_exact() {
        let with_amount = |amount: serde_json::Value| {
            serde_json::json!({"ticket": {"id": 1, "subject": "s", "tags": ["code_late_delivery"],
                "requester": {"email": "a@b"}, "fields": {"amount": amount, "currency": "USD"}}})
        };
        let minor = |amount| {
            let request = mapping().request(&with_amount(amount)).map_err(|error| error.message)?;
            Ok::<_, String>(serde_json::to_value(request).unwrap()["amount"]["minor_units"].clone())
        };
        assert_eq!(minor(serde_json::json!(12.5)), Ok(serde_json::json!(1250)));
        assert_eq!(minor(serde_json::json!(19.99)), Ok(serde_json::json!(1999)));
        assert_eq!(minor(serde_json::json!(12)), Ok(serde_json::json!(1200)));
        assert_eq!(minor(serde_json::json!(123456789012.34)), Ok(serde_json::json!(12345678901234_i64)));
        let inexact = minor(serde_json::json!(1234567890123456.7)).unwrap_err();
        assert!(inexact.contains("send the amount as a string"), "{inexact}");
        assert_eq!(minor(serde_json::json!("1234567890123.45")), Ok(serde_json::json!(123456789012345_i64)));
    }
}
