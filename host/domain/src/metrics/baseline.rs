//! Baselines: a team marks the weeks before its pilot, and every metric shows its change
//! against them. A ledger subject (`baselines`): each marking is an entry, and the history of
//! markings is kept for good; a team's latest marking is its baseline.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validation::FieldError;

pub const BASELINES_SUBJECT: &str = "baselines";
/// The whole organisation's baseline is kept under this team name.
pub const ALL_TEAMS: &str = "all";
/// The longest baseline, in weeks.
pub const MAX_BASELINE_WEEKS: i64 = 26;
const MAX_NAME: usize = 100;
const MAX_NOTE: usize = 1_000;

/// A team's baseline: whole ISO weeks, Monday `from` to Sunday `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Baseline {
    pub team: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub note: String,
    pub set_by: String,
    pub set_at: chrono::DateTime<Utc>,
}

/// Every baseline ever marked, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineBook {
    pub version: u64,
    pub ledger_seqs: Vec<u64>,
    pub history: Vec<Baseline>,
}

impl BaselineBook {
    /// Each team's latest baseline.
    pub fn current(&self) -> BTreeMap<String, Baseline> {
        self.history.iter().map(|baseline| (baseline.team.clone(), baseline.clone())).collect()
    }
}

/// `POST /v1/metrics/baselines`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BaselineRequest {
    /// A team, or `all` for the whole organisation.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub team: String,
    /// Any day of the first baseline week.
    pub from: NaiveDate,
    /// Any day of the last baseline week (before the current week).
    pub to: NaiveDate,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub note: String,
}

fn monday_of(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

impl BaselineRequest {
    /// The request as whole weeks, or the field at fault.
    pub fn weeks(&self, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), FieldError> {
        let from = monday_of(self.from);
        let to = monday_of(self.to) + Duration::days(6);
        if self.team.trim().is_empty() || self.team.chars().count() > MAX_NAME {
            let message = format!("name a team (up to {MAX_NAME} characters), or `all` for the whole organisation");
            return Err(FieldError::new("team", message));
        }
        if self.note.chars().count() > MAX_NOTE {
            return Err(FieldError::new("note", format!("at most {MAX_NOTE} characters")));
        }
        let years = super::MIN_YEAR..=super::MAX_YEAR;
        if !years.contains(&self.from.year()) || !years.contains(&self.to.year()) {
            return Err(FieldError::new("from", "a baseline lies between the years 2000 and 9998"));
        }
        if to < from {
            return Err(FieldError::new("to", "must not be before `from`"));
        }
        if to >= monday_of(today) {
            return Err(FieldError::new("to", "a baseline is made of past weeks: end it before the current week"));
        }
        if (to - from).num_days() + 1 > MAX_BASELINE_WEEKS * 7 {
            return Err(FieldError::new("to", format!("a baseline spans at most {MAX_BASELINE_WEEKS} weeks")));
        }
        Ok((from, to))
    }
}
