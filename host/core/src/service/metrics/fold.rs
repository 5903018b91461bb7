//! Folding as a service: bringing the metrics aggregates up to the ledger tip.

use crate::case::Case;
use crate::ledger_store::LedgerSlot;
use crate::metrics::derive::{self, DeriveContext};
use crate::metrics::fold::{
    Batch, CURSOR_KEY, Cursor, FOLD_BATCH, FoldReport, Submission, advance_cursor, previous_execution, write_repeats,
    write_slices, write_teams,
};
use crate::projections::{self, read};
use crate::reconcile::ExecutionRecord;
use crate::service::{Metrics, ServiceError};
use crate::store::StoreError;
use crate::subject::Subject;

impl Metrics<'_> {
    /// Folds up to `limit` ledger entries past the metrics cursor into the slices.
    pub fn fold(&self, limit: u64) -> Result<FoldReport, ServiceError> {
        let store = &*self.levee.store;
        let cursor = read::<Cursor>(store, CURSOR_KEY)?.map(|(cursor, _)| cursor.seq).unwrap_or(0);
        let tip = self.levee.ledger_store().settle()?.seq;
        let through = tip.min(cursor.saturating_add(limit));
        let mut folded = cursor;
        while folded < through {
            // Another host may have folded past us meanwhile: go on from where it got to.
            folded = folded.max(read::<Cursor>(store, CURSOR_KEY)?.map(|(cursor, _)| cursor.seq).unwrap_or(0));
            if folded >= through {
                break;
            }
            let end = through.min(folded + FOLD_BATCH);
            let slots = self.levee.ledger_store().slots(folded + 1, end)?;
            let Some(last) = slots.last().map(|slot| slot.entry.seq) else { break };
            self.fold_slots(&slots)?;
            advance_cursor(store, last)?;
            folded = last;
        }
        Ok(FoldReport { through: folded, entries: folded.saturating_sub(cursor), behind: tip.saturating_sub(folded) })
    }

    fn fold_slots(&self, slots: &[LedgerSlot]) -> Result<(), StoreError> {
        let store = &*self.levee.store;
        let case = |id: &str| Ok(read::<Case>(store, &projections::case_key(id))?.map(|(case, _)| case));
        let previous_execution = |record: &ExecutionRecord| previous_execution(&self.levee.ledger_store(), record);
        let context = DeriveContext {
            matrix: &self.levee.settings.matrix,
            settings: &self.levee.settings.metrics,
            case: &case,
            previous_execution: &previous_execution,
        };
        let mut batch = Batch::default();
        for slot in slots {
            for contribution in derive::contributions(&slot.entry, &slot.subject, &context)? {
                batch.add(slot.entry.seq, contribution);
            }
            if let (crate::ledger::EventType::CaseSubmitted, Subject::Case(case)) = (slot.entry.event, &slot.subject) {
                batch.submissions.push(Submission {
                    seq: slot.entry.seq,
                    customer: case.customer_ref.clone(),
                    code: case.exception_code.clone(),
                    team: case.team.clone(),
                    at: case.submitted_at,
                });
            }
        }
        write_slices(store, &batch.slices)?;
        write_teams(store, &batch.teams)?;
        write_repeats(store, &batch.submissions)
    }
}
