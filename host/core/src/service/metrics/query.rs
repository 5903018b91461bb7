//! Metrics queries as a service: reading the aggregates for a scope.

use crate::metrics::fold::{PeriodKind, TEAMS_KEY, Teams, slice_key};
use crate::metrics::query::{FOLD_ON_READ, Loaded, Scope, Slices};
use crate::projections::read;
use crate::service::{Metrics, ServiceError};
use std::collections::{BTreeMap, BTreeSet};

impl Metrics<'_> {
    /// Folds what is left, then loads the slices of `scope`.
    pub fn load(&self, scope: &Scope) -> Result<Loaded, ServiceError> {
        self.fold(FOLD_ON_READ)?;
        self.read_scope(scope)
    }

    /// The slices of `scope` as they stand, without folding first.
    pub fn read_scope(&self, scope: &Scope) -> Result<Loaded, ServiceError> {
        let teams = self.teams()?;
        let teams: Vec<String> = match &scope.team {
            Some(team) => teams.into_iter().filter(|known| known == team).collect(),
            None => teams.into_iter().collect(),
        };
        Ok(Loaded {
            months: self.read_slices(PeriodKind::Month, &scope.months(), &teams)?,
            weeks: self.read_slices(PeriodKind::Week, &scope.weeks(), &teams)?,
            reference_weeks: self.read_slices(PeriodKind::Week, &scope.reference_weeks(), &teams)?,
        })
    }

    /// Every team metrics have seen.
    pub fn teams(&self) -> Result<BTreeSet<String>, ServiceError> {
        Ok(read::<Teams>(&*self.levee.store, TEAMS_KEY)?.map(|(teams, _)| teams.teams).unwrap_or_default())
    }

    /// The slices of `teams` in `periods`, read in one batch.
    pub fn read_slices(&self, kind: PeriodKind, periods: &[String], teams: &[String]) -> Result<Slices, ServiceError> {
        let places: Vec<(&String, &String)> =
            periods.iter().flat_map(|period| teams.iter().map(move |team| (period, team))).collect();
        let keys: Vec<String> = places.iter().map(|(period, team)| slice_key(kind, period, team)).collect();
        let mut slices: Slices = periods.iter().map(|period| (period.clone(), BTreeMap::new())).collect();
        for ((key, (period, team)), bytes) in keys.iter().zip(&places).zip(self.levee.store.get_many(&keys)?) {
            let Some(bytes) = bytes else { continue };
            let slice = self.levee.slice_cache.decode(key, bytes)?;
            slices.entry((*period).clone()).or_default().insert((*team).clone(), slice);
        }
        Ok(slices)
    }
}
