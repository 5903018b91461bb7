//! The seeded cases, planned before the story runs: when each is filed, by whom, under which
//! code, for how much, and what its requester will do. What the approvers do is decided as the
//! story runs, against the decision levee actually made.
//!
//! About 3,000 cases over 182 days, growing gently; an outage incident two months in; a surge
//! of one code in the last three weeks; and the planted cases the leaks and the demo queue need.

use chrono::{DateTime, Duration, Utc};
use levee_core::case::CaseKind;
use rand::RngExt;
use rand::rngs::StdRng;

use super::cast::Cast;
use super::profile::{self, CodeProfile, INCIDENT_CODE, SURGE_CODE};

/// How far back the story starts.
pub const STORY_DAYS: i64 = 182;
/// Cases filed in the ordinary course of the story (the incident and the surge add to it).
const ORDINARY_CASES: f64 = 2_960.0;
/// Extra cases a day while the surge runs, and for how many days before the end.
const SURGE_PER_DAY: f64 = 6.0;
const SURGE_DAYS: i64 = 21;
/// The outage incident: when it starts (days before the end), and its cases over three days.
const INCIDENT_DAYS_BEFORE_END: i64 = 128;
const INCIDENT_CASES: usize = 30;
/// Ordinary customers, and the few serial refunders among them.
const CUSTOMERS: u32 = 5_000;
const SERIAL_REFUNDERS: u32 = 5;

/// A case planted for a purpose, decided the same way every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plant {
    /// Approved by `approver`, then refunded for `executed` minor units: more than approved.
    Overage { executed: i64, approver: &'static str },
    /// Approved by `approver`, then refunded twice.
    Duplicate { approver: &'static str },
    /// Refunded while it waited; `approver` approves it afterwards.
    ExecutedBeforeApproval { approver: &'static str },
    /// Left waiting for a person trying the demo.
    AwaitingDemo,
}

impl Plant {
    /// The approver the plant is decided by, if one is named.
    pub fn approver(self) -> Option<&'static str> {
        match self {
            Plant::Overage { approver, .. }
            | Plant::Duplicate { approver }
            | Plant::ExecutedBeforeApproval { approver } => Some(approver),
            Plant::AwaitingDemo => None,
        }
    }
}

/// A planted case: when, which team, code, amount in minor units, currency, and its purpose.
type Planted = (DateTime<Utc>, usize, &'static str, i64, &'static str, Plant);

/// One case to file.
#[derive(Debug, Clone)]
pub struct CasePlan {
    pub at: DateTime<Utc>,
    pub team: usize,
    pub agent: usize,
    pub code: &'static str,
    pub kind: CaseKind,
    pub minor_units: i64,
    pub currency: &'static str,
    pub customer: String,
    pub order: String,
    /// The helpdesk ticket, for cases filed from one.
    pub ticket: Option<String>,
    /// Any attachment the decision needs is attached at submission (otherwise later).
    pub attach_up_front: bool,
    /// A missing attachment never comes, and the approver rejects the case for it.
    pub evidence_never: bool,
    /// The requester withdraws the case this long after filing it, if it still waits.
    pub cancel_after: Option<Duration>,
    /// Filed in the surge, when the approvers are swamped.
    pub swamped: bool,
    pub plant: Option<Plant>,
}

/// How many cases each code normally brings in 30 days by the end of the story (the surge and
/// the incident aside), from the teams' shares and their weights over `codes`.
pub fn expected_per_30_days(cast: &Cast, codes: &[&'static CodeProfile]) -> Vec<(&'static CodeProfile, f64)> {
    let per_30_days = ORDINARY_CASES / STORY_DAYS as f64 * 30.0 * 1.15;
    codes
        .iter()
        .map(|&code| {
            let share: f64 = cast
                .teams
                .iter()
                .map(|team| {
                    let total: f64 = codes.iter().map(|other| profile::team_weight(other, team.name)).sum();
                    team.share * profile::team_weight(code, team.name) / total.max(f64::MIN_POSITIVE)
                })
                .sum();
            (code, share * per_30_days)
        })
        .collect()
}

/// Plans every case of the story ending at `end`, in filing order.
pub fn plan_cases(
    rng: &mut StdRng,
    end: DateTime<Utc>,
    cast: &Cast,
    codes: &[&'static CodeProfile],
    currencies: &[String],
) -> Vec<CasePlan> {
    let mut planner = Planner { rng, cast, codes, currencies, next_order: 5_104_000, next_fresh_customer: 90_001 };
    let start = end - Duration::days(STORY_DAYS);
    let mut plans = planner.ordinary(start);
    plans.extend(planner.incident(end - Duration::days(INCIDENT_DAYS_BEFORE_END)));
    plans.extend(planner.surge(end));
    plans.extend(planner.planted(end));
    plans.retain(|plan| plan.at < end);
    plans.sort_by_key(|plan| plan.at);
    plans
}

struct Planner<'a> {
    rng: &'a mut StdRng,
    cast: &'a Cast,
    codes: &'a [&'static CodeProfile],
    currencies: &'a [String],
    next_order: u64,
    next_fresh_customer: u32,
}

impl Planner<'_> {
    /// The everyday cases: a Poisson number each day, growing by a third over the story.
    fn ordinary(&mut self, start: DateTime<Utc>) -> Vec<CasePlan> {
        let per_day = ORDINARY_CASES / STORY_DAYS as f64;
        let mut plans = Vec::new();
        for day in 0..STORY_DAYS {
            let growth = 0.85 + 0.30 * day as f64 / (STORY_DAYS - 1) as f64;
            let from = start + Duration::days(day);
            for _ in 0..poisson(self.rng, per_day * growth) {
                let at = from + Duration::seconds(self.rng.random_range(0..86_400));
                let team = profile::weighted(self.rng, &self.cast.teams, |team| team.share).unwrap_or(0);
                let code = self.code_for(team);
                plans.push(self.case(at, team, code));
            }
        }
        plans
    }

    /// The outage: service credits from every support team over three days.
    fn incident(&mut self, from: DateTime<Utc>) -> Vec<CasePlan> {
        let Some(code) = self.active(INCIDENT_CODE) else { return Vec::new() };
        (0..INCIDENT_CASES)
            .map(|_| {
                let at = from + Duration::seconds(self.rng.random_range(0..3 * 86_400));
                let team = self.rng.random_range(0..3);
                self.case(at, team, code)
            })
            .collect()
    }

    /// The drift: the surge code comes several times as often in the last weeks, mostly to
    /// support-amer and billing-ops.
    fn surge(&mut self, end: DateTime<Utc>) -> Vec<CasePlan> {
        let Some(code) = self.active(SURGE_CODE) else { return Vec::new() };
        let weights = [0.15, 0.55, 0.10, 0.20];
        let mut plans = Vec::new();
        for day in 0..SURGE_DAYS {
            let from = end - Duration::days(SURGE_DAYS - day);
            for _ in 0..poisson(self.rng, SURGE_PER_DAY) {
                let at = from + Duration::seconds(self.rng.random_range(0..86_400));
                let team = profile::weighted(self.rng, &weights, |weight| *weight).unwrap_or(1);
                let mut plan = self.case(at, team.min(self.cast.teams.len() - 1), code);
                plan.swamped = true;
                plans.push(plan);
            }
        }
        plans
    }

    /// The cases the leaks and the demo queue need, with fixed amounts and times.
    fn planted(&mut self, end: DateTime<Utc>) -> Vec<CasePlan> {
        let at = |days: i64, minutes: i64| end - Duration::days(days) + Duration::minutes(minutes);
        let mut plans = Vec::new();
        let planted: [Planted; 4] = [
            (
                at(34, 193),
                1,
                "DAMAGED_IN_TRANSIT",
                12_000,
                "USD",
                Plant::Overage { executed: 21_000, approver: "alma.lead" },
            ),
            (at(12, 300), 0, "LATE_DELIVERY", 4_500, "GBP", Plant::Overage { executed: 8_500, approver: "elena.lead" }),
            (at(26, 120), 2, "ITEM_NOT_RECEIVED", 6_499, "USD", Plant::Duplicate { approver: "priya.lead" }),
            (
                at(15, 60),
                1,
                "DEFECTIVE_PRODUCT",
                31_000,
                "USD",
                Plant::ExecutedBeforeApproval { approver: "alma.lead" },
            ),
        ];
        for (when, team, code, minor_units, currency, plant) in planted {
            plans.extend(self.fixed(when, team, code, minor_units, currency, plant));
        }
        // Waiting for the demo's lead (four) and manager (three): filed in the last hour, so
        // their SLA is hours away.
        let awaiting: [(i64, usize, &str, i64); 7] = [
            (52, 0, "LATE_DELIVERY", 8_950),
            (41, 1, "DAMAGED_IN_TRANSIT", 24_999),
            (33, 2, "WRONG_ITEM_SHIPPED", 14_200),
            (18, 3, "DUPLICATE_CHARGE", 41_000),
            (47, 2, "DEFECTIVE_PRODUCT", 64_000),
            (27, 3, "BILLING_ERROR", 128_500),
            (9, 1, "ITEM_NOT_RECEIVED", 212_000),
        ];
        for (minutes_ago, team, code, minor_units) in awaiting {
            let when = end - Duration::minutes(minutes_ago);
            plans.extend(self.fixed(when, team, code, minor_units, "USD", Plant::AwaitingDemo));
        }
        plans
    }

    fn fixed(
        &mut self,
        at: DateTime<Utc>,
        team: usize,
        code: &str,
        minor_units: i64,
        currency: &'static str,
        plant: Plant,
    ) -> Option<CasePlan> {
        let code = self.active(code)?;
        let team = team.min(self.cast.teams.len() - 1);
        let mut plan = self.case(at, team, code);
        plan.kind = CaseKind::Refund;
        plan.minor_units = minor_units;
        plan.currency = self.currency_or_usd(currency);
        plan.customer = format!("cus_{}", self.next_fresh_customer);
        self.next_fresh_customer += 1;
        plan.attach_up_front = true;
        plan.evidence_never = false;
        plan.cancel_after = None;
        plan.plant = Some(plant);
        Some(plan)
    }

    /// An ordinary case of `code` filed by someone in `team` at `at`.
    fn case(&mut self, at: DateTime<Utc>, team: usize, code: &'static CodeProfile) -> CasePlan {
        let agents = self.cast.teams[team].agents.len();
        let currencies = self.cast.teams[team].currencies;
        let currency =
            profile::weighted(self.rng, currencies, |(_, weight)| *weight).map_or("USD", |index| currencies[index].0);
        self.next_order += self.rng.random_range(1..40);
        let from_helpdesk = self.cast.teams[team].name != "billing-ops" && self.rng.random_bool(0.7);
        CasePlan {
            at,
            team,
            agent: self.rng.random_range(0..agents),
            code: code.code,
            kind: profile::kind(self.rng, code),
            minor_units: profile::amount(self.rng, code.size),
            currency: self.currency_or_usd(currency),
            customer: self.customer(),
            order: self.next_order.to_string(),
            ticket: from_helpdesk.then(|| format!("ZD-{}", 48_000 + self.next_order % 100_000)),
            attach_up_front: self.rng.random_bool(0.8),
            evidence_never: self.rng.random_bool(0.12),
            cancel_after: self.rng.random_bool(0.08).then(|| Duration::minutes(self.rng.random_range(10..240))),
            swamped: false,
            plant: None,
        }
    }

    /// A code for a case of `team`, by the team's weights over the active codes.
    fn code_for(&mut self, team: usize) -> &'static CodeProfile {
        let name = self.cast.teams[team].name;
        let index = profile::weighted(self.rng, self.codes, |code| profile::team_weight(code, name)).unwrap_or(0);
        self.codes[index]
    }

    fn active(&self, code: &str) -> Option<&'static CodeProfile> {
        self.codes.iter().copied().find(|profile| profile.code == code)
    }

    fn currency_or_usd(&self, currency: &'static str) -> &'static str {
        if self.currencies.iter().any(|known| known == currency) { currency } else { "USD" }
    }

    /// Mostly one of many customers; now and then one of the few who ask again and again.
    fn customer(&mut self) -> String {
        if self.rng.random_bool(0.008) {
            return format!("cus_{}", 70_001 + self.rng.random_range(0..SERIAL_REFUNDERS));
        }
        format!("cus_{}", 10_001 + self.rng.random_range(0..CUSTOMERS))
    }
}

/// A Poisson draw (Knuth's method; the rates here are small).
fn poisson(rng: &mut StdRng, rate: f64) -> u32 {
    let limit = (-rate).exp();
    let mut product: f64 = rng.random_range(0.0..1.0);
    let mut count = 0;
    while product > limit && count < 1_000 {
        product *= rng.random_range(0.0..1.0);
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn plans(seed: u64, end: DateTime<Utc>) -> Vec<CasePlan> {
        let cast = Cast::new(&["USD".to_owned(), "EUR".to_owned(), "GBP".to_owned()]);
        let codes: Vec<&'static CodeProfile> = profile::CODES.iter().collect();
        plan_cases(&mut StdRng::seed_from_u64(seed), end, &cast, &codes, &["USD".into(), "EUR".into(), "GBP".into()])
    }

    #[test]
    fn one_seed_plans_one_story_relative_to_the_end_with_its_surge() {
        let end: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
        let later = end + Duration::days(40);
        let (first, second) = (plans(7, end), plans(7, later));
        assert_eq!(first.len(), second.len());
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(
                (a.at + Duration::days(40), a.code, a.minor_units, &a.customer),
                (b.at, b.code, b.minor_units, &b.customer)
            );
        }
        assert!((2_800..3_400).contains(&first.len()), "{} cases", first.len());
        let surge_from = end - Duration::days(SURGE_DAYS);
        let share = |plans: &[&CasePlan]| {
            plans.iter().filter(|plan| plan.code == SURGE_CODE).count() as f64 / plans.len() as f64
        };
        let (before, during): (Vec<&CasePlan>, Vec<&CasePlan>) = first.iter().partition(|plan| plan.at < surge_from);
        assert!(share(&before) < 0.08 && share(&during) > 0.2, "{} then {}", share(&before), share(&during));
    }
}
