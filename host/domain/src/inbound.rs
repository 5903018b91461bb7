//! Inbound webhooks: checking that a delivery really comes from the tool it claims, by that
//! vendor's own signature scheme, before a byte of it is parsed.
//!
//! | source | header | signed bytes | MAC, encoding | replay |
//! | --- | --- | --- | --- | --- |
//! | Zendesk | `X-Zendesk-Webhook-Signature` + `…-Timestamp` | timestamp then body | HMAC-SHA256, base64 | 5 min, body digest |
//! | Stripe | `Stripe-Signature: t=…,v1=…[,v1=…]` | `t.body` | HMAC-SHA256, hex | 5 min |
//! | Shopify | `X-Shopify-Hmac-Sha256` | body | HMAC-SHA256, base64 | event id |
//! | Intercom | `X-Hub-Signature: sha1=…` | body | HMAC-SHA1, hex | notification id |
//! | Help Scout | `X-HelpScout-Signature` | body | HMAC-SHA1, base64 | body digest |
//! | Freshdesk, Gorgias | a header of your choosing | — | the shared secret itself | body digest |
//! | generic | configured | body | HMAC-SHA256 or -SHA1, hex or base64 | configured |
//!
//! Every comparison is constant-time; each source takes two secrets during a rotation (any
//! listed secret that verifies is enough); where the vendor signs a timestamp, a delivery more
//! than five minutes from now is refused. Each verified delivery gets an id for deduplication,
//! taken only from what the signature covers: the event id inside a signed Stripe or Intercom
//! body, or else the sha256 of the body (an unsigned header id could be changed by anyone
//! replaying a captured delivery). Shopify's executions are deduplicated by their refund id.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// How far a signed timestamp may be from now.
pub const TOLERANCE_SECONDS: i64 = 300;

/// A source's signature scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "scheme", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scheme {
    Zendesk,
    Stripe,
    Shopify,
    Intercom,
    HelpScout,
    /// Freshdesk, Gorgias: no signature; the secret itself in a header of your choosing.
    SharedSecret {
        header: String,
    },
    /// Any other tool: an HMAC of the raw body in `header`, optionally after `prefix`.
    Hmac {
        header: String,
        algorithm: HmacAlgorithm,
        encoding: Encoding,
        #[serde(default)]
        prefix: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HmacAlgorithm {
    Sha256,
    Sha1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Hex,
    Base64,
}

/// Why a delivery was refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the {0} header is missing")]
    MissingHeader(String),
    #[error("the {header} header is malformed: {problem}")]
    MalformedHeader { header: String, problem: String },
    #[error("the signature does not match the body with any configured secret")]
    BadSignature,
    #[error("the signed timestamp is {seconds} s from now, more than the {TOLERANCE_SECONDS} s allowed")]
    Stale { seconds: i64 },
}

/// A delivery as it arrived: headers (lowercase names) and the raw body.
pub struct Delivery<'a> {
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub body: &'a [u8],
    pub now: DateTime<Utc>,
}

impl Delivery<'_> {
    fn required(&self, name: &str) -> Result<String, Refusal> {
        (self.header)(name).ok_or_else(|| Refusal::MissingHeader(name.to_owned()))
    }
}

/// Verifies `delivery` against `secrets`; returns the id it is deduplicated by.
pub fn verify(scheme: &Scheme, secrets: &[String], delivery: &Delivery<'_>) -> Result<String, Refusal> {
    let body = delivery.body;
    match scheme {
        Scheme::Zendesk => {
            let signature = decode(
                Encoding::Base64,
                "x-zendesk-webhook-signature",
                &delivery.required("x-zendesk-webhook-signature")?,
            )?;
            let timestamp = delivery.required("x-zendesk-webhook-signature-timestamp")?;
            let signed_at = DateTime::parse_from_rfc3339(&timestamp).map_err(|error| Refusal::MalformedHeader {
                header: "x-zendesk-webhook-signature-timestamp".into(),
                problem: error.to_string(),
            })?;
            fresh(signed_at.timestamp(), delivery.now)?;
            any_secret(secrets, HmacAlgorithm::Sha256, &[timestamp.as_bytes(), body], &[signature])?;
            // The invocation id is not signed, so the signed bytes are what identify a delivery.
            Ok(body_id(body))
        }
        Scheme::Stripe => {
            let (timestamp, signatures) = stripe_header(&delivery.required("stripe-signature")?)?;
            fresh(timestamp, delivery.now)?;
            let prefix = format!("{timestamp}.");
            any_secret(secrets, HmacAlgorithm::Sha256, &[prefix.as_bytes(), body], &signatures)?;
            Ok(json_id(body).unwrap_or_else(|| body_id(body)))
        }
        Scheme::Shopify => {
            let signature =
                decode(Encoding::Base64, "x-shopify-hmac-sha256", &delivery.required("x-shopify-hmac-sha256")?)?;
            any_secret(secrets, HmacAlgorithm::Sha256, &[body], &[signature])?;
            let id = (delivery.header)("x-shopify-event-id").or_else(|| (delivery.header)("x-shopify-webhook-id"));
            Ok(id.unwrap_or_else(|| body_id(body)))
        }
        Scheme::Intercom => {
            let header = delivery.required("x-hub-signature")?;
            let hex = header.strip_prefix("sha1=").ok_or_else(|| Refusal::MalformedHeader {
                header: "x-hub-signature".into(),
                problem: "does not start with sha1=".into(),
            })?;
            any_secret(secrets, HmacAlgorithm::Sha1, &[body], &[decode(Encoding::Hex, "x-hub-signature", hex)?])?;
            Ok(json_id(body).unwrap_or_else(|| body_id(body)))
        }
        Scheme::HelpScout => {
            let signature =
                decode(Encoding::Base64, "x-helpscout-signature", &delivery.required("x-helpscout-signature")?)?;
            any_secret(secrets, HmacAlgorithm::Sha1, &[body], &[signature])?;
            Ok(body_id(body))
        }
        Scheme::SharedSecret { header } => {
            let presented = delivery.required(&header.to_ascii_lowercase())?;
            // Digests are compared, so neither the secret's bytes nor its length leak.
            let presented = Sha256::digest(presented.as_bytes());
            let matches = secrets.iter().any(|secret| bool::from(Sha256::digest(secret.as_bytes()).ct_eq(&presented)));
            if !matches {
                return Err(Refusal::BadSignature);
            }
            Ok(body_id(body))
        }
        Scheme::Hmac { header, algorithm, encoding, prefix } => {
            let name = header.to_ascii_lowercase();
            let value = delivery.required(&name)?;
            let encoded = match prefix {
                Some(prefix) => value.strip_prefix(prefix.as_str()).ok_or_else(|| Refusal::MalformedHeader {
                    header: name.clone(),
                    problem: format!("does not start with {prefix}"),
                })?,
                None => value.as_str(),
            };
            any_secret(secrets, *algorithm, &[body], &[decode(*encoding, &name, encoded)?])?;
            Ok(body_id(body))
        }
    }
}

/// Refuses a signed time more than the tolerance from now (either way), whatever the number.
fn fresh(signed_at_unix: i64, now: DateTime<Utc>) -> Result<(), Refusal> {
    let distance = now.timestamp().abs_diff(signed_at_unix);
    if distance > TOLERANCE_SECONDS.unsigned_abs() {
        return Err(Refusal::Stale { seconds: now.timestamp().saturating_sub(signed_at_unix) });
    }
    Ok(())
}

/// `t=…,v1=…,v1=…`: the timestamp and every v1 signature (other schemes are ignored).
fn stripe_header(value: &str) -> Result<(i64, Vec<Vec<u8>>), Refusal> {
    let malformed =
        |problem: &str| Refusal::MalformedHeader { header: "stripe-signature".into(), problem: problem.into() };
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| malformed("t is not a number"))?),
            Some(("v1", hex)) => signatures.push(decode(Encoding::Hex, "stripe-signature", hex)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| malformed("no t="))?;
    if signatures.is_empty() {
        return Err(malformed("no v1= signature"));
    }
    Ok((timestamp, signatures))
}

fn decode(encoding: Encoding, header: &str, text: &str) -> Result<Vec<u8>, Refusal> {
    let decoded = match encoding {
        Encoding::Hex => hex::decode(text.trim()).map_err(|error| error.to_string()),
        Encoding::Base64 => BASE64.decode(text.trim()).map_err(|error| error.to_string()),
    };
    decoded.map_err(|problem| Refusal::MalformedHeader { header: header.to_owned(), problem })
}

/// Whether any secret's MAC of `parts` equals any of `signatures` (constant-time per compare).
fn any_secret(
    secrets: &[String],
    algorithm: HmacAlgorithm,
    parts: &[&[u8]],
    signatures: &[Vec<u8>],
) -> Result<(), Refusal> {
    let verified = secrets.iter().any(|secret| {
        signatures.iter().any(|signature| match algorithm {
            HmacAlgorithm::Sha256 => mac_matches::<Hmac<Sha256>>(secret, parts, signature),
            HmacAlgorithm::Sha1 => mac_matches::<Hmac<sha1::Sha1>>(secret, parts, signature),
        })
    });
    if verified { Ok(()) } else { Err(Refusal::BadSignature) }
}

fn mac_matches<M: Mac + hmac::digest::KeyInit>(secret: &str, parts: &[&[u8]], signature: &[u8]) -> bool {
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes()) else { return false };
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(signature).is_ok()
}

/// The top-level `"id"` of a JSON body (Stripe's event id, Intercom's notification id).
fn json_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("id")?.as_str().map(str::to_owned)
}

/// The sha256 of the body, for sources that send no id.
fn body_id(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-24T10:00:00Z".parse().unwrap()
    }

    fn check(scheme: &Scheme, headers: &[(&str, String)], body: &[u8], secrets: &[&str]) -> Result<String, Refusal> {
        let lookup = |name: &str| headers.iter().find(|(key, _)| *key == name).map(|(_, value)| value.clone());
        let secrets: Vec<String> = secrets.iter().map(|secret| (*secret).to_owned()).collect();
        verify(scheme, &secrets, &Delivery { header: &lookup, body, now: now() })
    }

    fn mac256(key: &str, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key.as_bytes()).unwrap();
        parts.iter().for_each(|part| mac.update(part));
        mac.finalize().into_bytes().to_vec()
    }

    #[test]
    fn stripe_accepts_any_v1_of_any_secret_and_refuses_stale_or_altered() {
        let body = br#"{"id":"evt_1","type":"charge.refunded"}"#;
        let t = now().timestamp();
        let good = hex::encode(mac256("whsec_new", &[format!("{t}.").as_bytes(), body]));
        let header = format!("t={t},v1={},v1={good}", "00".repeat(32));
        let headers = [("stripe-signature", header.clone())];
        assert_eq!(check(&Scheme::Stripe, &headers, body, &["whsec_old", "whsec_new"]), Ok("evt_1".into()));
        assert_eq!(check(&Scheme::Stripe, &headers, b"{\"id\":\"evt_2\"}", &["whsec_new"]), Err(Refusal::BadSignature));
        let stale = [("stripe-signature", header.replace(&format!("t={t}"), &format!("t={}", t - 301)))];
        assert!(matches!(
            check(&Scheme::Stripe, &stale, body, &["whsec_new"]),
            Err(Refusal::Stale { .. }) | Err(Refusal::BadSignature)
        ));
        assert_eq!(
            check(&Scheme::Stripe, &[], body, &["whsec_new"]),
            Err(Refusal::MissingHeader("stripe-signature".into()))
        );
    }

    #[test]
    fn zendesk_signs_the_timestamp_then_the_body() {
        let body = br#"{"type":"zen:event-type:ticket.created"}"#;
        let timestamp = "2026-11-24T09:58:00Z".to_owned();
        let signature = BASE64.encode(mac256("zd-secret", &[timestamp.as_bytes(), body]));
        let headers = [
            ("x-zendesk-webhook-signature", signature),
            ("x-zendesk-webhook-signature-timestamp", timestamp),
            ("x-zendesk-webhook-invocation-id", "inv-9".to_owned()),
        ];
        assert_eq!(check(&Scheme::Zendesk, &headers, body, &["zd-secret"]), Ok(body_id(body)));
        let mut changed = body.to_vec();
        changed[3] ^= 1;
        assert_eq!(check(&Scheme::Zendesk, &headers, &changed, &["zd-secret"]), Err(Refusal::BadSignature));
    }

    #[test]
    fn shared_secrets_compare_whole_values() {
        let scheme = Scheme::SharedSecret { header: "X-Levee-Secret".into() };
        let headers = [("x-levee-secret", "s3cret-value".to_owned())];
        assert!(check(&scheme, &headers, b"{}", &["s3cret-value"]).unwrap().starts_with("sha256:"));
        assert_eq!(check(&scheme, &headers, b"{}", &["s3cret-valu"]), Err(Refusal::BadSignature));
    }
}
