//! How the seeded approvers behave: who takes a case at each level, how long they take, and
//! how often they say no.
//!
//! Peer leads take twenty minutes to a few hours, now and then much longer (the case then
//! escalates past its SLA), and reject about one case in seven (more of support-apac's). The rubber-stamping lead
//! approves everything put to them within 15 to 45 seconds and never rejects; agents learn
//! that, and bring them their larger cases. Managers, finance and directors take longer as
//! the amounts grow.

use chrono::Duration;
use levee_core::case::Case;
use levee_core::identity::{ApproverLevel, Principal};
use rand::RngExt;
use rand::rngs::StdRng;

use super::cast::{Cast, RUBBER_STAMPER};

/// The approver who takes the next approval of `case` at `level`, if anyone can.
pub fn choose<'a>(
    rng: &mut StdRng,
    cast: &'a Cast,
    case: &Case,
    team: usize,
    level: ApproverLevel,
    named: Option<&str>,
) -> Option<&'a Principal> {
    let candidates: Vec<&Principal> =
        cast.at_level(level).iter().filter(|approver| may_approve(approver, case)).collect();
    if let Some(named) = named.and_then(|name| candidates.iter().find(|approver| approver.actor == name)) {
        return Some(named);
    }
    match level {
        ApproverLevel::Lead => choose_lead(rng, cast, case, team, &candidates),
        ApproverLevel::Manager => {
            let manager = cast.managers.get(cast.teams.get(team).map_or(0, |team| team.manager));
            manager.filter(|manager| may_approve(manager, case)).or_else(|| pick(rng, &candidates))
        }
        ApproverLevel::Finance | ApproverLevel::Director => pick(rng, &candidates),
    }
}

/// Agents bring the rubber-stamper most of their larger lead cases (not those that waited for a
/// customer message first); otherwise a lead of the team takes it.
fn choose_lead<'a>(
    rng: &mut StdRng,
    cast: &'a Cast,
    case: &Case,
    team: usize,
    candidates: &[&'a Principal],
) -> Option<&'a Principal> {
    let rubber_stamper =
        candidates.iter().copied().find(|lead| lead.actor == RUBBER_STAMPER).filter(|_| case.comms.is_none());
    let own_team =
        cast.teams.get(team).is_some_and(|team| team.leads.iter().any(|&lead| is_rubber_stamper(cast, lead)));
    let chance = if case.amount.minor_units >= 20_000 {
        0.55
    } else if own_team {
        0.30
    } else {
        0.04
    };
    if let Some(lead) = rubber_stamper.filter(|_| rng.random_bool(chance)) {
        return Some(lead);
    }
    let team_leads: Vec<&Principal> =
        candidates.iter().copied().filter(|lead| lead.actor != RUBBER_STAMPER && lead.team == case.team).collect();
    let peers: Vec<&Principal> = candidates.iter().copied().filter(|lead| lead.actor != RUBBER_STAMPER).collect();
    pick(rng, &team_leads).or_else(|| pick(rng, &peers)).or(rubber_stamper)
}

fn is_rubber_stamper(cast: &Cast, lead: usize) -> bool {
    cast.leads.get(lead).is_some_and(|lead| lead.actor == RUBBER_STAMPER)
}

fn pick<'a>(rng: &mut StdRng, candidates: &[&'a Principal]) -> Option<&'a Principal> {
    (!candidates.is_empty()).then(|| candidates[rng.random_range(0..candidates.len())])
}

/// Not the requester, not already counted, and a limit that covers the amount.
fn may_approve(approver: &Principal, case: &Case) -> bool {
    let limit = approver.authority.as_ref().and_then(|authority| authority.limits.get(&case.amount.currency));
    approver.actor != case.requester
        && !case.approvals.iter().any(|approval| approval.approver == approver.actor)
        && limit.is_some_and(|limit| *limit >= case.amount.minor_units)
}

/// How long `approver` takes to decide a case that reached them at `level` with `sla_left`
/// before it escalates. People work their queue by its SLA, so most decide within it; now and
/// then one does not (far more often when `swamped` by a surge), and the case escalates.
pub fn delay(
    rng: &mut StdRng,
    approver: &Principal,
    level: ApproverLevel,
    sla_left: Option<Duration>,
    swamped: bool,
) -> Duration {
    if approver.actor == RUBBER_STAMPER {
        return Duration::seconds(rng.random_range(15..=45));
    }
    let (fastest, slow_share) = match level {
        ApproverLevel::Lead => (20.0, 0.09),
        ApproverLevel::Manager => (15.0, 0.07),
        ApproverLevel::Finance => (30.0, 0.10),
        ApproverLevel::Director => (60.0, 0.12),
    };
    let Some(left) = sla_left.map(|left| left.num_seconds() as f64 / 60.0) else {
        return minutes(log_uniform(rng, fastest, fastest * 30.0));
    };
    if left <= 2.0 || rng.random_bool(if swamped { 0.45 } else { slow_share }) {
        return minutes(left.max(1.0) * rng.random_range(1.1..4.0) + 5.0);
    }
    let latest = left * 0.9;
    minutes(log_uniform(rng, fastest.min(latest * 0.3), latest))
}

fn log_uniform(rng: &mut StdRng, low: f64, high: f64) -> f64 {
    (f64::ln(low) + rng.random_range(0.0..1.0) * (f64::ln(high) - f64::ln(low))).exp()
}

fn minutes(minutes: f64) -> Duration {
    Duration::seconds((minutes * 60.0) as i64)
}

/// How often `approver` rejects a case of `team` at `level`.
pub fn rejection_rate(approver: &Principal, level: ApproverLevel, team: &str) -> f64 {
    if approver.actor == RUBBER_STAMPER {
        return 0.0;
    }
    let sloppy_team = if team == "support-apac" { 0.05 } else { 0.0 };
    match level {
        ApproverLevel::Lead => 0.12 + sloppy_team,
        ApproverLevel::Manager => 0.10 + sloppy_team,
        ApproverLevel::Finance => 0.08,
        ApproverLevel::Director => 0.12,
    }
}
