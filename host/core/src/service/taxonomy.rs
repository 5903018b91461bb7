//! The taxonomy as a service: adding, changing, deprecating and merging exception codes.

use std::sync::Arc;

use crate::controls::{ControlProposal, code_alters};
use crate::identity::Principal;
use crate::ledger::EventType;
use crate::service::{Levee, ServiceError};
use crate::subject::Change;
use crate::taxonomy::{CodeLifecycle, ExceptionCode, Taxonomy};
use crate::taxonomy_changes::{
    CurrentTaxonomy, DeprecateRequest, MergeRequest, PutCodeRequest, TAXONOMY_SUBJECT, TaxonomyRecord,
    TaxonomyRevision, active_code,
};
use crate::validation::{FieldError, required_text};

/// What `put_code` did: the change made, or the proposal that waits for a second admin.
#[derive(Debug)]
pub enum CodeChange {
    Applied(CurrentTaxonomy),
    Proposed(Box<ControlProposal>),
}

/// Puts `code` in place of its namesake, or adds it; what changed, in a sentence.
pub(super) fn put(taxonomy: &mut Taxonomy, code: &ExceptionCode) -> String {
    match taxonomy.codes.iter_mut().find(|entry| entry.code == code.code) {
        Some(existing) if existing.lifecycle != CodeLifecycle::Active => {
            *existing = code.clone();
            format!("reinstated and changed {}", code.code)
        }
        Some(existing) => {
            *existing = code.clone();
            format!("changed {}", code.code)
        }
        None => {
            taxonomy.codes.push(code.clone());
            format!("added {}", code.code)
        }
    }
}

/// The taxonomy of exception codes: `levee.taxonomy()`.
pub struct TaxonomyAdmin<'a> {
    pub(super) levee: &'a Levee,
}

impl TaxonomyAdmin<'_> {
    /// The taxonomy in force. Every submission asks three times, so it is decoded (and checked
    /// against its ledger entry) once per record: while the stored record's bytes are the ones
    /// last decoded, the decoded taxonomy is shared (`Levee::cached_subject`). The record is
    /// still read every time, so a change made on another host is in force at once.
    pub fn current(&self) -> Result<CurrentTaxonomy, ServiceError> {
        let settings = &self.levee.settings;
        self.levee.cached_subject(TAXONOMY_SUBJECT, &self.levee.caches.taxonomy, |record: Option<TaxonomyRecord>| {
            match record {
                Some(record) => CurrentTaxonomy { revision: record.version, taxonomy: Arc::new(record.taxonomy) },
                None => CurrentTaxonomy { revision: 0, taxonomy: Arc::new(settings.taxonomy.clone()) },
            }
        })
    }

    /// Every revision, oldest first (none until the first change).
    pub fn revisions(&self) -> Result<Vec<TaxonomyRevision>, ServiceError> {
        self.levee.ledger_store().settle()?;
        Ok(self
            .levee
            .load_subject::<TaxonomyRecord>(TAXONOMY_SUBJECT)?
            .map(|record| record.revisions)
            .unwrap_or_default())
    }

    /// The taxonomy as it was at version `label`: the current one, the configuration's, or any
    /// revision, read back from the ledger entry that made it.
    pub fn version(&self, label: &str) -> Result<Taxonomy, ServiceError> {
        self.levee.ledger_store().settle()?;
        let Some(record) = self.levee.load_subject::<TaxonomyRecord>(TAXONOMY_SUBJECT)? else {
            return match label == self.levee.settings.taxonomy.version {
                true => Ok(self.levee.settings.taxonomy.clone()),
                false => Err(ServiceError::NotFound(format!("taxonomy version {label}"))),
            };
        };
        let entry_of = |index: usize, field: &str| -> Result<Taxonomy, ServiceError> {
            let seq = record.ledger_seqs.get(index).copied().unwrap_or_default();
            let entry = self.levee.ledger_store().entries(&[seq])?.pop();
            let taxonomy = entry.and_then(|entry| serde_json::from_value(entry.payload[field].clone()).ok());
            taxonomy.ok_or_else(|| ServiceError::Integrity(format!("ledger entry {seq} does not hold its taxonomy")))
        };
        if label == record.seed_version {
            return entry_of(0, "previous");
        }
        match record.revisions.iter().position(|revision| revision.taxonomy_version == label) {
            Some(index) => entry_of(index, "taxonomy"),
            None => Err(ServiceError::NotFound(format!("taxonomy version {label}"))),
        }
    }

    /// Adds or changes a code. A change of how its cases are routed or approved (a new code, or
    /// its queue, owning team, SLA or flags) is a proposal a second admin must approve
    /// (`Controls::approve`); a descriptive change is made at once.
    pub fn put_code(&self, actor: &Principal, request: &PutCodeRequest) -> Result<CodeChange, ServiceError> {
        let rationale = required_text("rationale", &request.rationale, 2_000)?;
        if request.code.lifecycle != CodeLifecycle::Active {
            let message = "set to active here; deprecate or merge a code through its own endpoint";
            return Err(FieldError::new("code.lifecycle", message).into());
        }
        let code =
            request.code.validate().map_err(|error| FieldError { field: format!("code.{}", error.field), ..error })?;
        let current = self.current()?;
        if request.expected_revision.is_some_and(|revision| revision != current.revision) {
            return Err(ServiceError::Conflict(format!(
                "{TAXONOMY_SUBJECT} is at version {}: re-read it and act again",
                current.revision
            )));
        }
        let before = current.taxonomy.codes.iter().find(|entry| entry.code == code.code).cloned();
        if !code_alters(before.as_ref(), &code).is_empty() {
            let proposal = self.levee.controls().propose_code(actor, code, before, rationale)?;
            return Ok(CodeChange::Proposed(Box::new(proposal)));
        }
        // Checked again against the taxonomy the change is made to: if the code's routing moved
        // since it was read (an approved proposal), this change would move it back alone.
        let changed = self.change(actor, rationale, request.expected_revision, None, |taxonomy| {
            let now = taxonomy.codes.iter().find(|entry| entry.code == code.code);
            if !code_alters(now, &code).is_empty() {
                let message =
                    format!("{} changed while this request was being applied: re-read it and act again", code.code);
                return Err(ServiceError::Conflict(message));
            }
            Ok(put(taxonomy, &code))
        })?;
        Ok(CodeChange::Applied(changed))
    }

    /// Carries out an approved control proposal's code change as a new revision naming it, once
    /// (a second attempt finds the revision), and only while the proposal still waits (checked
    /// in the same commit, so a rejection that lands first wins). Refused when the code changed
    /// after it was proposed.
    pub(super) fn apply_proposed_code(
        &self,
        approver: &Principal,
        proposal: u64,
        code: &ExceptionCode,
        before: Option<&ExceptionCode>,
        rationale: &str,
    ) -> Result<(), ServiceError> {
        self.change(approver, rationale.to_owned(), None, Some(proposal), |taxonomy| {
            self.levee.controls().still_waiting(proposal)?;
            if taxonomy.codes.iter().find(|entry| entry.code == code.code) != before {
                return Err(ServiceError::Conflict(format!(
                    "{} changed after control proposal {proposal} was made: reject it and propose the change again",
                    code.code
                )));
            }
            Ok(put(taxonomy, code))
        })?;
        Ok(())
    }

    /// The revision that carried out control proposal `proposal`, if one did.
    pub(super) fn revision_of_proposal(&self, proposal: u64) -> Result<Option<u64>, ServiceError> {
        let record = self.levee.load_subject::<TaxonomyRecord>(TAXONOMY_SUBJECT)?;
        let revisions = record.map(|record| record.revisions).unwrap_or_default();
        Ok(revisions.iter().position(|revision| revision.proposal == Some(proposal)).map(|index| index as u64 + 1))
    }

    /// Deprecates a code: no new cases under it; the cases filed under it keep it.
    pub fn deprecate_code(
        &self,
        actor: &Principal,
        code: &str,
        request: &DeprecateRequest,
    ) -> Result<CurrentTaxonomy, ServiceError> {
        let rationale = required_text("rationale", &request.rationale, 2_000)?;
        self.change(actor, rationale.clone(), request.expected_revision, None, |taxonomy| {
            let merged_in: Vec<String> = taxonomy
                .codes
                .iter()
                .filter(|entry| matches!(&entry.lifecycle, CodeLifecycle::Merged { into, .. } if into == code))
                .map(|entry| entry.code.clone())
                .collect();
            if !merged_in.is_empty() {
                let message = format!(
                    "{} merged into {code}; merge {code} into another code instead, so they point somewhere active",
                    merged_in.join(", ")
                );
                return Err(FieldError::new("code", message).into());
            }
            let entry = active_code(taxonomy, code, "code")?;
            entry.lifecycle = CodeLifecycle::Deprecated { reason: rationale.clone() };
            Ok(format!("deprecated {code}"))
        })
    }

    /// Merges a code into another: new cases go under `into`; codes merged into this one
    /// before now point at `into` too, so a merge is always one step.
    pub fn merge_code(
        &self,
        actor: &Principal,
        code: &str,
        request: &MergeRequest,
    ) -> Result<CurrentTaxonomy, ServiceError> {
        let rationale = required_text("rationale", &request.rationale, 2_000)?;
        let into = required_text("into", &request.into, 64)?;
        if into == code {
            return Err(FieldError::new("into", "a code cannot be merged into itself").into());
        }
        self.change(actor, rationale.clone(), request.expected_revision, None, |taxonomy| {
            active_code(taxonomy, &into, "into")?;
            let entry = active_code(taxonomy, code, "code")?;
            entry.lifecycle = CodeLifecycle::Merged { into: into.clone(), reason: rationale.clone() };
            for entry in &mut taxonomy.codes {
                if let CodeLifecycle::Merged { into: target, .. } = &mut entry.lifecycle
                    && target == code
                {
                    *target = into.clone();
                }
            }
            Ok(format!("merged {code} into {into}"))
        })
    }

    /// Commits one change of the taxonomy as a new revision (carrying out control proposal
    /// `proposal`, if given, once), then reloads the policies whose default parameters come
    /// from it. `apply` makes the change and says what changed, in a sentence.
    fn change<F>(
        &self,
        actor: &Principal,
        rationale: String,
        expected_revision: Option<u64>,
        proposal: Option<u64>,
        mut apply: F,
    ) -> Result<CurrentTaxonomy, ServiceError>
    where
        F: FnMut(&mut Taxonomy) -> Result<String, ServiceError>,
    {
        let seed = || TaxonomyRecord {
            version: 0,
            ledger_seqs: Vec::new(),
            seed_version: self.levee.settings.taxonomy.version.clone(),
            taxonomy: self.levee.settings.taxonomy.clone(),
            revisions: Vec::new(),
        };
        let record = self.levee.commit_subject(actor, TAXONOMY_SUBJECT, seed, expected_revision, |record, at| {
            if proposal.is_some() && record.revisions.iter().any(|revision| revision.proposal == proposal) {
                return Ok((record.clone(), None));
            }
            let mut next = record.clone();
            let summary = apply(&mut next.taxonomy)?;
            next.version += 1;
            next.taxonomy.version = format!("{}.r{}", next.seed_version, next.version);
            let revision = TaxonomyRevision {
                taxonomy_version: next.taxonomy.version.clone(),
                change: summary,
                by: actor.actor.clone(),
                at,
                rationale: rationale.clone(),
                proposal,
            };
            next.revisions.push(revision.clone());
            let payload = serde_json::json!({
                "revision": revision,
                "taxonomy": next.taxonomy,
                "previous_version": record.taxonomy.version,
                "previous": (record.version == 0).then_some(&record.taxonomy),
                "warnings": next.taxonomy.warnings(),
            });
            Ok((next.clone(), Some(Change::of(next, EventType::TaxonomyChanged, payload))))
        })?;
        self.levee.policies().sync()?;
        Ok(CurrentTaxonomy { revision: record.version, taxonomy: Arc::new(record.taxonomy) })
    }
}
