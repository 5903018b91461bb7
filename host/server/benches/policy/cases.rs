//! The benchmark's cases: 1,000 deterministic facts that reach every rule of the default chain.
//! Every kind; amounts in every currency of the approval matrix, on every rung of its ladder
//! (auto-approve, each band, above the top band) and on their inclusive limits; every code of
//! the taxonomy with its flags, and a few codes the routing table does not list; evidence,
//! repeat-refund counts, requester, channel and attributes varied.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use levee_core::case::CaseKind;
use levee_core::engine::Facts;
use levee_core::evidence::EvidenceKind;
use levee_core::matrix::{ApprovalMatrix, Ladder};
use levee_core::money::Money;
use levee_core::taxonomy::Taxonomy;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const KINDS: [CaseKind; 5] =
    [CaseKind::Refund, CaseKind::Credit, CaseKind::FeeWaiver, CaseKind::WriteOff, CaseKind::Override];
const EVIDENCE: [EvidenceKind; 5] = [
    EvidenceKind::Rationale,
    EvidenceKind::Attachment,
    EvidenceKind::CustomerComms,
    EvidenceKind::OrderRecord,
    EvidenceKind::PaymentRecord,
];
const ROLES: [&str; 3] = ["agent", "lead", "manager"];
const CHANNELS: [&str; 4] = ["api", "zendesk", "phone", "email"];
/// One case in this many carries a code the routing table does not list (its default route).
const UNLISTED_CODE_EVERY: usize = 40;

/// `count` cases from a fixed seed, for the matrix and taxonomy levee decides with.
pub fn generate(count: usize, matrix: &ApprovalMatrix, taxonomy: &Taxonomy) -> Vec<Facts> {
    let mut rng = StdRng::seed_from_u64(9);
    let start: DateTime<Utc> = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
    (0..count).map(|index| one_case(&mut rng, index, start, matrix, taxonomy)).collect()
}

fn one_case(
    rng: &mut StdRng,
    index: usize,
    start: DateTime<Utc>,
    matrix: &ApprovalMatrix,
    taxonomy: &Taxonomy,
) -> Facts {
    let currencies: Vec<&String> = matrix.ladders.keys().collect();
    let currency = currencies[rng.random_range(0..currencies.len())];
    let minor_units = amount_on_ladder(rng, &matrix.ladders[currency]);
    let (code, category, escalate_always, customer_comms_required) = code(rng, index, taxonomy);
    Facts {
        case_id: format!("LV-{:06}", index + 1),
        kind: KINDS[rng.random_range(0..KINDS.len())],
        amount: Money { minor_units, currency: currency.clone() },
        exception_code: code,
        code_category: category,
        escalate_always,
        customer_comms_required,
        requester_role: ROLES[rng.random_range(0..ROLES.len())].to_owned(),
        requester_team: format!("team-{}", rng.random_range(0..8)),
        channel: CHANNELS[rng.random_range(0..CHANNELS.len())].to_owned(),
        refunds_90d: rng.random_range(0..5),
        refunded_90d_minor_units: rng.random_range(0..200_000),
        // No order history: the Rego rules (policy/threshold.rego) do not place split refunds.
        order_refunds: None,
        evidence_present: EVIDENCE.into_iter().filter(|_| rng.random::<f64>() < 0.4).collect(),
        attributes: attributes(rng),
        submitted_at: start + Duration::minutes(index as i64 * 7),
    }
}

/// An amount on a rung chosen evenly (auto-approve, each band, above the top band): a limit
/// itself one time in five, since limits are inclusive, else anywhere within the rung.
fn amount_on_ladder(rng: &mut StdRng, ladder: &Ladder) -> i64 {
    let mut limits = vec![0, ladder.auto_approve_up_to];
    limits.extend(ladder.bands.iter().map(|band| band.up_to));
    let top = *limits.last().unwrap_or(&1);
    limits.push(top.saturating_mul(4));
    let rung = rng.random_range(1..limits.len());
    let (low, high) = (limits[rung - 1] + 1, limits[rung]);
    if rng.random::<f64>() < 0.2 { high } else { rng.random_range(low..=high) }
}

/// A code of the taxonomy with its category and flags, or now and then one it does not list.
fn code(rng: &mut StdRng, index: usize, taxonomy: &Taxonomy) -> (String, String, bool, bool) {
    if index % UNLISTED_CODE_EVERY == UNLISTED_CODE_EVERY - 1 {
        return ("UNLISTED_CODE".to_owned(), "other".to_owned(), false, false);
    }
    let entry = &taxonomy.codes[rng.random_range(0..taxonomy.codes.len())];
    (entry.code.clone(), entry.category.clone(), entry.escalate_always, entry.customer_comms_required)
}

fn attributes(rng: &mut StdRng) -> BTreeMap<String, String> {
    (0..rng.random_range(0..3))
        .map(|n| (format!("attribute_{n}"), format!("value-{}", rng.random_range(0..100))))
        .collect()
}
