//! Executed refunds, as Stripe and Shopify would report them, for the last two months of the
//! story (reconciliation was switched on then): every approved refund is executed a little
//! after its approval, and a few leaks are planted on purpose: refunds with no case at all
//! (silent), refunds for more than was approved (overage), a refund executed twice
//! (duplicate) and one executed while its case still waited (executed before approval).
//!
//! They are `ExecutionReport`s, exactly what `executions::from_stripe` and `from_shopify` make
//! of a verified webhook, recorded through `Reconciliation::record_executions`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use levee_core::case::Case;
use levee_core::executions::ExecutionReport;
use levee_core::money::Money;
use rand::RngExt;
use rand::rngs::StdRng;

/// How long before the end reconciliation has been running.
pub const RECONCILIATION_DAYS: i64 = 60;

/// An execution to record at `at`, from `source`.
#[derive(Debug, Clone)]
pub struct Execution {
    pub at: DateTime<Utc>,
    pub source: &'static str,
    pub report: ExecutionReport,
}

/// A refund of `case` executed at `at`, for `minor_units` (the approved amount unless a leak
/// says otherwise).
pub fn refund(rng: &mut StdRng, case: &Case, at: DateTime<Utc>, minor_units: i64) -> Option<Execution> {
    let amount = Money::new(minor_units, &case.amount.currency).ok()?;
    let mut references = BTreeMap::new();
    if let Some(order) = &case.order_ref {
        references.insert("order".to_owned(), order.clone());
    }
    let source = if rng.random_bool(0.7) { "stripe" } else { "shopify" };
    if source == "stripe" {
        references.insert("charge".to_owned(), format!("ch_{}", token(rng, 24)));
        references.insert("payment_intent".to_owned(), format!("pi_{}", token(rng, 24)));
        if rng.random_bool(0.3) {
            references.insert("case".to_owned(), case.id.clone());
        }
    }
    let id = refund_id(rng, source);
    Some(Execution { at, source, report: report(id, amount, at, references) })
}

/// The ordinary execution of an approved refund: minutes to a day after approval.
pub fn ordinary(rng: &mut StdRng, case: &Case) -> Option<Execution> {
    let at = case.decided_at? + Duration::minutes(rng.random_range(2..20 * 60));
    refund(rng, case, at, case.amount.minor_units)
}

/// An approved refund executed for more than was approved, three hours after its approval.
pub fn overage(rng: &mut StdRng, case: &Case, executed_minor_units: i64) -> Option<Execution> {
    refund(rng, case, case.decided_at? + Duration::hours(3), executed_minor_units)
}

/// The same refund executed twice, a double click apart: the second is the duplicate.
pub fn twice(rng: &mut StdRng, case: &Case) -> Vec<Execution> {
    let at = case.decided_at.map(|decided| decided + Duration::minutes(20));
    let Some(first) = at.and_then(|at| refund(rng, case, at, case.amount.minor_units)) else { return Vec::new() };
    let mut second = first.clone();
    second.at = first.at + Duration::seconds(90);
    second.report.id = refund_id(rng, first.source);
    second.report.executed_at = whole_seconds(second.at);
    vec![first, second]
}

/// A refund issued straight from a payment tool, with no case in levee.
struct SilentRefund {
    days_before_end: i64,
    minute_of_day: i64,
    minor_units: i64,
    currency: &'static str,
    source: &'static str,
    /// An order levee has no case for (outside the story's order numbers), if the tool had one.
    order: Option<&'static str>,
}

const SILENT_REFUNDS: [SilentRefund; 3] = [
    SilentRefund {
        days_before_end: 47,
        minute_of_day: 614,
        minor_units: 124_000,
        currency: "USD",
        source: "stripe",
        order: Some("6199131"),
    },
    SilentRefund {
        days_before_end: 21,
        minute_of_day: 250,
        minor_units: 18_900,
        currency: "EUR",
        source: "shopify",
        order: Some("6231877"),
    },
    SilentRefund {
        days_before_end: 6,
        minute_of_day: 1_022,
        minor_units: 8_650,
        currency: "USD",
        source: "stripe",
        order: None,
    },
];

/// Refunds issued straight from the payment tools, with no case in levee: silent leaks.
pub fn silent(rng: &mut StdRng, end: DateTime<Utc>) -> Vec<Execution> {
    SILENT_REFUNDS
        .iter()
        .filter_map(|refund| {
            let at = end - Duration::days(refund.days_before_end) + Duration::minutes(refund.minute_of_day);
            let amount = Money::new(refund.minor_units, refund.currency).ok()?;
            let mut references = BTreeMap::new();
            if let Some(order) = refund.order {
                references.insert("order".to_owned(), order.to_owned());
            }
            if refund.source == "stripe" {
                references.insert("charge".to_owned(), format!("ch_{}", token(rng, 24)));
            }
            let id = refund_id(rng, refund.source);
            Some(Execution { at, source: refund.source, report: report(id, amount, at, references) })
        })
        .collect()
}

fn report(id: String, amount: Money, at: DateTime<Utc>, references: BTreeMap<String, String>) -> ExecutionReport {
    ExecutionReport { id, amount, executed_at: whole_seconds(at), references, discrepancy: None }
}

/// Payment tools stamp refunds in whole seconds.
fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

/// `re_…` for Stripe, a numeric id for Shopify.
fn refund_id(rng: &mut StdRng, source: &str) -> String {
    match source {
        "stripe" => format!("re_{}", token(rng, 24)),
        _ => rng.random_range(900_000_000_000u64..999_999_999_999).to_string(),
    }
}

fn token(rng: &mut StdRng, length: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..length).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}
