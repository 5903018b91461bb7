//! The levee service: every operation of the workflow, over the ports. `Levee` holds the ports,
//! the settings and the commit machinery; each capability is a small handle borrowed from it,
//! in a module of its own (`levee.cases()`, `levee.policies()`, `levee.schedule()`, …, listed
//! in the `impl Levee` below). Shells build one `Levee` and call it (through `api::handle`);
//! nothing here awaits or touches I/O directly.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::case::{self, Case, Transition, TransitionError};
use crate::clock::Clock;
use crate::engine::PolicyEngine;
use crate::identity::{Principal, TokenDirectory};
use crate::ledger_store::{EntryContext, LedgerSlot, LedgerStore};
use crate::matrix::ApprovalMatrix;
use crate::store::{Exclusive, Store, StoreError};
use crate::taxonomy::Taxonomy;
use crate::validation::FieldError;

mod attachments;
mod audit;
mod backtests;
mod cases;
mod chain_proposals;
mod controls;
mod delegations;
mod intake;
mod metrics;
mod outbox;
mod policies;
mod reconciliation;
mod remediation;
mod schedule;
mod scorecards;
mod subjects;
mod taxonomy;
mod timeline;

pub use attachments::Upload;
pub use audit::Audit;
pub use cases::Cases;
pub(crate) use cases::IDEMPOTENCY_KEY_FIELD;
pub use cases::{QueueEntry, Submitted};
pub use controls::{Controls, InForce};
pub use delegations::Delegations;
pub use intake::Intake;
pub use metrics::Metrics;
pub use outbox::Outbox;
pub use policies::{HostChain, Policies};
pub use reconciliation::Reconciliation;
pub use remediation::Remediation;
pub use schedule::Schedule;
pub use taxonomy::{CodeChange, TaxonomyAdmin};

/// How many times a commit retries after losing its ledger slot to another host before the
/// request is answered with 409.
const MAX_COMMIT_ATTEMPTS: usize = 64;

/// The configuration the workflow runs under.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The taxonomy to start from; once changed through the API, the ledger's is current.
    pub taxonomy: Taxonomy,
    pub matrix: ApprovalMatrix,
    pub tokens: TokenDirectory,
    /// The policy chain from the configuration (chain 0), which decides until a chain is
    /// activated. Plugins loaded from files are kept in the store by digest, like uploads.
    pub configured_chain: Vec<crate::registry::ChainLink>,
    /// N-of-M approval groups, at most one per level: in force until an approved control
    /// proposal sets them (`levee.controls().current()`).
    pub approval_groups: Vec<crate::identity::ApprovalGroup>,
    /// Each team's manager (an actor), to whom its overdue remediation items escalate.
    pub team_managers: std::collections::BTreeMap<String, String>,
    /// Where outgoing signals are sent.
    pub outgoing_webhooks: Vec<crate::outbox::OutgoingEndpoint>,
    /// Helpdesks that send refund requests.
    pub webhook_sources: Vec<crate::intake::WebhookSource>,
    /// The limits metrics signals are judged by.
    pub metrics: crate::metrics::MetricsSettings,
    /// What no policy chain can lower, applied to every decision: in force until an approved
    /// control proposal sets them (`levee.controls().current()`).
    pub floors: crate::floors::Floors,
    /// How evidence gates are met.
    pub evidence: crate::config::EvidenceConfig,
    /// The key this host signs ledger checkpoints with (`GET /v1/audit/checkpoint`); none
    /// where it has no `[audit] checkpoint_key`. Its Debug output never shows the secret.
    pub checkpoint_signer: Option<crate::checkpoint::CheckpointSigner>,
}

/// Why an operation did not happen. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error("{0}")]
    Transition(#[from] TransitionError),
    /// What does not exist, e.g. `case LV-000009`.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The actor may not do this at all.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The store holds something the ledger does not vouch for.
    #[error("{0}")]
    Integrity(String),
    /// This host cannot do it at all; the text says what to do instead.
    #[error("{0}")]
    NotSupported(String),
    /// A rule plugin was refused at upload; the text names why.
    #[error("the plugin {0}")]
    PluginRejected(String),
    /// An inbound webhook's signature did not verify.
    #[error("{0}")]
    Webhook(crate::inbound::Refusal),
    /// A body that is not what it must be (an inbound payload that is not JSON).
    #[error("{0}")]
    Malformed(String),
}

/// levee: the ports and the settings.
pub struct Levee {
    pub store: Arc<dyn Store>,
    pub engine: Arc<dyn PolicyEngine>,
    pub clock: Arc<dyn Clock>,
    /// How the schedule sends outgoing webhooks: the shell's HTTP.
    pub webhook_sender: Arc<dyn crate::outbox::WebhookSender>,
    pub settings: Arc<Settings>,
    /// Serializes this process's commits so that its own requests queue instead of racing
    /// for the same ledger slot; other hosts still race, through compare-and-swap. Shared by
    /// every request's `for_request` view.
    commit_lock: Arc<Mutex<()>>,
    /// How many of this process's requests are in `commit`, waiting for `commit_lock` or
    /// holding it: each will write, then make its write durable (`sync_store`). Shared like
    /// `commit_lock`.
    committing: Arc<AtomicUsize>,
    /// Metric slices as last decoded (`metrics::query`), shared like `commit_lock`.
    pub(crate) slice_cache: Arc<crate::metrics::query::SliceCache>,
    /// Why this host cannot run the registry's active chain, if it cannot (`Policies::sync`),
    /// shared like `commit_lock`.
    pub(crate) chain_fault: Arc<Mutex<Option<policies::ChainFault>>>,
    /// The records every submission reads, as last decoded (`Levee::cached_subject`), shared
    /// like `commit_lock`.
    pub(crate) caches: Arc<SubjectCaches>,
}

/// The subjects every submission reads, each as last decoded from its stored record.
#[derive(Default)]
pub(crate) struct SubjectCaches {
    /// The taxonomy in force (`TaxonomyAdmin::current`).
    pub(crate) taxonomy: subjects::DecodedRecord<crate::taxonomy_changes::CurrentTaxonomy>,
    /// The approval groups and floors in force (`Controls::current`).
    pub(crate) controls: subjects::DecodedRecord<Arc<controls::InForce>>,
}

impl Settings {
    /// The parameters a policy gets when its chain link gives none: the approval matrix for
    /// `threshold`, the routes of `taxonomy` for `routing`, `{}` for anything else.
    pub fn default_params(&self, policy: &str, taxonomy: &Taxonomy) -> serde_json::Value {
        match policy {
            "threshold" => self.matrix.to_params(),
            "routing" => taxonomy.routing_params(),
            _ => serde_json::json!({}),
        }
    }
}

/// levee's capabilities, each a small handle over the same ports: `levee.cases().submit(…)`,
/// `levee.policies().propose_chain(…)`.
impl Levee {
    pub fn cases(&self) -> Cases<'_> {
        Cases { levee: self }
    }

    pub fn audit(&self) -> Audit<'_> {
        Audit { levee: self }
    }

    pub fn delegations(&self) -> Delegations<'_> {
        Delegations { levee: self }
    }

    pub fn schedule(&self) -> Schedule<'_> {
        Schedule { levee: self }
    }

    pub fn outbox(&self) -> Outbox<'_> {
        Outbox { levee: self }
    }

    pub fn intake(&self) -> Intake<'_> {
        Intake { levee: self }
    }

    pub fn reconciliation(&self) -> Reconciliation<'_> {
        Reconciliation { levee: self }
    }

    pub fn policies(&self) -> Policies<'_> {
        Policies { levee: self }
    }

    pub fn remediation(&self) -> Remediation<'_> {
        Remediation { levee: self }
    }

    pub fn taxonomy(&self) -> TaxonomyAdmin<'_> {
        TaxonomyAdmin { levee: self }
    }

    pub fn metrics(&self) -> Metrics<'_> {
        Metrics { levee: self }
    }

    pub fn controls(&self) -> Controls<'_> {
        Controls { levee: self }
    }
}

impl Levee {
    pub fn new(
        store: Arc<dyn Store>,
        engine: Arc<dyn PolicyEngine>,
        clock: Arc<dyn Clock>,
        webhook_sender: Arc<dyn crate::outbox::WebhookSender>,
        settings: Settings,
    ) -> Self {
        Levee {
            store,
            engine,
            clock,
            webhook_sender,
            settings: Arc::new(settings),
            commit_lock: Arc::default(),
            committing: Arc::default(),
            slice_cache: Arc::default(),
            chain_fault: Arc::default(),
            caches: Arc::default(),
        }
    }

    /// levee for one request, or one run of the schedule: the same ports, settings, commit
    /// queue and caches, with the store's session for it (`Store::session`), so that what the
    /// store tracks of the request travels with this value and not with a thread or task.
    pub fn for_request(&self) -> Levee {
        Levee {
            store: self.store.session().unwrap_or_else(|| Arc::clone(&self.store)),
            engine: Arc::clone(&self.engine),
            clock: Arc::clone(&self.clock),
            webhook_sender: Arc::clone(&self.webhook_sender),
            settings: Arc::clone(&self.settings),
            commit_lock: Arc::clone(&self.commit_lock),
            committing: Arc::clone(&self.committing),
            slice_cache: Arc::clone(&self.slice_cache),
            chain_fault: Arc::clone(&self.chain_fault),
            caches: Arc::clone(&self.caches),
        }
    }

    pub(crate) fn ledger_store(&self) -> LedgerStore<'_> {
        LedgerStore::new(&*self.store)
    }

    /// Makes every write so far durable (`Store::sync`): before anything is acknowledged. While
    /// other requests of this process are committing, the store may leave the flush to the
    /// last of them, so that one flush covers them all (`Store::sync_in_turn`).
    pub fn sync_store(&self) -> Result<(), crate::store::StoreError> {
        self.store.sync_in_turn(&|| self.committing.load(Ordering::SeqCst) > 0)
    }

    /// A case, as its last ledger entry recorded it (see `load_subject`); an id that is not a
    /// case's names no case.
    pub(crate) fn load_case(&self, case_id: &str) -> Result<Option<Case>, ServiceError> {
        if !case::is_case_id(case_id) {
            return Ok(None);
        }
        self.load_subject::<Case>(case_id)
    }

    /// Runs one transition of an existing case under compare-and-swap: a case that changed
    /// between reading it and committing makes the request lose with 409.
    pub(crate) fn transition<F>(&self, case_id: &str, actor: &Principal, decide: F) -> Result<Case, ServiceError>
    where
        F: Fn(&Case, DateTime<Utc>) -> Result<Transition, TransitionError>,
    {
        self.transition_with(case_id, actor, |case, at| Ok(decide(case, at)?))
    }

    /// `transition`, for a decision that also reads the store (after the log is settled).
    pub(crate) fn transition_with<F>(&self, case_id: &str, actor: &Principal, decide: F) -> Result<Case, ServiceError>
    where
        F: Fn(&Case, DateTime<Utc>) -> Result<Transition, ServiceError>,
    {
        let mut seen_version = None;
        self.commit(|ledger_store| {
            let tip = ledger_store.tip_to_append_after()?;
            let case = self.load_case(case_id)?.ok_or_else(|| ServiceError::NotFound(format!("case {case_id}")))?;
            if seen_version.is_some_and(|version| version != case.version) {
                return Err(ServiceError::Conflict(format!(
                    "case {case_id} changed while this request was being applied: re-read it and act again"
                )));
            }
            seen_version = Some(case.version);
            let at = self.clock.now();
            let transition = decide(&case, at)?;
            committed_case(ledger_store.try_append(&tip, transition, self.entry_context(actor, at)?)?)
        })
    }

    /// Retries `attempt` until it claims a ledger slot (or finds its work already done).
    pub(crate) fn commit<T, F>(&self, mut attempt: F) -> Result<T, ServiceError>
    where
        F: FnMut(&LedgerStore<'_>) -> Result<Option<T>, ServiceError>,
    {
        let _counted = Committing::enter(&self.committing);
        let _serialized = self.commit_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Named before the store is held: on Spin, naming the chain may ask each plugin's runner.
        let _ = self.engine.chain();
        let exclusive = Exclusive::take(&*self.store)?;
        let ledger_store = self.ledger_store();
        let outcome = (|| {
            for _ in 0..MAX_COMMIT_ATTEMPTS {
                if let Some(done) = attempt(&ledger_store)? {
                    return Ok(done);
                }
            }
            Err(ServiceError::Conflict("the ledger is too busy to take this change now: retry".to_owned()))
        })();
        let ended = exclusive.end();
        let done = outcome?;
        ended?;
        Ok(done)
    }

    /// What every ledger entry records of its moment: who, when, the chain, the matrix and the
    /// taxonomy in force.
    pub(crate) fn entry_context(&self, actor: &Principal, at: DateTime<Utc>) -> Result<EntryContext, ServiceError> {
        Ok(EntryContext {
            actor: actor.actor.clone(),
            role: actor.primary_role(),
            at,
            policies: self.engine.chain(),
            matrix_version: self.settings.matrix.version.clone(),
            taxonomy_version: self.taxonomy().current()?.taxonomy.version.clone(),
            facts_hash: None,
        })
    }
}

/// One request counted in `Levee::committing` until it is dropped, whichever way `commit` ends.
struct Committing<'a>(&'a AtomicUsize);

impl<'a> Committing<'a> {
    fn enter(committing: &'a AtomicUsize) -> Committing<'a> {
        committing.fetch_add(1, Ordering::SeqCst);
        Committing(committing)
    }
}

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The case a committed slot holds (`None`: the slot went to another writer).
fn committed_case(slot: Option<LedgerSlot>) -> Result<Option<Case>, ServiceError> {
    slot.map(|slot| {
        slot.into_case().ok_or_else(|| ServiceError::Integrity("a case change committed as another subject".into()))
    })
    .transpose()
}
