//! The policy registry: every rule plugin uploaded (stored by sha256 digest), the chains
//! proposed and waiting for a second admin, and every chain ever activated, in order. It is a
//! ledger subject like a case: each upload, proposal, approval, rejection, rollback and
//! confirmation is a ledger entry, and the active chain is the last one activated.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::backtest::BacktestReport;
use crate::proposal::Signoff;
use crate::validation::optional_whole_number;

/// The registry's id as a ledger subject.
pub const REGISTRY_SUBJECT: &str = "policy-registry";

/// A plugin version as uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UploadedPolicy {
    /// The name it is uploaded under (what chains refer to).
    pub name: String,
    /// The version its `describe()` gives.
    pub version: String,
    pub digest: String,
    pub size_bytes: u64,
    pub description: String,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
}

/// One policy of a chain: a built-in by name (no digest), or an uploaded version by digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainLink {
    pub name: String,
    /// An uploaded version (its sha256, lowercase hex); absent for the built-ins (`threshold`,
    /// `routing`).
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub digest: Option<String>,
    /// Parameters; the built-ins default to the approval matrix and the taxonomy.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// The sandbox's limits for this policy; absent: the engine's defaults.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub fuel: Option<u64>,
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub deadline_ms: Option<u64>,
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub memory_bytes: Option<u64>,
}

/// A chain as activated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ActivatedChain {
    /// 1, 2, 3, … in activation order.
    pub number: u64,
    /// In evaluation order. Empty only for a rollback to the chain from the configuration
    /// (`restores: 0`).
    pub links: Vec<ChainLink>,
    pub activated_by: String,
    pub activated_at: DateTime<Utc>,
    pub rationale: String,
    /// For a rollback, the earlier chain it restores.
    pub restores: Option<u64>,
    /// The proposal this chain carried out, with the second admin who approved it; none for
    /// a rollback, and for chains activated before levee asked for four eyes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ChainApproval>,
    /// For a rollback: the second admin who confirmed it. Until then it is flagged
    /// (`PolicyRegistry::unconfirmed_rollbacks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<Signoff>,
}

impl ActivatedChain {
    /// A rollback one admin made and no second admin has confirmed yet.
    pub fn awaits_confirmation(&self) -> bool {
        self.restores.is_some() && self.confirmed.is_none()
    }
}

/// How an activated chain was agreed: the proposal, who proposed it, who approved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChainApproval {
    pub proposal: u64,
    pub proposed: Signoff,
    pub approved: Signoff,
}

/// A chain one admin proposed, waiting for a second admin to approve or reject it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChainProposal {
    /// 1, 2, 3, … in the order proposed.
    pub number: u64,
    pub links: Vec<ChainLink>,
    pub proposed: Signoff,
    /// The chain active when it was proposed, the one its backtest compares against (0: the
    /// chain from the configuration). Once another chain is active it cannot be approved.
    pub active_chain: u64,
    /// The last 30 days' cases replayed through it: outcomes that change, amounts
    /// auto-approved, workload by approver level.
    pub backtest: BacktestReport,
}

/// A candidate chain running beside the active one on live cases, without affecting them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShadowChain {
    /// 1, 2, 3, … each time a shadow is started.
    pub number: u64,
    pub links: Vec<ChainLink>,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub rationale: String,
}

/// Every upload and every activated chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyRegistry {
    pub version: u64,
    pub ledger_seqs: Vec<u64>,
    pub uploads: BTreeMap<String, UploadedPolicy>,
    /// Oldest first; the last is active. Empty: the chain from the configuration is active.
    pub chains: Vec<ActivatedChain>,
    /// The chain running in shadow, if any.
    #[serde(default)]
    pub shadow: Option<ShadowChain>,
    /// How many shadows have been started.
    #[serde(default)]
    pub shadows_started: u64,
    /// Chains proposed and waiting for a second admin, oldest first. An approved or rejected
    /// proposal leaves this list; its ledger entries keep it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposals: Vec<ChainProposal>,
    /// How many chains have been proposed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub proposals_made: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

impl PolicyRegistry {
    pub fn active(&self) -> Option<&ActivatedChain> {
        self.chains.last()
    }

    /// The number of the active chain (0: the chain from the configuration).
    pub fn active_number(&self) -> u64 {
        self.active().map_or(0, |chain| chain.number)
    }

    /// Rollbacks one admin made that no second admin has confirmed: flagged until they are.
    pub fn unconfirmed_rollbacks(&self) -> impl Iterator<Item = &ActivatedChain> {
        self.chains.iter().filter(|chain| chain.awaits_confirmation())
    }
}
