//! Helpers for policy unit tests (native `cargo test`); unused code is dropped from the
//! wasm build.

use alloc::string::String;
use alloc::vec::Vec;

use crate::{CaseKind, CodeFlags, Facts, History, Money, RefundsGranted};

/// Plain facts for a case of `kind` for `minor_units` of `currency` (exponent 2): code
/// "TEST_CODE" with no flags, no history (no order), no evidence. Tests change the fields they need.
pub fn facts(kind: CaseKind, minor_units: i64, currency: &str) -> Facts {
    Facts {
        case_id: String::from("case-test-1"),
        kind,
        amount: Money { minor_units, currency: String::from(currency), exponent: 2 },
        exception_code: String::from("TEST_CODE"),
        code_category: String::from("test"),
        code_flags: CodeFlags::empty(),
        requester_role: String::from("agent"),
        requester_team: String::from("support"),
        channel: String::from("api"),
        history: History {
            window_days: 90,
            customer: RefundsGranted { refunds: 0, refunded_minor_units: 0 },
            order: None,
        },
        evidence_present: Vec::new(),
        attributes: Vec::new(),
        submitted_at: 1_798_761_600,
    }
}
