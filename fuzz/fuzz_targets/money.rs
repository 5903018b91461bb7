//! Money and currency parsing. The input is text, `AMOUNT CURRENCY` (`12.50 USD`, `5000 jpy`),
//! read everywhere levee reads an amount: `Money::new` on minor units, a helpdesk intake in
//! decimal and in minor units (then validated as a case), a Stripe refund's integer amount and
//! a Shopify transaction's decimal amount. Any text never panics, whatever its size; `Money`
//! accepts exactly the positive amounts up to 2^53 - 1 in a currency with a minor unit; an
//! accepted amount, formatted (`Display`, the dashboard's `format_major`) and parsed again, is
//! the same amount; and where two parsers accept the same text, they agree.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::LazyLock;

use levee_core::executions::{from_shopify, from_stripe};
use levee_core::intake::{AmountFormat, IntakeMapping};
use levee_core::metrics::derive::format_major;
use levee_core::money::{MAX_MINOR_UNITS, Money, currency_exponent};
use levee_core::taxonomy::Taxonomy;
use serde_json::{Value, json};

static TAXONOMY: LazyLock<Taxonomy> = LazyLock::new(Taxonomy::default_taxonomy);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (amount, currency) = text.split_once(' ').unwrap_or((&text, ""));
    let minor_units = amount.parse::<i64>().unwrap_or_else(|_| raw_i64(data));
    check_money(minor_units, currency);
    check_decimal(amount, currency);
    check_minor_units(amount, currency);
});

/// The first eight bytes as an integer, so that any i64 is reached, not only those written out.
fn raw_i64(data: &[u8]) -> i64 {
    let mut bytes = [0u8; 8];
    let len = data.len().min(8);
    bytes[..len].copy_from_slice(&data[..len]);
    i64::from_le_bytes(bytes)
}

/// `Money::new` accepts exactly what it documents; any `Money` formats; a valid one formats
/// back to itself through the decimal parsers and through serde.
fn check_money(minor_units: i64, currency: &str) {
    let unchecked = Money { minor_units, currency: currency.to_owned() };
    let _ = (unchecked.to_string(), format_major(&unchecked));
    let expected = currency_exponent(currency).is_ok() && (1..=MAX_MINOR_UNITS).contains(&minor_units);
    let result = Money::new(minor_units, currency);
    assert_eq!(result.is_ok(), expected, "Money::new({minor_units}, {currency:?}) gave {result:?}");
    let Ok(money) = result else { return };
    let shown = money.to_string();
    let (major, code) = shown.split_once(' ').expect("Display is `AMOUNT CODE`");
    assert_eq!(code, currency);
    assert_eq!(intake(AmountFormat::Decimal, json!(major), code).map(|m| m.minor_units), Some(minor_units));
    let grouped = format_major(&money).replace(',', "");
    assert_eq!(grouped, shown, "format_major and Display disagree once ungrouped");
    let stored = serde_json::to_string(&money).expect("money serializes");
    assert_eq!(serde_json::from_str::<Money>(&stored).ok(), Some(money));
}

/// Decimal text through the helpdesk intake and a Shopify refund: what each accepts reads back
/// from its own formatting, and the two agree.
fn check_decimal(amount: &str, currency: &str) {
    for value in amount_values(amount) {
        if let Some(money) = intake(AmountFormat::Decimal, value, currency) {
            assert_eq!(intake(AmountFormat::Decimal, json!(major_part(&money)), currency), Some(money));
        }
    }
    let Some(money) = shopify(json!(amount), currency) else { return };
    assert_eq!(money.currency, currency.to_ascii_uppercase());
    assert_eq!(shopify(json!(major_part(&money)), currency), Some(money.clone()), "Shopify amounts read back");
    if let Some(other) = intake(AmountFormat::Decimal, json!(amount), currency) {
        assert_eq!(other, money, "the intake and Shopify read '{amount}' differently");
    }
}

/// Whole minor units through the helpdesk intake and a Stripe refund: whatever they accept is
/// what `Money::new` makes of the same integer.
fn check_minor_units(amount: &str, currency: &str) {
    let upper = currency.to_ascii_uppercase();
    for value in amount_values(amount) {
        if let Some(money) = intake(AmountFormat::Minor, value.clone(), currency) {
            let whole = amount.trim().parse::<i64>().ok().or_else(|| value.as_i64());
            assert_eq!(Some(money.minor_units), whole, "the intake read '{amount}' as {money:?}");
        }
        if let Some(money) = stripe(value.clone(), currency) {
            assert_eq!(Some(money.clone()), value.as_i64().and_then(|minor| Money::new(minor, &upper).ok()));
        }
    }
}

/// The amount as a helpdesk or payment tool may send it: text, or a JSON number if it is one.
fn amount_values(amount: &str) -> Vec<Value> {
    let number = serde_json::from_str::<Value>(amount).ok().filter(Value::is_number);
    std::iter::once(json!(amount)).chain(number).collect()
}

/// The amount part of `Display` (`12.50` of `12.50 USD`).
fn major_part(money: &Money) -> String {
    money.to_string().split_once(' ').map(|(major, _)| major.to_owned()).unwrap_or_default()
}

/// A helpdesk ticket carrying `amount` through an intake mapping, then validated as a case.
fn intake(amount_format: AmountFormat, amount: Value, currency: &str) -> Option<Money> {
    let mapping = IntakeMapping {
        ticket: "/id".into(),
        kind: "=refund".into(),
        amount: "/amount".into(),
        amount_format,
        currency: "/currency".into(),
        exception_code: "=LATE_DELIVERY".into(),
        customer_ref: "/customer".into(),
        order_ref: None,
        rationale: Some("=fuzz".into()),
        team: None,
    };
    let ticket = json!({"id": "T-1", "amount": amount, "currency": currency, "customer": "cus_1"});
    let request = mapping.request(&ticket).ok()?;
    let submission = request.validate(&common::agent(), &TAXONOMY).ok()?;
    Some(submission.amount)
}

/// A Shopify refund with one successful transaction of `amount`.
fn shopify(amount: Value, currency: &str) -> Option<Money> {
    let refund = json!({
        "id": 1, "order_id": 2, "processed_at": "2026-11-02T09:30:00Z",
        "transactions": [{"kind": "refund", "status": "success", "currency": currency, "amount": amount}],
    });
    Some(from_shopify(&refund).ok()??.amount)
}

/// A Stripe `refund.created` event of a succeeded refund of `amount`.
fn stripe(amount: Value, currency: &str) -> Option<Money> {
    let event = json!({"type": "refund.created", "data": {"object": {
        "id": "re_1", "status": "succeeded", "amount": amount, "currency": currency, "created": 1_793_611_800,
    }}});
    from_stripe(&event).ok()?.pop().map(|execution| execution.amount)
}
