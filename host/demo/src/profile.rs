//! The shape of the seeded story: which exception codes come how often (a Pareto shape: a few
//! codes dominate), what kinds and amounts they carry, and the words people write. Pure
//! sampling over the seeded RNG.

use levee_core::case::CaseKind;
use rand::RngExt;
use rand::rngs::StdRng;

/// How large a code's amounts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Consumer orders: mostly small enough to auto-approve.
    Small,
    /// Billing corrections: somewhat larger.
    Billing,
    /// Business accounts, outages, write-offs: mostly above a lead's band.
    Large,
}

/// One exception code's place in the story.
pub struct CodeProfile {
    pub code: &'static str,
    /// Relative frequency across the support teams.
    pub weight: f64,
    pub size: Size,
    /// Weights of refund, credit, fee waiver, write-off and override.
    pub kinds: [f64; 5],
    /// A billing code: billing-ops files mostly these, support teams fewer.
    pub billing: bool,
}

const fn code(code: &'static str, weight: f64, size: Size, kinds: [f64; 5], billing: bool) -> CodeProfile {
    CodeProfile { code, weight, size, kinds, billing }
}

const REFUND: [f64; 5] = [1.0, 0.0, 0.0, 0.0, 0.0];

/// The codes, most frequent first.
pub const CODES: &[CodeProfile] = &[
    code("LATE_DELIVERY", 24.0, Size::Small, [0.95, 0.05, 0.0, 0.0, 0.0], false),
    code("ITEM_NOT_RECEIVED", 15.0, Size::Small, REFUND, false),
    code("DAMAGED_IN_TRANSIT", 11.0, Size::Small, REFUND, false),
    code("DUPLICATE_CHARGE", 9.0, Size::Billing, REFUND, true),
    code("BILLING_ERROR", 8.0, Size::Billing, [0.8, 0.2, 0.0, 0.0, 0.0], true),
    code("DEFECTIVE_PRODUCT", 7.0, Size::Small, REFUND, false),
    code("PROMO_NOT_APPLIED", 5.0, Size::Small, [0.85, 0.15, 0.0, 0.0, 0.0], true),
    code("WRONG_ITEM_SHIPPED", 4.5, Size::Small, REFUND, false),
    code("NOT_AS_DESCRIBED", 4.0, Size::Small, REFUND, false),
    code("LATE_CANCELLATION", 3.0, Size::Billing, REFUND, true),
    code("POOR_SUPPORT_EXPERIENCE", 2.5, Size::Small, [0.6, 0.4, 0.0, 0.0, 0.0], false),
    code("GOODWILL_RETENTION", 2.0, Size::Small, [0.5, 0.5, 0.0, 0.0, 0.0], false),
    code("PRICING_ERROR", 1.5, Size::Billing, REFUND, true),
    code("SERVICE_OUTAGE", 1.0, Size::Large, [0.0, 1.0, 0.0, 0.0, 0.0], false),
    code("LATE_FEE_DISPUTE", 1.0, Size::Small, [0.1, 0.0, 0.9, 0.0, 0.0], true),
    code("CHARGEBACK_PREVENTION", 0.6, Size::Billing, REFUND, true),
    code("SLA_BREACH", 0.5, Size::Large, [0.0, 1.0, 0.0, 0.0, 0.0], false),
    code("POLICY_EXCEPTION", 0.5, Size::Small, [0.8, 0.0, 0.0, 0.0, 0.2], false),
    code("SYSTEM_CALCULATION_OVERRIDE", 0.3, Size::Billing, [0.0, 0.0, 0.0, 0.0, 1.0], true),
    code("ESCALATED_COMPLAINT", 0.2, Size::Billing, [0.6, 0.4, 0.0, 0.0, 0.0], false),
    code("UNCOLLECTIBLE_BALANCE", 0.2, Size::Large, [0.0, 0.0, 0.0, 1.0, 0.0], true),
];

/// The code whose cases surge in the last weeks (a promotion engine fault).
pub const SURGE_CODE: &str = "PROMO_NOT_APPLIED";
/// The code of the outage incident two months into the story.
pub const INCIDENT_CODE: &str = "SERVICE_OUTAGE";

/// A code's weight within a team: billing-ops files mostly billing codes, support teams
/// fewer of them.
pub fn team_weight(profile: &CodeProfile, team: &str) -> f64 {
    match (team == "billing-ops", profile.billing) {
        (true, true) => profile.weight * 6.0,
        (true, false) => profile.weight * 0.1,
        (false, true) => profile.weight * 0.6,
        (false, false) => profile.weight,
    }
}

/// Picks an index by weight; `None` when every weight is zero.
pub fn weighted<T>(rng: &mut StdRng, items: &[T], weight: impl Fn(&T) -> f64) -> Option<usize> {
    let total: f64 = items.iter().map(&weight).sum();
    if total <= 0.0 {
        return None;
    }
    let mut point = rng.random_range(0.0..total);
    for (index, item) in items.iter().enumerate() {
        point -= weight(item);
        if point < 0.0 {
            return Some(index);
        }
    }
    items.iter().rposition(|item| weight(item) > 0.0)
}

pub fn kind(rng: &mut StdRng, profile: &CodeProfile) -> CaseKind {
    const KINDS: [CaseKind; 5] =
        [CaseKind::Refund, CaseKind::Credit, CaseKind::FeeWaiver, CaseKind::WriteOff, CaseKind::Override];
    let index = weighted(rng, &profile.kinds, |weight| *weight).unwrap_or(0);
    KINDS[index]
}

/// The default matrix's bands in minor units (auto, lead, manager, finance, director, two
/// directors), with how often each size of code lands in them.
const BANDS: [(i64, i64); 6] = [
    (300, 5_000),
    (5_001, 50_000),
    (50_001, 250_000),
    (250_001, 1_000_000),
    (1_000_001, 2_500_000),
    (2_500_001, 6_000_000),
];

fn band_weights(size: Size) -> [f64; 6] {
    match size {
        Size::Small => [0.60, 0.31, 0.07, 0.015, 0.004, 0.001],
        Size::Billing => [0.45, 0.35, 0.15, 0.04, 0.008, 0.002],
        Size::Large => [0.10, 0.30, 0.32, 0.20, 0.06, 0.02],
    }
}

/// An amount in minor units: a band by the code's size, then log-uniform within it, tidied
/// the way prices and refunds look (4.99, 37.50, 1,240.00).
pub fn amount(rng: &mut StdRng, size: Size) -> i64 {
    let band = weighted(rng, &band_weights(size), |weight| *weight).unwrap_or(0);
    let (low, high) = BANDS[band];
    let raw = ((low as f64).ln() + rng.random_range(0.0..1.0) * ((high as f64).ln() - (low as f64).ln())).exp();
    tidy(rng, raw as i64).clamp(low, high)
}

fn tidy(rng: &mut StdRng, minor: i64) -> i64 {
    if minor <= 2_000 {
        minor
    } else if minor > 50_000 {
        (minor / 500) * 500
    } else if rng.random_bool(0.4) {
        (minor / 100) * 100 + 99
    } else {
        (minor / 50) * 50
    }
}

/// One of `options`, at random.
pub fn one_of(rng: &mut StdRng, options: &[&'static str]) -> &'static str {
    options[rng.random_range(0..options.len())]
}

/// What requesters write for a code, in the words of its category.
pub fn reasons(code: &str) -> &'static [&'static str] {
    match code {
        "LATE_DELIVERY" => &[
            "Parcel arrived six days after the promised date; customer asked for the shipping fee back.",
            "Carrier tracking shows the order stuck at the depot for a week; refunding delivery.",
            "Express delivery paid for, standard delivery received.",
        ],
        "ITEM_NOT_RECEIVED" => &[
            "Tracking shows delivered but the customer never received it; carrier claim opened.",
            "Order lost in transit according to the carrier.",
        ],
        "DAMAGED_IN_TRANSIT" => &[
            "Customer sent photos of the crushed box and broken item.",
            "Item arrived damaged; replacement out of stock, refunding instead.",
        ],
        "DUPLICATE_CHARGE" | "BILLING_ERROR" | "PRICING_ERROR" | "LATE_CANCELLATION" => &[
            "Payment processor shows the charge twice for the same invoice.",
            "Invoice computed on the old plan price after the downgrade.",
            "Renewal charged after the customer cancelled in writing.",
        ],
        "PROMO_NOT_APPLIED" => &[
            "Checkout ignored the promotion code shown on the campaign page.",
            "Customer had the promo in their basket; the discount fell off at payment.",
        ],
        "DEFECTIVE_PRODUCT" | "NOT_AS_DESCRIBED" | "WRONG_ITEM_SHIPPED" => &[
            "Product stopped working within the first week; customer returned it.",
            "Item does not match the listing (size and colour differ).",
            "Wrong item shipped; customer keeps it, refunding the difference.",
        ],
        "SERVICE_OUTAGE" | "SLA_BREACH" => &[
            "Account affected by the platform outage; credit under the outage policy.",
            "Contractual uptime missed this month; service credit per the agreement.",
        ],
        _ => &[
            "Customer has been with us for years and is about to leave; goodwill gesture agreed.",
            "Exception to the written policy, agreed with the customer on the phone.",
            "See the ticket for the full history.",
        ],
    }
}

/// What a peer approver writes when approving.
pub const APPROVALS: &[&str] = &[
    "Checked the order history and the evidence: within policy.",
    "Tracking confirms the customer's account; approved.",
    "Verified against the invoice and the payment record.",
    "Customer's first claim this year; amount matches the order line.",
    "Reviewed the ticket and the attachments; approved as requested.",
];

/// What the rubber-stamping lead writes: under three words.
pub const RUBBER_STAMPS: &[&str] = &["ok", "approved", "fine", "lgtm", "ok approved"];

pub const REJECTIONS: &[&str] = &[
    "Outside the 30-day returns window and no exception applies.",
    "The customer was already compensated for this order on an earlier case.",
    "Amount does not match the order line; resubmit with the right figure.",
    "Carrier confirms delivery with a signature; not eligible.",
    "Policy does not cover this; offer store credit instead.",
];

pub const CANCELLATIONS: &[&str] = &[
    "Customer withdrew the request after the parcel turned up.",
    "Filed twice by mistake; the other case stands.",
    "Resolved with a replacement instead of a refund.",
];
