//! Executed refunds as payment tools report them: what a Stripe or Shopify webhook says left
//! the account, resolved to an amount in minor units of a currency and the references it can be
//! matched by (order, charge, payment intent, ticket, case). Pure parsing: every function takes
//! the verified payload and never panics on any input (`fuzz/` runs them on random bytes).
//!
//! - Stripe: `refund.created` and `refund.updated` events carry a Refund; only a `succeeded`
//!   refund counts. `charge.refunded` counts each succeeded refund listed in the charge's
//!   `refunds.data`. The Refund's `amount` is what actually left, even when the refund was
//!   created without one (a full refund). `metadata.order_id`, `metadata.ticket` and
//!   `metadata.levee_case` are read as references.
//! - Shopify `refunds/create`: the sum of the refund's successful `refund` transactions, in
//!   their currency; `order_id` is the order reference; `order_adjustments` of kind
//!   `refund_discrepancy` are reported as a discrepancy.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::money::Money;

/// One executed refund, as its payment tool reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionReport {
    /// The tool's own id of the refund (`re_…`, or Shopify's refund id).
    pub id: String,
    pub amount: Money,
    pub executed_at: DateTime<Utc>,
    /// `order`, `charge`, `payment_intent`, `ticket`, `case`: whichever the payload carries.
    pub references: BTreeMap<String, String>,
    /// Shopify: how far the refund fell short of what it should have been, if it did.
    pub discrepancy: Option<Money>,
}

/// The executions a Stripe event reports (none for other event types).
pub fn from_stripe(event: &Value) -> Result<Vec<ExecutionReport>, String> {
    let object = event.pointer("/data/object").ok_or("the event has no data.object")?;
    match event.get("type").and_then(Value::as_str) {
        Some("refund.created" | "refund.updated") => stripe_refund(object).map(|refund| refund.into_iter().collect()),
        Some("charge.refunded") => {
            let refunds = object.pointer("/refunds/data").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            refunds.iter().map(stripe_refund).filter_map(Result::transpose).collect()
        }
        _ => Ok(Vec::new()),
    }
}

/// A Stripe Refund object, if it succeeded.
fn stripe_refund(refund: &Value) -> Result<Option<ExecutionReport>, String> {
    if refund.get("status").and_then(Value::as_str) != Some("succeeded") {
        return Ok(None);
    }
    let id = text(refund, "/id").ok_or("the refund has no id")?;
    let minor_units = refund.get("amount").and_then(Value::as_i64).ok_or("the refund has no integer amount")?;
    let currency = text(refund, "/currency").ok_or("the refund has no currency")?.to_ascii_uppercase();
    let amount = Money::new(minor_units, &currency).map_err(|error| error.to_string())?;
    let created = refund.get("created").and_then(Value::as_i64).ok_or("the refund has no created time")?;
    let executed_at = DateTime::from_timestamp(created, 0).ok_or("the refund's created time is out of range")?;
    let mut references = BTreeMap::new();
    for (name, pointer) in [
        ("charge", "/charge"),
        ("payment_intent", "/payment_intent"),
        ("order", "/metadata/order_id"),
        ("ticket", "/metadata/ticket"),
        ("case", "/metadata/levee_case"),
    ] {
        if let Some(value) = text(refund, pointer) {
            references.insert(name.to_owned(), value);
        }
    }
    Ok(Some(ExecutionReport { id, amount, executed_at, references, discrepancy: None }))
}

/// The execution a Shopify `refunds/create` payload reports (none if nothing was refunded).
pub fn from_shopify(refund: &Value) -> Result<Option<ExecutionReport>, String> {
    let id = text(refund, "/id").ok_or("the refund has no id")?;
    let order = text(refund, "/order_id").ok_or("the refund has no order_id")?;
    let executed_at = text(refund, "/processed_at")
        .or_else(|| text(refund, "/created_at"))
        .ok_or("the refund has no processed_at or created_at")?;
    let executed_at = DateTime::parse_from_rfc3339(&executed_at).map_err(|error| error.to_string())?.to_utc();
    let transactions = refund.get("transactions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut total: Option<Money> = None;
    for transaction in transactions {
        let kind = transaction.get("kind").and_then(Value::as_str);
        let status = transaction.get("status").and_then(Value::as_str);
        if kind != Some("refund") || status != Some("success") {
            continue;
        }
        let currency =
            text(transaction, "/currency").ok_or("a refund transaction has no currency")?.to_ascii_uppercase();
        let amount =
            decimal_money(&text(transaction, "/amount").ok_or("a refund transaction has no amount")?, &currency)?;
        total = Some(match total {
            None => amount,
            Some(sum) if sum.currency == amount.currency => {
                let total = sum.minor_units.checked_add(amount.minor_units).ok_or("the refund adds up to too much")?;
                Money::new(total, &sum.currency).map_err(|error| error.to_string())?
            }
            Some(_) => return Err("refund transactions in more than one currency".to_owned()),
        });
    }
    let Some(amount) = total else { return Ok(None) };
    let adjustments = refund.get("order_adjustments").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    // A negative discrepancy is money the refund fell short by; a positive one is not a shortfall.
    let mut short = 0i64;
    for adjustment in adjustments.iter().filter(|a| a.get("kind").and_then(Value::as_str) == Some("refund_discrepancy"))
    {
        let value = text(adjustment, "/amount").ok_or("a refund discrepancy has no amount")?;
        let Some(shortfall) = value.strip_prefix('-') else { continue };
        let minor = decimal_money(shortfall, &amount.currency)?.minor_units;
        short = short.checked_add(minor).ok_or("the refund discrepancies add up to too much")?;
    }
    let discrepancy =
        if short > 0 { Some(Money::new(short, &amount.currency).map_err(|e| e.to_string())?) } else { None };
    let references = BTreeMap::from([("order".to_owned(), order)]);
    Ok(Some(ExecutionReport { id, amount, executed_at, references, discrepancy }))
}

/// A string or number at `pointer`, as text.
fn text(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// "12.50" in `currency` as Money; more decimals than the currency has is refused.
fn decimal_money(amount: &str, currency: &str) -> Result<Money, String> {
    Money::from_decimal(amount, currency).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stripe_refund_counts_once_it_succeeded_with_its_resolved_amount() {
        let refund = json!({"id": "re_1", "object": "refund", "amount": 4000, "currency": "usd", "charge": "ch_1",
            "payment_intent": "pi_1", "status": "succeeded", "created": 1_795_000_000, "metadata": {"order_id": "order-7"}});
        let event = json!({"id": "evt_1", "type": "refund.created", "data": {"object": refund}});
        let executions = from_stripe(&event).unwrap();
        assert_eq!(executions[0].amount, Money::new(4000, "USD").unwrap());
        assert_eq!(executions[0].references["order"], "order-7");
        let pending = json!({"type": "refund.created", "data": {"object": {"status": "pending"}}});
        assert_eq!(from_stripe(&pending), Ok(vec![]));
        let charge =
            json!({"type": "charge.refunded", "data": {"object": {"id": "ch_1", "refunds": {"data": [refund]}}}});
        assert_eq!(from_stripe(&charge).unwrap().len(), 1);
    }

    #[test]
    fn a_shopify_refund_sums_its_successful_transactions_and_reports_a_discrepancy() {
        let refund = json!({"id": 890, "order_id": 450789469, "created_at": "2026-11-20T10:00:00-05:00",
            "transactions": [
                {"kind": "refund", "status": "success", "amount": "10.00", "currency": "USD"},
                {"kind": "refund", "status": "failure", "amount": "99.00", "currency": "USD"},
                {"kind": "refund", "status": "success", "amount": "2.5", "currency": "USD"}],
            "order_adjustments": [{"kind": "refund_discrepancy", "amount": "-5.00"}]});
        let execution = from_shopify(&refund).unwrap().unwrap();
        assert_eq!(execution.amount, Money::new(1250, "USD").unwrap());
        assert_eq!(execution.discrepancy, Some(Money::new(500, "USD").unwrap()));
        assert_eq!(execution.references["order"], "450789469");
        assert!(from_shopify(&json!({"id": 1})).is_err());
    }
}
