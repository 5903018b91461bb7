//! Signature headers: verifying any header values and body under every scheme never panics.
#![no_main]

use levee_core::inbound::{Delivery, Encoding, HmacAlgorithm, Scheme, verify};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The first bytes are the header value, up to a 0 byte; the rest is the body.
    let (value, body) = match data.iter().position(|byte| *byte == 0) {
        Some(split) => (&data[..split], &data[split + 1..]),
        None => (data, &[][..]),
    };
    let value = String::from_utf8_lossy(value).into_owned();
    let header = |_: &str| Some(value.clone());
    let delivery = Delivery { header: &header, body, now: chrono::DateTime::UNIX_EPOCH };
    let secrets = vec!["fuzz-secret-0123456789".to_owned()];
    let schemes = [
        Scheme::Zendesk,
        Scheme::Stripe,
        Scheme::Shopify,
        Scheme::Intercom,
        Scheme::HelpScout,
        Scheme::SharedSecret { header: "X-Secret".into() },
        Scheme::Hmac {
            header: "X-Signature".into(),
            algorithm: HmacAlgorithm::Sha1,
            encoding: Encoding::Base64,
            prefix: Some("sha1=".into()),
        },
    ];
    for scheme in &schemes {
        let _ = verify(scheme, &secrets, &delivery);
    }
});
