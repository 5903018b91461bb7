//! Helpdesk ticket payloads through an intake mapping that uses pointers, tags, constants and
//! decimal amounts: mapping any bytes never panics.
#![no_main]

use levee_core::intake::{AmountFormat, IntakeMapping};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let mapping = IntakeMapping {
        ticket: "/id".into(),
        kind: "/kind".into(),
        amount: "/amount".into(),
        amount_format: AmountFormat::Decimal,
        currency: "/currency".into(),
        exception_code: "tag:/tags:code_".into(),
        customer_ref: "/customer".into(),
        order_ref: Some("/order".into()),
        rationale: Some("=fuzz".into()),
        team: None,
    };
    let _ = mapping.request(&payload);
    let minor = IntakeMapping { amount_format: AmountFormat::Minor, ..mapping };
    let _ = minor.request(&payload);
});
