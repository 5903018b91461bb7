//! The policy-engine port: evaluates the chain of rule plugins on a case's facts, each in its
//! own sandbox, and reports every policy's decision or failure with the fuel and time it used.
//! Combining the decisions is the core's job (see `decision`), not the engine's.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::digest::sha256_of_json;
use crate::evidence::EvidenceKind;
use crate::identity::ApproverLevel;
use crate::kind::CaseKind;
use crate::money::Money;

/// Everything a policy may know about a case. Mirrors `facts` in the WIT contract; its hash
/// is recorded in the ledger so a decision can be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub case_id: String,
    pub kind: CaseKind,
    pub amount: Money,
    pub exception_code: String,
    pub code_category: String,
    pub escalate_always: bool,
    pub customer_comms_required: bool,
    pub requester_role: String,
    pub requester_team: String,
    pub channel: String,
    /// Refunds granted to the customer in the 90 days before this case, and their total in
    /// this case's currency.
    pub refunds_90d: u32,
    pub refunded_90d_minor_units: i64,
    /// Refunds granted on the order the case names, over the same window; none when it names
    /// no order. Absent from the facts of cases submitted before levee kept order history, so
    /// their recorded digests still match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_refunds: Option<RefundsGranted>,
    pub evidence_present: Vec<EvidenceKind>,
    pub attributes: BTreeMap<String, String>,
    pub submitted_at: DateTime<Utc>,
}

/// Refunds granted before a case over the history window: how many, and their total in the
/// case's currency (refunds in another currency count in `refunds`, not in the total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundsGranted {
    pub refunds: u32,
    pub refunded_minor_units: i64,
}

impl Facts {
    /// The days before a case that its history covers.
    pub const HISTORY_WINDOW_DAYS: u32 = 90;

    /// SHA-256 of the canonical JSON of the facts.
    pub fn digest(&self) -> String {
        sha256_of_json(self)
    }
}

/// A policy as the ledger names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyIdentity {
    pub name: String,
    pub version: String,
    /// SHA-256 of the component's bytes, lowercase hex.
    pub digest: String,
}

/// Where a case is worked, as a policy advises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Route {
    pub queue: String,
    pub team: String,
    pub sla_minutes: u32,
}

/// One policy's verdict. Mirrors `outcome` in the WIT contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PolicyOutcome {
    AutoApprove,
    RequireApproval { level: ApproverLevel, approvals_needed: u8, sla_minutes: Option<u32>, reason: String },
    Reject { reason: String },
}

/// One policy's decision. Mirrors `decision` in the WIT contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDecision {
    pub outcome: PolicyOutcome,
    pub required_evidence: Vec<EvidenceKind>,
    pub route: Option<Route>,
    pub signals: Vec<String>,
    pub rule_id: String,
}

/// Why a policy gave no usable decision. Every one of these fails closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PolicyFailure {
    #[error("trapped: {message}")]
    Trap { message: String },
    #[error("ran out of fuel (limit {limit})")]
    FuelExhausted { limit: u64 },
    #[error("exceeded its deadline of {limit_ms} ms")]
    DeadlineExceeded { limit_ms: u64 },
    #[error("exceeded its memory cap of {limit_bytes} bytes")]
    MemoryLimit { limit_bytes: u64 },
    #[error("returned a malformed decision: {message}")]
    Malformed { message: String },
    #[error("returned an error ({kind}): {message}")]
    PolicyError { kind: String, message: String },
    #[error("could not be run: {message}")]
    Unavailable { message: String },
}

/// The result of running one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyEvaluation {
    pub policy: PolicyIdentity,
    pub result: Result<PolicyDecision, PolicyFailure>,
    pub fuel_used: u64,
    pub elapsed_micros: u64,
    /// The most linear memory the instance held, in bytes.
    pub peak_memory_bytes: u64,
}

/// Per-plugin sandbox limits; `None` takes the engine's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyLimits {
    pub fuel: Option<u64>,
    pub deadline_ms: Option<u64>,
    pub memory_bytes: Option<u64>,
}

/// A plugin of a chain as the engine is asked to load it.
#[derive(Debug, Clone)]
pub struct ChainPlugin {
    pub name: String,
    /// The component; `None` for a built-in, found by `name`.
    pub bytes: Option<Vec<u8>>,
    pub params: serde_json::Value,
    pub limits: PolicyLimits,
}

/// Why a host cannot load a chain: the link at fault (its place in the chain), if one is, the
/// field of that link at fault (`fuel`, `deadline_ms`, `memory_bytes`, `params`), if one is, and
/// the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRefusal {
    pub link: Option<usize>,
    pub field: Option<&'static str>,
    pub reason: String,
}

impl ChainRefusal {
    /// A refusal of link `index` as a whole.
    pub fn of_link(index: usize, reason: impl Into<String>) -> Self {
        ChainRefusal { link: Some(index), field: None, reason: reason.into() }
    }

    /// A refusal of the chain as a whole.
    pub fn of_chain(reason: impl Into<String>) -> Self {
        ChainRefusal { link: None, field: None, reason: reason.into() }
    }

    /// Where the refusal points, as a request field: `links[2].fuel`, `links[0]` or `links`.
    pub fn request_field(&self) -> String {
        match (self.link, self.field) {
            (Some(index), Some(field)) => format!("links[{index}].{field}"),
            (Some(index), None) => format!("links[{index}]"),
            (None, _) => "links".to_owned(),
        }
    }
}

/// Which chain an engine has loaded: the registry's chain number (0: the chain from the
/// configuration) and the taxonomy revision its default parameters were made from (0: the
/// taxonomy from the configuration). A change of either reloads the chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainKey {
    pub chain: u64,
    pub taxonomy: u64,
}

/// What a plugin says of itself (`describe()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    /// The JSON Schema its params must satisfy, as text.
    pub params_schema: String,
}

/// Runs the active chain of rule plugins.
pub trait PolicyEngine: Send + Sync {
    /// The active chain, in evaluation order.
    fn chain(&self) -> Vec<PolicyIdentity>;

    /// Evaluates every policy of the chain on `facts`, each in a fresh sandbox. Never fails as
    /// a whole: a policy that cannot run reports a `PolicyFailure`.
    fn evaluate(&self, facts: &Facts) -> Vec<PolicyEvaluation>;

    /// Whether this engine can load uploaded plugins at run time; if not, why and what to do
    /// instead (on Spin, plugins are component dependencies fixed at deploy time).
    fn accepts_uploads(&self) -> Result<(), String> {
        Ok(())
    }

    /// Checks a plugin as an upload (what it is, what it imports and exports, that
    /// `describe()` answers within limits): what it says of itself, or why it is refused.
    fn inspect(&self, bytes: &[u8]) -> Result<PluginInfo, String>;

    /// Whether `name` is a built-in plugin.
    fn is_builtin(&self, name: &str) -> bool;

    /// Whether this host can load `chain` under its limits, without switching to it: asked
    /// before an activation is recorded, so that the ledger never names a chain the host
    /// would not run. On success, what each plugin says of itself, in chain order (the core
    /// checks each link's params against its schema).
    fn check_chain(&self, chain: Vec<ChainPlugin>) -> Result<Vec<PluginInfo>, ChainRefusal>;

    /// Loads `chain` and switches to it as `key`; evaluations in flight finish on the chain
    /// they started with. On error the current chain stays.
    fn load_chain(&self, chain: Vec<ChainPlugin>, key: ChainKey) -> Result<(), String>;

    /// Which chain is loaded.
    fn loaded_chain(&self) -> ChainKey;

    /// Loads (or with `None`, drops) the shadow chain `key.chain`, run beside the active one.
    fn load_shadow(&self, chain: Option<Vec<ChainPlugin>>, key: ChainKey) -> Result<(), String>;

    /// Which shadow chain is loaded (chain 0: none).
    fn loaded_shadow(&self) -> ChainKey;

    /// Evaluates the shadow chain, if one is loaded.
    fn evaluate_shadow(&self, facts: &Facts) -> Option<Vec<PolicyEvaluation>>;

    /// Evaluates a candidate chain on many cases' facts without making it active (backtests).
    fn evaluate_candidate(
        &self,
        chain: Vec<ChainPlugin>,
        facts: &[Facts],
    ) -> Result<Vec<Vec<PolicyEvaluation>>, String>;
}

/// What a host that runs each plugin out of process (levee on Spin: one component per plugin,
/// called through Spin's local service chaining) sends a plugin's runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteEvaluation {
    pub facts: Facts,
    /// The plugin's parameters; `None`: the runner's own (a plugin levee does not parameterize).
    pub params: Option<serde_json::Value>,
    /// What the runner last said of its plugin's file, if the host kept it: a runner whose file
    /// still has that fingerprint names the plugin by that digest without hashing it again.
    #[serde(default)]
    pub known: Option<FileDigest>,
}

/// What a plugin's runner answers: who decided (the digest is of the plugin's bytes) and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteDecision {
    pub policy: PolicyIdentity,
    pub result: Result<PolicyDecision, PolicyFailure>,
    /// The file the digest was taken of, for the host to keep and send back (`known`).
    #[serde(default)]
    pub file: Option<FileDigest>,
}

/// A plugin file's SHA-256 and the file's fingerprint when it was taken (its size, modification
/// time and the host's hash of its device and inode), as git's index keeps a file's hash beside
/// its `stat`: while the fingerprint is unchanged the file is taken to be unchanged, and its
/// digest is not computed again. A redeployment gives the file a new fingerprint (Spin copies an
/// application's files anew for every `spin up`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub fingerprint: String,
    pub digest: String,
}
