//! Scorecards as a service: red/amber/green per code and per team, from the projections.

use crate::remediation::{RemediationItem, WindowFigures};
use crate::scorecard::{SCORECARD_DAYS, Scorecards, card, empty};
use crate::service::{Remediation, ServiceError};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

impl Remediation<'_> {
    pub fn scorecards(&self) -> Result<Scorecards, ServiceError> {
        self.levee.ledger_store().settle()?;
        let now = self.levee.clock.now();
        let taxonomy = self.levee.taxonomy().current()?.taxonomy;
        let items = self.items()?;
        let mut codes = Vec::new();
        let mut teams: BTreeMap<String, Vec<(WindowFigures, Vec<&RemediationItem>)>> = BTreeMap::new();
        for code in &taxonomy.codes {
            let figures = self.code_window(&code.code, now)?;
            let current: Vec<&RemediationItem> = items.iter().filter(|item| item.code == code.code).take(1).collect();
            codes.push(card(&code.code, &figures, &current, now));
            teams.entry(code.owner.clone()).or_default().push((figures, current));
        }
        let teams = teams
            .into_iter()
            .map(|(team, codes)| {
                let mut figures = empty(now);
                codes.iter().for_each(|(code, _)| figures.counts.add(&code.counts));
                let items: Vec<&RemediationItem> = codes.iter().flat_map(|(_, items)| items.iter().copied()).collect();
                card(&team, &figures, &items, now)
            })
            .collect();
        Ok(Scorecards { window_days: SCORECARD_DAYS, as_of: now, codes, teams })
    }

    fn code_window(&self, code: &str, now: DateTime<Utc>) -> Result<WindowFigures, ServiceError> {
        let stats = crate::projections::read::<crate::projections::CodeStats>(
            &*self.levee.store,
            &crate::projections::code_stats_key(code),
        )?
        .map(|(stats, _)| stats)
        .unwrap_or_default();
        Ok(stats.window(now, SCORECARD_DAYS))
    }
}
