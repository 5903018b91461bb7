//! The evidence ledger's entries: what each records, how it is hashed, and how a chain of them
//! is checked. Storage and appending live in `ledger_store`.
//!
//! Each entry's hash is SHA-256 over the canonical JSON of every other field (object keys
//! sorted, no insignificant white space, integers only), and each names the hash of the entry
//! before it, so altering, removing or reordering any entry breaks the chain from there on.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::digest::{canonical_json, sha256_hex, sha256_of_canonical, sha256_of_json};
use crate::engine::PolicyIdentity;
use crate::identity::{AuthoritySnapshot, Role};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "case.submitted")]
    CaseSubmitted,
    #[serde(rename = "case.evidence_attached")]
    EvidenceAttached,
    /// One approval of several.
    #[serde(rename = "case.approval_recorded")]
    ApprovalRecorded,
    #[serde(rename = "case.approved")]
    CaseApproved,
    #[serde(rename = "case.rejected")]
    CaseRejected,
    #[serde(rename = "case.cancelled")]
    CaseCancelled,
    /// A message to the customer drafted (or redrafted).
    #[serde(rename = "case.comms_drafted")]
    CommsDrafted,
    /// The message approved (and linked as evidence) or sent back.
    #[serde(rename = "case.comms_reviewed")]
    CommsReviewed,
    /// Past its SLA while waiting: one approver level up.
    #[serde(rename = "case.escalated")]
    CaseEscalated,
    #[serde(rename = "policy.uploaded")]
    PolicyUploaded,
    /// A chain proposed by one admin, with its backtest; it waits for a second admin.
    #[serde(rename = "policy.chain_proposed")]
    PolicyChainProposed,
    /// A proposed chain rejected (or withdrawn by its proposer): it never takes effect.
    #[serde(rename = "policy.proposal_rejected")]
    PolicyProposalRejected,
    /// A chain activated (a proposal a second admin approved), or an earlier one restored (a
    /// rollback, flagged until a second admin confirms it).
    #[serde(rename = "policy.chain_activated")]
    PolicyChainActivated,
    /// A second admin confirmed a rollback one admin made.
    #[serde(rename = "policy.rollback_confirmed")]
    PolicyRollbackConfirmed,
    #[serde(rename = "policy.shadow_started")]
    PolicyShadowStarted,
    #[serde(rename = "policy.shadow_stopped")]
    PolicyShadowStopped,
    #[serde(rename = "remediation.opened")]
    RemediationOpened,
    #[serde(rename = "remediation.started")]
    RemediationStarted,
    #[serde(rename = "remediation.fix_submitted")]
    RemediationFixSubmitted,
    #[serde(rename = "remediation.verified")]
    RemediationVerified,
    #[serde(rename = "remediation.reopened")]
    RemediationReopened,
    /// Past its SLA with no fix: escalated to the owner team's manager.
    #[serde(rename = "remediation.escalated")]
    RemediationEscalated,
    /// An executed refund reported by a payment tool, with what was found about it.
    #[serde(rename = "execution.recorded")]
    ExecutionRecorded,
    /// An execution matched again (a late approval resolved a silent finding).
    #[serde(rename = "execution.rematched")]
    ExecutionRematched,
    /// A helpdesk delivery that did not make a valid case.
    #[serde(rename = "intake.rejected")]
    IntakeRejected,
    #[serde(rename = "delegation.granted")]
    DelegationGranted,
    #[serde(rename = "delegation.revoked")]
    DelegationRevoked,
    /// A change of approval groups, floors or a code's routing, proposed by one admin.
    #[serde(rename = "control.proposed")]
    ControlProposed,
    /// A control proposal a second admin approved: in force on every host.
    #[serde(rename = "control.approved")]
    ControlApproved,
    /// A control proposal rejected, or withdrawn by its proposer.
    #[serde(rename = "control.rejected")]
    ControlRejected,
    /// A code added, changed, deprecated or merged.
    #[serde(rename = "taxonomy.changed")]
    TaxonomyChanged,
    /// A team's baseline weeks marked, for metrics to compare against.
    #[serde(rename = "baseline.set")]
    BaselineSet,
}

/// One entry of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntry {
    /// 1, 2, 3, … with no gaps.
    pub seq: u64,
    /// What the entry is about: a case id, or `policy-registry`.
    pub subject: String,
    pub event: EventType,
    pub actor: String,
    pub role: Role,
    /// The authority the actor held at that moment and where it came from (approvals).
    pub authority: Option<AuthoritySnapshot>,
    pub at: DateTime<Utc>,
    /// Event details: rationale, evidence references, decision.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// The rule plugins in force: name, version, digest.
    pub policies: Vec<PolicyIdentity>,
    pub matrix_version: String,
    pub taxonomy_version: String,
    /// SHA-256 of the facts the policies saw (submissions).
    pub facts_hash: Option<String>,
    /// The subject version this entry produced.
    pub subject_version: u64,
    /// SHA-256 of the subject as it stood after this entry.
    pub state_hash: String,
    pub prev_hash: String,
    pub hash: String,
}

impl LedgerEntry {
    /// The hash this entry should carry: over every field but `hash`.
    pub fn compute_hash(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(object) = value.as_object_mut() {
            object.remove("hash");
        }
        sha256_of_canonical(&value)
    }
}

/// The first place a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Mismatch {
    pub seq: u64,
    /// The subject of the entry (a case id), where known.
    pub subject: Option<String>,
    pub problem: String,
}

/// The outcome of recomputing the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    pub entries_checked: u64,
    pub head_seq: u64,
    pub head_hash: String,
    pub first_mismatch: Option<Mismatch>,
}

/// Checks entries in sequence order, one at a time.
#[derive(Debug)]
pub struct ChainChecker {
    expected_seq: u64,
    prev_hash: String,
}

impl Default for ChainChecker {
    fn default() -> Self {
        ChainChecker { expected_seq: 1, prev_hash: GENESIS_HASH.to_owned() }
    }
}

impl ChainChecker {
    /// A checker that starts after entry `seq`, whose hash is `hash` (to check one entry of a
    /// subject against the entry stored just before it).
    pub fn after(seq: u64, hash: &str) -> Self {
        ChainChecker { expected_seq: seq + 1, prev_hash: hash.to_owned() }
    }

    /// Checks the next entry: its place, its link to the one before, and its own hash.
    pub fn check(&mut self, entry: &LedgerEntry) -> Result<(), Mismatch> {
        let mismatch =
            |problem: String| Mismatch { seq: self.expected_seq, subject: Some(entry.subject.clone()), problem };
        if entry.seq != self.expected_seq {
            return Err(mismatch(format!("entry stored at {} says it is entry {}", self.expected_seq, entry.seq)));
        }
        if entry.prev_hash != self.prev_hash {
            return Err(mismatch(format!(
                "prev_hash {} does not match the hash {} of entry {}",
                entry.prev_hash,
                self.prev_hash,
                self.expected_seq - 1
            )));
        }
        let recomputed = entry.compute_hash();
        if recomputed != entry.hash {
            return Err(mismatch(format!("stored hash {} but its content hashes to {recomputed}", entry.hash)));
        }
        self.expected_seq += 1;
        self.prev_hash = entry.hash.clone();
        Ok(())
    }

    pub fn checked(&self) -> u64 {
        self.expected_seq - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let value = serde_json::json!({"b": 1, "a": {"d": [true, null], "c": "x"}});
        assert_eq!(canonical_json(&value), r#"{"a":{"c":"x","d":[true,null]},"b":1}"#);
    }
}
