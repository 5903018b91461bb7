//! Shopify refunds/create payloads: parsing any bytes never panics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(refund) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = levee_core::executions::from_shopify(&refund);
    }
});
