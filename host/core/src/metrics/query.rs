//! The reports behind `/v1/metrics/…`, each summed from slices: leakage, cycle time, evidence
//! completeness, outliers, drift, and the dashboard's summary with its signals.
//!
//! A scope is a range of whole months (UTC) and optionally one team. Month slices answer
//! per-month and range figures; week slices answer trends and drift. Reports are pure
//! functions of the loaded slices, so they are tested against hand-computed answers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{Datelike, Duration, Months, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

use super::MetricsSettings;
use super::fold::PeriodKind;
use super::histogram::Histogram;
use super::slice::{LeakCause, Slice};
use super::stats::{leave_one_out_z, population_stability_index, psi_noise_floor};
use crate::validation::FieldError;

/// Months shown when a request names none: this one and the five before it.
pub const DEFAULT_MONTHS: u32 = 6;
/// The most months one request may span.
pub const MAX_MONTHS: u32 = 36;
/// Entries folded before answering; the rest is left to the background job.
pub const FOLD_ON_READ: u64 = 20_000;

/// What a report covers: whole months `from..=to`, and one team or all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Scope {
    /// The first day of the first month.
    pub from: NaiveDate,
    /// The last day of the last month.
    pub to: NaiveDate,
    pub team: Option<String>,
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

fn parse_month(field: &str, text: &str) -> Result<NaiveDate, FieldError> {
    Some(text)
        .filter(|text| crate::validation::matches_shape(text, "DDDD-DD"))
        .and_then(|text| NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok())
        .filter(|day| (MIN_YEAR..=MAX_YEAR).contains(&day.year()))
        .ok_or_else(|| FieldError::new(field, format!("'{text}' is not a month: use YYYY-MM")))
}

/// A month as a query names it, `YYYY-MM` from 2000-01 to 9998-12 (`MIN_YEAR`, `MAX_YEAR`), as
/// the OpenAPI document's pattern.
pub const MONTH_PATTERN: &str = "^(2[0-9]{3}|[3-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])$";

pub use levee_domain::metrics::{MAX_YEAR, MIN_YEAR};

impl Scope {
    /// The scope a request asks for: `from` and `to` as `YYYY-MM` (default: the last six
    /// months up to `today`'s), and an optional team.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        team: Option<String>,
        today: NaiveDate,
    ) -> Result<Scope, FieldError> {
        let to_month = to.map(|text| parse_month("to", text)).transpose()?.unwrap_or_else(|| first_of_month(today));
        let from_month = match from {
            Some(text) => parse_month("from", text)?,
            None => to_month - Months::new(DEFAULT_MONTHS - 1),
        };
        if from_month > to_month {
            return Err(FieldError::new("from", "must not be after `to`"));
        }
        if from_month + Months::new(MAX_MONTHS) <= to_month {
            return Err(FieldError::new("from", format!("a report spans at most {MAX_MONTHS} months")));
        }
        let to = to_month + Months::new(1) - Duration::days(1);
        Ok(Scope { from: from_month, to, team: team.filter(|team| !team.is_empty()) })
    }

    /// One month, for the monthly review.
    pub fn month(month: &str, team: Option<String>) -> Result<Scope, FieldError> {
        let first = parse_month("month", month)?;
        Ok(Scope { from: first, to: first + Months::new(1) - Duration::days(1), team })
    }

    pub fn months(&self) -> Vec<String> {
        let mut months = Vec::new();
        let mut month = self.from;
        while month <= self.to {
            months.push(PeriodKind::Month.id(month.and_time(chrono::NaiveTime::MIN).and_utc()));
            month = month + Months::new(1);
        }
        months
    }

    /// How many weeks of the scope have happened by `today` (a running month counts only its
    /// days so far): what totals are divided by to compare as rates per week.
    pub fn elapsed_weeks(&self, today: NaiveDate) -> f64 {
        let days = (self.to.min(today) - self.from).num_days() + 1;
        days.max(1) as f64 / 7.0
    }

    /// The weeks before the scope's first that drift compares it with, oldest first.
    pub fn reference_weeks(&self) -> Vec<String> {
        let first = self.from - Duration::days(7 * DRIFT_REFERENCE_WEEKS as i64);
        let mut weeks = weeks_between(first, self.from - Duration::days(1));
        let own = self.weeks();
        weeks.retain(|week| !own.contains(week));
        weeks
    }

    /// The ISO weeks that overlap the scope, oldest first.
    pub fn weeks(&self) -> Vec<String> {
        weeks_between(self.from, self.to)
    }
}

/// The ISO weeks overlapping `from..=to`, oldest first.
pub fn weeks_between(from: NaiveDate, to: NaiveDate) -> Vec<String> {
    let mut weeks = Vec::new();
    let mut day = from - Duration::days(i64::from(from.weekday().num_days_from_monday()));
    while day <= to {
        weeks.push(PeriodKind::Week.id(day.and_time(chrono::NaiveTime::MIN).and_utc()));
        day += Duration::days(7);
    }
    weeks
}

/// Slices by period, then by team (shared with the decoded-slice cache).
pub type Slices = BTreeMap<String, BTreeMap<String, Arc<Slice>>>;

/// Everything a report needs, loaded once.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub months: Slices,
    pub weeks: Slices,
    /// The weeks before the scope's first, as drift's first reference.
    pub reference_weeks: Slices,
}

impl Loaded {
    /// Every slice of the scope summed.
    pub fn total(&self) -> Slice {
        sum(self.months.values().flat_map(BTreeMap::values).map(|slice| &**slice))
    }

    /// The currency most of the scope's cases were in (without summing whole slices).
    pub fn main_currency(&self) -> Option<String> {
        let mut counts = BTreeMap::new();
        for slice in self.months.values().flat_map(BTreeMap::values) {
            super::slice::add_counts(&mut counts, &slice.by_currency);
        }
        most_cases(&counts)
    }

    /// Each team's slices summed.
    pub fn by_team(&self) -> BTreeMap<String, Slice> {
        let mut teams: BTreeMap<String, Slice> = BTreeMap::new();
        for (team, slice) in self.months.values().flat_map(BTreeMap::iter) {
            teams.entry(team.clone()).or_default().add(slice);
        }
        teams
    }
}

pub fn sum<'a>(slices: impl Iterator<Item = &'a Slice>) -> Slice {
    let mut total = Slice::default();
    slices.for_each(|slice| total.add(slice));
    total
}

/// Slices as last decoded, with the bytes they came from. Only the running week's and month's
/// slices change, so a dashboard decodes those and reuses the rest.
#[derive(Debug, Default)]
pub struct SliceCache {
    entries: Mutex<HashMap<String, CachedSlice>>,
}

/// A slice's stored bytes, and the slice decoded from them.
type CachedSlice = (Vec<u8>, Arc<Slice>);

/// Slices kept decoded, at most (a cache that fills is emptied and starts again).
const SLICE_CACHE_ENTRIES: usize = 4_096;

impl SliceCache {
    /// The slice `bytes` hold, decoded once for as long as they do not change.
    pub fn decode(&self, key: &str, bytes: Vec<u8>) -> Result<Arc<Slice>, crate::store::StoreError> {
        let Ok(mut entries) = self.entries.lock() else { return decode_slice(key, &bytes).map(Arc::new) };
        if let Some((cached, slice)) = entries.get(key)
            && *cached == bytes
        {
            return Ok(slice.clone());
        }
        let slice = Arc::new(decode_slice(key, &bytes)?);
        if entries.len() >= SLICE_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(key.to_owned(), (bytes, slice.clone()));
        Ok(slice)
    }
}

fn decode_slice(key: &str, bytes: &[u8]) -> Result<Slice, crate::store::StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|error| crate::store::StoreError::Backend(format!("{key} does not decode: {error}")))
}

// ---------------------------------------------------------------------------------------
// Leakage

/// Money in one currency, with the number of items behind it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Amount {
    pub currency: String,
    pub minor_units: i64,
    pub count: i64,
}

/// One month's leakage in one currency, by cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MonthLeakage {
    pub month: String,
    pub currency: String,
    pub total_minor_units: i64,
    /// Minor units per cause (`silent`, `overage`, …).
    pub causes: BTreeMap<String, i64>,
}

/// Leakage attributed to one band, code, approver or team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LeakageLine {
    pub key: String,
    #[serde(flatten)]
    pub amount: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LeakageReport {
    pub scope: Scope,
    pub months: Vec<MonthLeakage>,
    /// Per currency and cause over the whole scope.
    pub totals: Vec<LeakageLine>,
    pub by_band: Vec<LeakageLine>,
    pub by_code: Vec<LeakageLine>,
    pub by_approver: Vec<LeakageLine>,
    pub by_team: Vec<LeakageLine>,
    /// Approvals above the approver's authority: should be zero.
    pub over_authority_approvals: u64,
}

/// Sums leak lines under `key`, per currency, largest first.
fn leakage_lines<'a>(leaks: impl Iterator<Item = (String, &'a super::slice::Leak)>) -> Vec<LeakageLine> {
    let mut lines: BTreeMap<(String, String), Amount> = BTreeMap::new();
    for (key, leak) in leaks {
        let line = lines.entry((key, leak.currency.clone())).or_default();
        line.currency = leak.currency.clone();
        line.minor_units = line.minor_units.saturating_add(leak.minor_units);
        line.count += leak.count;
    }
    let mut lines: Vec<LeakageLine> = lines
        .into_iter()
        .filter(|(_, amount)| amount.minor_units != 0 || amount.count != 0)
        .map(|((key, _), amount)| LeakageLine { key, amount })
        .collect();
    lines.sort_by(|a, b| b.amount.minor_units.cmp(&a.amount.minor_units).then_with(|| a.key.cmp(&b.key)));
    lines
}

/// Leakage from the slices' leak rows alone (no whole-slice sums).
pub fn leakage(scope: &Scope, loaded: &Loaded) -> LeakageReport {
    let mut per_month: BTreeMap<(String, String), BTreeMap<String, i64>> = BTreeMap::new();
    let mut leaks: Vec<(&String, &super::slice::Leak)> = Vec::new();
    let mut over_authority_approvals = 0;
    for (month, teams) in &loaded.months {
        for (team, slice) in teams {
            for leak in &slice.leakage {
                let causes = per_month.entry((month.clone(), leak.currency.clone())).or_default();
                let amount = causes.entry(leak.cause.as_str().to_owned()).or_default();
                *amount = amount.saturating_add(leak.minor_units);
                leaks.push((team, leak));
            }
            over_authority_approvals += slice.approvers.values().map(|figures| figures.over_authority).sum::<u64>();
        }
    }
    let months = per_month
        .into_iter()
        .map(|((month, currency), causes)| {
            let total_minor_units = causes.values().fold(0_i64, |sum, amount| sum.saturating_add(*amount));
            MonthLeakage { month, currency, total_minor_units, causes }
        })
        .collect();
    let lines = |key: &dyn Fn(&String, &super::slice::Leak) -> String| {
        leakage_lines(leaks.iter().map(|(team, leak)| (key(team, leak), *leak)))
    };
    LeakageReport {
        scope: scope.clone(),
        months,
        totals: lines(&|_, leak| leak.cause.as_str().to_owned()),
        by_band: lines(&|_, leak| leak.band.clone()),
        by_code: lines(&|_, leak| leak.code.clone()),
        by_approver: lines(&|_, leak| leak.approver.clone()),
        by_team: lines(&|team, _| team.clone()),
        over_authority_approvals,
    }
}

// ---------------------------------------------------------------------------------------
// Cycle time

/// p50 and p90 of the decisions behind one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CycleLine {
    pub key: String,
    pub count: u64,
    pub p50_seconds: Option<u64>,
    pub p90_seconds: Option<u64>,
}

impl CycleLine {
    fn of(key: impl Into<String>, histogram: &Histogram) -> CycleLine {
        CycleLine {
            key: key.into(),
            count: histogram.count(),
            p50_seconds: histogram.percentile(0.5),
            p90_seconds: histogram.percentile(0.9),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CycleTimeReport {
    pub scope: Scope,
    /// Submission to decision, for cases a person approved or rejected.
    pub overall: CycleLine,
    pub by_band: Vec<CycleLine>,
    pub by_code: Vec<CycleLine>,
    pub by_approver: Vec<CycleLine>,
    pub by_team: Vec<CycleLine>,
    /// One line per ISO week (`key` is the week).
    pub weekly: Vec<CycleLine>,
}

fn cycle_lines(slice: &Slice, prefix: &str) -> Vec<CycleLine> {
    slice
        .cycle
        .iter()
        .filter_map(|(dimension, histogram)| dimension.strip_prefix(prefix).map(|key| CycleLine::of(key, histogram)))
        .collect()
}

pub fn cycle_time(scope: &Scope, loaded: &Loaded) -> CycleTimeReport {
    let total = loaded.total();
    let all = |slice: &Slice| slice.cycle.get("all").cloned().unwrap_or_default();
    CycleTimeReport {
        scope: scope.clone(),
        overall: CycleLine::of("all", &all(&total)),
        by_band: cycle_lines(&total, "band:"),
        by_code: cycle_lines(&total, "code:"),
        by_approver: cycle_lines(&total, "approver:"),
        by_team: loaded.by_team().iter().map(|(team, slice)| CycleLine::of(team.clone(), &all(slice))).collect(),
        weekly: drift_digests(&loaded.weeks)
            .iter()
            .map(|(week, slice)| CycleLine::of(week.clone(), &all(slice)))
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------
// Evidence completeness

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EvidenceLine {
    pub key: String,
    pub decided: u64,
    pub complete: u64,
    /// complete / decided, or null when nothing was decided.
    pub share: Option<f64>,
}

impl EvidenceLine {
    fn of(key: impl Into<String>, decided: u64, complete: u64) -> EvidenceLine {
        let share = (decided > 0).then(|| complete as f64 / decided as f64);
        EvidenceLine { key: key.into(), decided, complete, share }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EvidenceReport {
    pub scope: Scope,
    /// Decided cases that carried every piece of evidence their decision required.
    pub overall: EvidenceLine,
    pub by_code: Vec<EvidenceLine>,
    pub by_team: Vec<EvidenceLine>,
}

pub fn evidence(scope: &Scope, loaded: &Loaded) -> EvidenceReport {
    let total = loaded.total();
    EvidenceReport {
        scope: scope.clone(),
        overall: EvidenceLine::of("all", total.decided, total.complete),
        by_code: total.by_code.iter().map(|(code, f)| EvidenceLine::of(code.clone(), f.decided, f.complete)).collect(),
        by_team: loaded
            .by_team()
            .iter()
            .map(|(team, s)| EvidenceLine::of(team.clone(), s.decided, s.complete))
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------
// Outliers

/// One approver against the peers at their level.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ApproverLine {
    pub approver: String,
    pub level: Option<String>,
    pub approvals: u64,
    pub rejections: u64,
    /// approvals / (approvals + rejections).
    pub approval_rate: Option<f64>,
    /// The mean amount of their approvals in the scope's main currency, in minor units.
    pub mean_approved_minor_units: Option<i64>,
    pub fast_approvals: u64,
    pub fast_without_rationale: u64,
    /// fast approvals / approvals.
    pub fast_share: Option<f64>,
    /// Median seconds from a case reaching them to their approval.
    pub p50_wait_seconds: Option<u64>,
    pub z_approval_rate: Option<f64>,
    pub z_mean_approved: Option<f64>,
    pub z_fast_share: Option<f64>,
    /// What stands out, in words.
    pub flags: Vec<String>,
}

/// One team against the other teams.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TeamLine {
    pub team: String,
    pub cases: u64,
    pub requesters: u64,
    /// Cases per requester: the team's exception rate.
    pub cases_per_requester: Option<f64>,
    pub z: Option<f64>,
    pub flagged: bool,
}

/// A customer who came back with the same code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RepeatLine {
    pub customer: String,
    pub code: String,
    pub count: u64,
    pub team: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OutlierReport {
    pub scope: Scope,
    /// How: z-score of each approver against the other approvers at the same level, and of
    /// each team against the other teams, each left out of its own peer group.
    pub method: String,
    pub fast_approval_seconds: u64,
    pub outlier_z: f64,
    pub main_currency: Option<String>,
    pub approvers: Vec<ApproverLine>,
    pub teams: Vec<TeamLine>,
    /// All time, at or above the configured threshold.
    pub repeats: Vec<RepeatLine>,
}

/// The currency most cases in the slice were in.
pub fn main_currency(slice: &Slice) -> Option<String> {
    most_cases(&slice.by_currency)
}

/// The currency with the most cases (the first by name among equals).
fn most_cases(by_currency: &BTreeMap<String, u64>) -> Option<String> {
    by_currency
        .iter()
        .max_by_key(|(currency, count)| (**count, std::cmp::Reverse((*currency).clone())))
        .map(|(currency, _)| currency.clone())
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn approver_lines(total: &Slice, main: Option<&str>, settings: &MetricsSettings) -> Vec<ApproverLine> {
    let mut lines: Vec<ApproverLine> = total
        .approvers
        .iter()
        .map(|(approver, figures)| {
            let mean = main.and_then(|currency| {
                let count = figures.approved_cases.get(currency).copied().unwrap_or(0);
                let amount = figures.approved.get(currency).copied().unwrap_or(0);
                (count > 0).then(|| amount / count as i64)
            });
            ApproverLine {
                approver: approver.clone(),
                level: figures.level.map(|level| level.as_str().to_owned()),
                approvals: figures.approvals,
                rejections: figures.rejections,
                approval_rate: ratio(figures.approvals, figures.approvals + figures.rejections),
                mean_approved_minor_units: mean,
                fast_approvals: figures.fast,
                fast_without_rationale: figures.fast_without_rationale,
                fast_share: ratio(figures.fast, figures.approvals),
                p50_wait_seconds: figures.wait.percentile(0.5),
                z_approval_rate: None,
                z_mean_approved: None,
                z_fast_share: None,
                flags: Vec::new(),
            }
        })
        .collect();
    let levels: BTreeSet<Option<String>> = lines.iter().map(|line| line.level.clone()).collect();
    let points = |_: f64| RATE_SPREAD_FLOOR;
    let share_of_mean = |mean: f64| AMOUNT_SPREAD_FLOOR * mean.abs();
    for level in levels {
        // Approvers with too few decisions to judge are neither scored nor counted as peers.
        let peers: Vec<usize> = (0..lines.len())
            .filter(|index| lines[*index].level == level)
            .filter(|index| lines[*index].approvals + lines[*index].rejections >= MIN_DECISIONS_TO_SCORE)
            .collect();
        score_peers(&mut lines, &peers, |line| line.approval_rate, points, |line, z| line.z_approval_rate = z);
        let mean_amount = |line: &ApproverLine| line.mean_approved_minor_units.map(|v| v as f64);
        score_peers(&mut lines, &peers, mean_amount, share_of_mean, |line, z| line.z_mean_approved = z);
        score_peers(&mut lines, &peers, |line| line.fast_share, points, |line, z| line.z_fast_share = z);
    }
    lines.iter_mut().for_each(|line| line.flags = approver_flags(line, settings));
    lines
}

/// An approver is scored against peers once they have made this many decisions.
pub const MIN_DECISIONS_TO_SCORE: u64 = 10;
/// The least spread of peers' rates a score divides by: 2 percentage points.
const RATE_SPREAD_FLOOR: f64 = 0.02;
/// The least spread of peers' mean amounts a score divides by: 5% of their mean.
const AMOUNT_SPREAD_FLOOR: f64 = 0.05;

/// Scores the peers that have a value; the others keep `None`.
fn score_peers(
    lines: &mut [ApproverLine],
    peers: &[usize],
    value: impl Fn(&ApproverLine) -> Option<f64>,
    min_spread: impl Fn(f64) -> f64,
    set: impl Fn(&mut ApproverLine, Option<f64>),
) {
    let valued: Vec<(usize, f64)> =
        peers.iter().filter_map(|index| value(&lines[*index]).map(|v| (*index, v))).collect();
    let values: Vec<f64> = valued.iter().map(|(_, value)| *value).collect();
    for ((index, _), z) in valued.iter().zip(leave_one_out_z(&values, min_spread)) {
        set(&mut lines[*index], z);
    }
}

fn approver_flags(line: &ApproverLine, settings: &MetricsSettings) -> Vec<String> {
    let limit = settings.outlier_z;
    let mut flags = Vec::new();
    if line.z_approval_rate.is_some_and(|z| z.abs() >= limit) {
        flags.push(format!(
            "approval rate {:.0}% stands out from peers (z {:+.1})",
            line.approval_rate.unwrap_or(0.0) * 100.0,
            line.z_approval_rate.unwrap_or(0.0)
        ));
    }
    if line.z_mean_approved.is_some_and(|z| z >= limit) {
        flags.push(format!("approves larger amounts than peers (z {:+.1})", line.z_mean_approved.unwrap_or(0.0)));
    }
    if line.z_fast_share.is_some_and(|z| z >= limit) {
        flags.push(format!(
            "{:.0}% of approvals within {} s (z {:+.1})",
            line.fast_share.unwrap_or(0.0) * 100.0,
            settings.fast_approval_seconds,
            line.z_fast_share.unwrap_or(0.0)
        ));
    }
    flags
}

fn team_lines(teams: &BTreeMap<String, Slice>, settings: &MetricsSettings) -> Vec<TeamLine> {
    let mut lines: Vec<TeamLine> = teams
        .iter()
        .filter(|(team, slice)| team.as_str() != super::derive::UNMATCHED && slice.cases > 0)
        .map(|(team, slice)| {
            let requesters = slice.requesters.len() as u64;
            TeamLine {
                team: team.clone(),
                cases: slice.cases,
                requesters,
                cases_per_requester: ratio(slice.cases, requesters),
                z: None,
                flagged: false,
            }
        })
        .collect();
    let values: Vec<f64> = lines.iter().map(|line| line.cases_per_requester.unwrap_or(0.0)).collect();
    for (line, z) in lines.iter_mut().zip(leave_one_out_z(&values, |mean| 0.05 * mean.abs())) {
        line.z = z;
        line.flagged = z.is_some_and(|z| z >= settings.outlier_z);
    }
    lines
}

pub fn outliers(
    scope: &Scope,
    loaded: &Loaded,
    repeats: &super::fold::Repeats,
    settings: &MetricsSettings,
) -> OutlierReport {
    outliers_of(scope, &loaded.total(), &loaded.by_team(), repeats, settings)
}

/// The outliers of slices already summed: over the scope (`total`) and per team.
pub fn outliers_of(
    scope: &Scope,
    total: &Slice,
    by_team: &BTreeMap<String, Slice>,
    repeats: &super::fold::Repeats,
    settings: &MetricsSettings,
) -> OutlierReport {
    let main = main_currency(total);
    let mut repeat_lines: Vec<RepeatLine> = repeats
        .pairs
        .values()
        .filter(|repeat| repeat.count >= settings.repeat_code_threshold)
        .filter(|repeat| scope.team.as_ref().is_none_or(|team| *team == repeat.team))
        .map(|repeat| RepeatLine {
            customer: repeat.customer.clone(),
            code: repeat.code.clone(),
            count: repeat.count,
            team: repeat.team.clone(),
        })
        .collect();
    repeat_lines.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.customer.cmp(&b.customer)));
    OutlierReport {
        scope: scope.clone(),
        method: "leave-one-out z-score (population standard deviation) against peers at the same approver level; \
                 teams by cases per requester against the other teams"
            .to_owned(),
        fast_approval_seconds: settings.fast_approval_seconds,
        outlier_z: settings.outlier_z,
        approvers: approver_lines(total, main.as_deref(), settings),
        teams: team_lines(by_team, settings),
        main_currency: main,
        repeats: repeat_lines,
    }
}

// ---------------------------------------------------------------------------------------
// Drift

/// How many weeks before each week make its reference for drift.
pub const DRIFT_REFERENCE_WEEKS: usize = 4;

/// One week against the weeks before it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DriftWeek {
    pub week: String,
    pub cases: u64,
    /// Cases in the reference: the up to four weeks before.
    pub reference_cases: u64,
    /// PSI of this week's code mix against the reference's.
    pub code_mix_psi: Option<f64>,
    /// The PSI chance alone gives samples this size; a shift is flagged above the limit plus this.
    pub psi_noise_floor: Option<f64>,
    /// Approved / (approved + rejected) by people this week.
    pub approval_rate: Option<f64>,
    pub p50_cycle_seconds: Option<u64>,
    /// What moved past its limit, in words.
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DriftReport {
    pub scope: Scope,
    /// How each week is judged.
    pub method: String,
    pub psi_limit: f64,
    pub approval_rate_points_limit: f64,
    pub cycle_time_change_limit: f64,
    pub weeks: Vec<DriftWeek>,
    /// The last complete week.
    pub latest: Option<DriftWeek>,
}

/// Cases submitted per code (codes with only decisions or escalations in the week are left
/// out: they are not part of its mix).
/// Each week's slices reduced to what drift and the weekly cycle time read (cases per code, outcomes, the overall cycle
/// time) and summed across teams: a fraction of the work of summing whole slices.
fn drift_digests(slices: &Slices) -> BTreeMap<String, Slice> {
    let digest = |slice: &Slice| Slice {
        cases: slice.cases,
        by_code: slice
            .by_code
            .iter()
            .filter(|(_, figures)| figures.cases > 0)
            .map(|(code, figures)| {
                (code.clone(), super::slice::CodeFigures { cases: figures.cases, ..Default::default() })
            })
            .collect(),
        outcomes: slice.outcomes.clone(),
        cycle: slice.cycle.get("all").map(|all| ("all".to_owned(), all.clone())).into_iter().collect(),
        ..Slice::default()
    };
    slices
        .iter()
        .map(|(week, teams)| {
            let mut total = Slice::default();
            teams.values().for_each(|slice| total.add(&digest(slice)));
            (week.clone(), total)
        })
        .collect()
}

fn code_mix(slice: &Slice) -> BTreeMap<String, u64> {
    slice.by_code.iter().filter(|(_, figures)| figures.cases > 0).map(|(code, f)| (code.clone(), f.cases)).collect()
}

fn approval_rate(slice: &Slice) -> Option<f64> {
    ratio(slice.outcomes.approved, slice.outcomes.approved + slice.outcomes.rejected)
}

fn mix_flag(line: &mut DriftWeek, now: &Slice, reference: &Slice, settings: &MetricsSettings) {
    let (now_mix, reference_mix) = (code_mix(now), code_mix(reference));
    let categories = now_mix.keys().chain(reference_mix.keys()).collect::<BTreeSet<_>>().len();
    line.code_mix_psi = population_stability_index(&reference_mix, &now_mix);
    line.psi_noise_floor = psi_noise_floor(categories, reference.cases, now.cases);
    if let (Some(psi), Some(noise)) = (line.code_mix_psi, line.psi_noise_floor) {
        let threshold = settings.drift_psi_limit + noise;
        if psi > threshold {
            line.flags.push(format!("code mix shifted: PSI {psi:.2} over {threshold:.2} (limit plus chance)"));
        }
    }
}

fn rate_flags(line: &mut DriftWeek, reference: &Slice, settings: &MetricsSettings) {
    if let (Some(now), Some(then)) = (line.approval_rate, approval_rate(reference)) {
        let points = (now - then) * 100.0;
        if points.abs() > settings.drift_approval_rate_points {
            line.flags.push(format!(
                "approval rate moved {points:+.0} points ({:.0}% → {:.0}%)",
                then * 100.0,
                now * 100.0
            ));
        }
    }
    let then_p50 = reference.cycle.get("all").and_then(|histogram| histogram.percentile(0.5));
    if let (Some(now), Some(then)) = (line.p50_cycle_seconds, then_p50.filter(|then| *then > 0)) {
        let change = now as f64 / then as f64 - 1.0;
        if change.abs() > settings.drift_cycle_time_change {
            line.flags.push(format!("median cycle time moved {:+.0}% ({then} s → {now} s)", change * 100.0));
        }
    }
}

fn drift_week(week: &str, slice: &Slice, reference: &Slice, settings: &MetricsSettings) -> DriftWeek {
    let mut line = DriftWeek {
        week: week.to_owned(),
        cases: slice.cases,
        reference_cases: reference.cases,
        code_mix_psi: None,
        psi_noise_floor: None,
        approval_rate: approval_rate(slice),
        p50_cycle_seconds: slice.cycle.get("all").and_then(|histogram| histogram.percentile(0.5)),
        flags: Vec::new(),
    };
    mix_flag(&mut line, slice, reference, settings);
    rate_flags(&mut line, reference, settings);
    line
}

/// Drift week by week, each against the four weeks before it; `current_week` (still
/// running) is left out of `latest`.
pub fn drift(scope: &Scope, loaded: &Loaded, settings: &MetricsSettings, current_week: &str) -> DriftReport {
    let earlier = drift_digests(&loaded.reference_weeks);
    let weeks = drift_digests(&loaded.weeks);
    let all: Vec<(&String, &Slice)> =
        earlier.iter().chain(weeks.iter().filter(|(week, _)| !earlier.contains_key(*week))).collect();
    let mut lines = Vec::new();
    for (index, (week, slice)) in all.iter().enumerate() {
        if earlier.contains_key(*week) {
            continue;
        }
        let reference = sum(all[index.saturating_sub(DRIFT_REFERENCE_WEEKS)..index].iter().map(|(_, slice)| *slice));
        lines.push(drift_week(week, slice, &reference, settings));
    }
    let latest =
        lines.iter().rev().find(|line| line.week.as_str() < current_week && line.code_mix_psi.is_some()).cloned();
    DriftReport {
        scope: scope.clone(),
        method: "each ISO week (UTC) against the four weeks before it: population stability index (PSI) of the \
                 exception-code mix with half a case added to every count, flagged above the limit plus the PSI \
                 chance gives samples that size ((codes − 1)·(1/n₁ + 1/n₂)); approval rate in percentage points; \
                 median cycle time as a relative change"
            .to_owned(),
        psi_limit: settings.drift_psi_limit,
        approval_rate_points_limit: settings.drift_approval_rate_points,
        cycle_time_change_limit: settings.drift_cycle_time_change,
        weeks: lines,
        latest,
    }
}

/// The cause names in a stable order, for charts and tables.
pub fn cause_names() -> Vec<&'static str> {
    LeakCause::ALL.iter().map(|cause| cause.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_whole_months() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let scope = Scope::parse(None, None, None, today).unwrap();
        assert_eq!(scope.from, NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
        assert_eq!(scope.to, NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        assert_eq!(scope.months().len(), 6);
        let february = Scope::parse(Some("2026-02"), Some("2026-02"), None, today).unwrap();
        assert_eq!(february.to, NaiveDate::from_ymd_opt(2026, 2, 28).unwrap());
        // 2026-02-01 is a Sunday: its week (W05) starts in January.
        assert_eq!(february.weeks().first().map(String::as_str), Some("2026-W05"));
        assert_eq!(february.weeks().last().map(String::as_str), Some("2026-W09"));
        let error = Scope::parse(Some("2026-13"), None, None, today).unwrap_err();
        assert_eq!(error.field, "from");
        assert!(Scope::parse(Some("2026-10"), Some("2026-09"), None, today).is_err());
    }
}
