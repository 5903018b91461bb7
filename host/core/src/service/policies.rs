//! Policies as a service: uploading rule plugins, activating and rolling back chains, and
//! keeping every host on the registry's active chain. How a chain comes to be activated, by
//! two admins, is in `chain_proposals`.

use serde::Serialize;
use utoipa::ToSchema;

use crate::engine::{ChainKey, ChainPlugin, Facts, PolicyEvaluation, PolicyFailure, PolicyIdentity, PolicyLimits};
use crate::identity::Principal;
use crate::ledger::{EventType, sha256_hex};
use crate::registry::{
    ActivatedChain, ChainApproval, ChainLink, PolicyRegistry, REGISTRY_SUBJECT, ShadowChain, UploadedPolicy,
};
use crate::registry_changes::{
    MAX_CHAIN, RollbackRequest, ShadowRequest, StopShadowRequest, Uploaded, blob_key, change, check_params,
    params_validator, plugin_name,
};
use crate::service::{Levee, ServiceError};
use crate::subject::Change;
use crate::taxonomy::Taxonomy;
use crate::validation::{FieldError, required_text};

/// Why this host cannot run the registry's active chain: which chain (`key`), its policies as
/// far as the registry names them, and the engine's reason.
#[derive(Debug, Clone)]
pub(crate) struct ChainFault {
    key: ChainKey,
    policies: Vec<PolicyIdentity>,
    reason: String,
}

impl ChainFault {
    /// A policy that could not be loaded: its name and digest (none for a built-in), no version.
    fn unloaded(plugin: &ChainPlugin) -> PolicyIdentity {
        let digest = plugin.bytes.as_deref().map(sha256_hex).unwrap_or_default();
        PolicyIdentity { name: plugin.name.clone(), version: "not loaded".to_owned(), digest }
    }

    fn reason(&self) -> String {
        format!("this host cannot load the active policy chain {}: {}", self.key.chain, self.reason)
    }
}

/// How a chain comes to be activated.
pub(super) enum Activation {
    /// A proposal a second admin approved.
    Approved(ChainApproval),
    /// An emergency rollback to an earlier chain by one admin.
    Rollback { restores: u64 },
}

/// Takes the approved proposal out of the registry's waiting list, refusing when it is no
/// longer waiting or another chain became active since it was proposed (its backtest and
/// dry run compared against a chain that no longer decides).
fn take_approved(next: &mut PolicyRegistry, approval: &ChainApproval) -> Result<ChainApproval, ServiceError> {
    let number = approval.proposal;
    let index = next.proposals.iter().position(|proposal| proposal.number == number).ok_or_else(|| {
        ServiceError::Conflict(format!("chain proposal {number} is no longer waiting: it was approved or rejected"))
    })?;
    let proposed_against = next.proposals[index].active_chain;
    if proposed_against != next.active_number() {
        return Err(ServiceError::Conflict(format!(
            "chain proposal {number} was proposed and backtested while chain {proposed_against} was active; chain {} \
             is active now: reject it and propose the chain again",
            next.active_number()
        )));
    }
    next.proposals.remove(index);
    Ok(approval.clone())
}

/// Whether this host runs the registry's active chain (`/healthz`, `/v1/policies`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HostChain {
    /// The registry's active chain (0: the chain from the configuration).
    pub active: u64,
    /// False when this host cannot load it: every case then fails closed, naming `fault`.
    pub runs_active_chain: bool,
    pub fault: Option<String>,
}

/// Rule plugins and chains: `levee.policies()`.
pub struct Policies<'a> {
    pub(super) levee: &'a Levee,
}

impl Policies<'_> {
    /// The registry, as its last ledger entry recorded it.
    pub fn registry(&self) -> Result<PolicyRegistry, ServiceError> {
        self.levee.ledger_store().settle()?;
        self.load_registry()
    }

    fn load_registry(&self) -> Result<PolicyRegistry, ServiceError> {
        Ok(self.levee.load_subject::<PolicyRegistry>(REGISTRY_SUBJECT)?.unwrap_or_default())
    }

    /// Checks a plugin with the engine, keeps its bytes by digest, and records the upload.
    pub fn upload(&self, actor: &Principal, name: &str, bytes: &[u8]) -> Result<Uploaded, ServiceError> {
        self.levee.engine.accepts_uploads().map_err(ServiceError::NotSupported)?;
        let name = plugin_name(name)?;
        let info = self.levee.engine.inspect(bytes).map_err(ServiceError::PluginRejected)?;
        params_validator(&name, &info.params_schema).map_err(ServiceError::PluginRejected)?;
        let digest = sha256_hex(bytes);
        self.levee.store.set(&blob_key(&digest), bytes)?;
        let at = self.levee.clock.now();
        let policy = UploadedPolicy {
            name: name.clone(),
            version: info.version,
            digest: digest.clone(),
            size_bytes: bytes.len() as u64,
            description: info.description,
            uploaded_by: actor.actor.clone(),
            uploaded_at: at,
        };
        let mut created = true;
        self.commit_registry(actor, None, |registry| {
            if let Some(existing) = registry.uploads.get(&digest) {
                created = false;
                return Ok((existing.clone(), None));
            }
            let mut next = registry.clone();
            next.version += 1;
            next.uploads.insert(digest.clone(), policy.clone());
            let payload = serde_json::json!({"upload": policy});
            Ok((policy.clone(), Some(change(next, EventType::PolicyUploaded, payload))))
        })
        .map(|policy| Uploaded { policy, created })
    }

    /// Restores an earlier chain, as a new activation that names the one it restores: an
    /// emergency step one admin may take alone, flagged until a second admin confirms it
    /// (`confirm_rollback`).
    pub fn rollback_chain(&self, actor: &Principal, request: &RollbackRequest) -> Result<PolicyRegistry, ServiceError> {
        let rationale = required_text("rationale", &request.rationale, 2_000)?;
        let registry = self.registry()?;
        let Some(active) = registry.active().map(|chain| chain.number) else {
            return Err(FieldError::new("to", "no chain has been activated, so there is nothing to roll back").into());
        };
        let target = request.to.unwrap_or(active.saturating_sub(1));
        // Chain 0 is the one from the configuration, restored as an activation with no links.
        let links = match registry.chains.iter().find(|chain| chain.number == target && target != active) {
            Some(chain) => chain.links.clone(),
            None if target == 0 => Vec::new(),
            None => {
                let numbers: Vec<String> = registry.chains.iter().map(|chain| chain.number.to_string()).collect();
                let message =
                    format!("chain {target} is not an earlier chain to restore (0 and {})", numbers.join(", "));
                return Err(FieldError::new("to", message).into());
            }
        };
        self.activate(actor, &links, rationale, Activation::Rollback { restores: target }, Some(registry.version))
    }

    /// Records `links` as the active chain, once this host has loaded them and, for a new
    /// chain, dry-run them on recent cases; then switches this host to it.
    pub(super) fn activate(
        &self,
        actor: &Principal,
        links: &[ChainLink],
        rationale: String,
        activation: Activation,
        expected_version: Option<u64>,
    ) -> Result<PolicyRegistry, ServiceError> {
        let restores = match &activation {
            Activation::Rollback { restores } => Some(*restores),
            Activation::Approved(_) => None,
        };
        // A rollback to chain 0, or to a chain that itself restored chain 0, restores the
        // chain from the configuration: an activation with no links.
        let restores_configuration = restores.is_some() && links.is_empty();
        let check = |registry: &PolicyRegistry| {
            if restores_configuration { Ok(()) } else { self.check_chain(registry, links) }
        };
        check(&self.registry()?)?;
        if !restores_configuration {
            self.check_loads(links)?;
        }
        // A rollback restores a chain that ran before, and must work when it is needed most.
        if restores.is_none() {
            self.dry_run(links)?;
        }
        let at = self.levee.clock.now();
        let committed = self.commit_registry(actor, expected_version, |registry| {
            check(registry)?;
            let mut next = registry.clone();
            next.version += 1;
            let approval = match &activation {
                Activation::Approved(approval) => Some(take_approved(&mut next, approval)?),
                Activation::Rollback { .. } => None,
            };
            let chain = ActivatedChain {
                number: registry.chains.len() as u64 + 1,
                links: links.to_vec(),
                activated_by: actor.actor.clone(),
                activated_at: at,
                rationale: rationale.clone(),
                restores,
                approval,
                confirmed: None,
            };
            let payload = serde_json::json!({
                "chain": chain,
                "previous": registry.active().map(|chain| chain.number),
                "authority": actor.source,
            });
            next.chains.push(chain);
            Ok((next.clone(), Some(change(next, EventType::PolicyChainActivated, payload))))
        })?;
        self.sync()?;
        Ok(committed)
    }

    /// Every link must name a built-in, or an uploaded plugin of that name whose bytes are kept,
    /// and no limit of a link may be zero.
    pub(crate) fn check_chain(&self, registry: &PolicyRegistry, links: &[ChainLink]) -> Result<(), ServiceError> {
        if links.is_empty() || links.len() > MAX_CHAIN {
            return Err(FieldError::new("links", format!("a chain holds 1 to {MAX_CHAIN} policies")).into());
        }
        for (index, link) in links.iter().enumerate() {
            let field = format!("links[{index}]");
            let limits = [("fuel", link.fuel), ("deadline_ms", link.deadline_ms), ("memory_bytes", link.memory_bytes)];
            if let Some((limit, _)) = limits.iter().find(|(_, value)| *value == Some(0)) {
                let message =
                    format!("policy {}: must be at least 1 (leave it out for the engine's default)", link.name);
                return Err(FieldError::new(format!("{field}.{limit}"), message).into());
            }
            match &link.digest {
                None if self.levee.engine.is_builtin(&link.name) => {}
                None => {
                    let message = format!("no built-in policy is named '{}': upload it and give its digest", link.name);
                    return Err(FieldError::new(format!("{field}.name"), message).into());
                }
                Some(digest) => match registry.uploads.get(digest) {
                    Some(upload) if upload.name == link.name && self.levee.store.get(&blob_key(digest))?.is_some() => {}
                    Some(upload) => {
                        let message = format!("{digest} was uploaded as '{}', not '{}'", upload.name, link.name);
                        return Err(FieldError::new(format!("{field}.name"), message).into());
                    }
                    None => {
                        let known: Vec<String> = registry.uploads.keys().cloned().collect();
                        let message = format!("no plugin with digest {digest} has been uploaded");
                        return Err(FieldError::new(format!("{field}.digest"), message)
                            .with_valid_values(known)
                            .into());
                    }
                },
            }
        }
        Ok(())
    }

    /// Loads the registry's active chain (or the configured one) into the engine if it is not
    /// the one loaded, or if the taxonomy its default parameters come from has changed. Store
    /// failures are errors. When the engine cannot load the active chain (say, the host was
    /// restarted with a lower `sandbox_max`), this host records why and decides nothing with
    /// the chain it has: every case fails closed naming the reason (`evaluate`), and
    /// `/healthz` and `/v1/policies` report it. It tries again when the active chain changes.
    pub fn sync(&self) -> Result<(), ServiceError> {
        let registry = self.load_registry()?;
        let taxonomy = self.levee.taxonomy().current()?;
        let (chain, links) = match registry.active() {
            Some(active) => (active.number, active.links.as_slice()),
            None => (0, &[][..]),
        };
        let key = ChainKey { chain, taxonomy: taxonomy.revision };
        if key == self.levee.engine.loaded_chain() {
            *self.fault() = None;
        } else if self.fault().as_ref().is_none_or(|fault| fault.key != key) {
            let plugins = self.chain_plugins(links, &taxonomy.taxonomy)?;
            let unloaded = plugins.iter().map(ChainFault::unloaded).collect();
            *self.fault() = match self.levee.engine.load_chain(plugins, key) {
                Ok(()) => None,
                Err(reason) => {
                    tracing::error!(chain, %reason, "this host cannot load the active policy chain; every case fails closed");
                    Some(ChainFault { key, policies: unloaded, reason })
                }
            };
        }
        let shadow_key = registry
            .shadow
            .as_ref()
            .map_or(ChainKey::default(), |shadow| ChainKey { chain: shadow.number, taxonomy: taxonomy.revision });
        if shadow_key != self.levee.engine.loaded_shadow() {
            let plugins = registry
                .shadow
                .as_ref()
                .map(|shadow| self.chain_plugins(&shadow.links, &taxonomy.taxonomy))
                .transpose()?;
            if let Err(error) = self.levee.engine.load_shadow(plugins, shadow_key) {
                tracing::error!(shadow = shadow_key.chain, %error, "the shadow policy chain could not be loaded");
            }
        }
        Ok(())
    }

    /// Checks the chain from the configuration as an activation is checked (`check_loads`): a
    /// shell refuses to start when its `[[policies]]` (`links[i]` here) would not load or their
    /// params do not match their plugins' schemas.
    pub fn check_configured_chain(&self) -> Result<(), ServiceError> {
        self.check_loads(&[])
    }

    /// Whether this host runs the registry's active chain, and if not, why.
    pub fn host_chain(&self) -> Result<HostChain, ServiceError> {
        self.sync()?;
        // After `sync`, the active chain is the one loaded, or the one that could not be.
        let fault = self.fault().clone();
        let active = fault.as_ref().map_or_else(|| self.levee.engine.loaded_chain().chain, |fault| fault.key.chain);
        let fault = fault.as_ref().map(ChainFault::reason);
        Ok(HostChain { active, runs_active_chain: fault.is_none(), fault })
    }

    /// The registry's active chain run on `facts` (call `sync` first): the engine's
    /// evaluations, or, when this host could not load that chain, each of its policies failed
    /// with the reason, so that the case fails closed and says why. Never another chain.
    pub(crate) fn evaluate(&self, facts: &Facts) -> Vec<PolicyEvaluation> {
        if let Some(fault) = self.fault().as_ref() {
            let failure = PolicyFailure::Unavailable { message: fault.reason() };
            return fault
                .policies
                .iter()
                .map(|policy| PolicyEvaluation {
                    policy: policy.clone(),
                    result: Err(failure.clone()),
                    fuel_used: 0,
                    elapsed_micros: 0,
                    peak_memory_bytes: 0,
                })
                .collect();
        }
        self.levee.engine.evaluate(facts)
    }

    fn fault(&self) -> std::sync::MutexGuard<'_, Option<ChainFault>> {
        self.levee.chain_fault.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Refuses a chain this host cannot load under its limits (the engine's `check_chain`),
    /// naming the link at fault and why, before anything is recorded.
    /// Then checks each link's params (its own, or the defaults it gets) against the schema
    /// its plugin's `describe()` gives, naming the link and what does not match.
    pub(super) fn check_loads(&self, links: &[ChainLink]) -> Result<(), ServiceError> {
        let taxonomy = self.levee.taxonomy().current()?;
        let plugins = self.chain_plugins(links, &taxonomy.taxonomy)?;
        let infos = self.levee.engine.check_chain(plugins.clone()).map_err(|refusal| {
            FieldError::new(refusal.request_field(), format!("this host cannot load the chain: {}", refusal.reason))
        })?;
        for (index, (plugin, info)) in plugins.iter().zip(&infos).enumerate() {
            check_params(&plugin.name, &info.params_schema, &plugin.params)
                .map_err(|reason| FieldError::new(format!("links[{index}].params"), reason))?;
        }
        Ok(())
    }

    /// The plugins of a chain; no links means the chain from the configuration.
    pub(crate) fn chain_plugins(
        &self,
        links: &[ChainLink],
        taxonomy: &Taxonomy,
    ) -> Result<Vec<ChainPlugin>, ServiceError> {
        let links = if links.is_empty() { &self.levee.settings.configured_chain[..] } else { links };
        links.iter().map(|link| self.chain_plugin(link, taxonomy)).collect()
    }

    /// Starts (or replaces) the shadow chain: it runs beside the active chain on every new
    /// case, its outcome is recorded in the case's ledger entry, and differences are listed.
    pub fn start_shadow(&self, actor: &Principal, request: &ShadowRequest) -> Result<PolicyRegistry, ServiceError> {
        let rationale = required_text("rationale", &request.rationale, 2_000)?;
        self.check_chain(&self.registry()?, &request.links)?;
        self.check_loads(&request.links)?;
        let at = self.levee.clock.now();
        let registry = self.commit_registry(actor, None, |registry| {
            self.check_chain(registry, &request.links)?;
            let mut next = registry.clone();
            next.version += 1;
            next.shadows_started += 1;
            let shadow = ShadowChain {
                number: next.shadows_started,
                links: request.links.clone(),
                started_by: actor.actor.clone(),
                started_at: at,
                rationale: rationale.clone(),
            };
            next.shadow = Some(shadow.clone());
            Ok((
                next.clone(),
                Some(change(next, EventType::PolicyShadowStarted, serde_json::json!({"shadow": shadow}))),
            ))
        })?;
        self.sync()?;
        Ok(registry)
    }

    /// Stops the shadow chain.
    pub fn stop_shadow(&self, actor: &Principal, request: &StopShadowRequest) -> Result<PolicyRegistry, ServiceError> {
        let rationale = required_text("rationale", &request.rationale, 2_000)?;
        let registry = self.commit_registry(actor, None, |registry| {
            let Some(shadow) = &registry.shadow else {
                return Err(ServiceError::Conflict("no shadow chain is running".to_owned()));
            };
            let mut next = registry.clone();
            next.version += 1;
            next.shadow = None;
            let payload = serde_json::json!({"stopped": shadow.number, "rationale": rationale});
            Ok((next.clone(), Some(change(next, EventType::PolicyShadowStopped, payload))))
        })?;
        self.sync()?;
        Ok(registry)
    }

    pub(crate) fn chain_plugin(&self, link: &ChainLink, taxonomy: &Taxonomy) -> Result<ChainPlugin, ServiceError> {
        let bytes = match &link.digest {
            Some(digest) => Some(self.levee.store.get(&blob_key(digest))?.ok_or_else(|| {
                ServiceError::Integrity(format!("the bytes of plugin {digest} are missing from the store"))
            })?),
            None => None,
        };
        Ok(ChainPlugin {
            name: link.name.clone(),
            bytes,
            params: link.params.clone().unwrap_or_else(|| self.levee.settings.default_params(&link.name, taxonomy)),
            limits: PolicyLimits { fuel: link.fuel, deadline_ms: link.deadline_ms, memory_bytes: link.memory_bytes },
        })
    }

    /// Commits one registry change under compare-and-swap (see `commit_subject`).
    pub(super) fn commit_registry<T: Clone, F>(
        &self,
        actor: &Principal,
        expected_version: Option<u64>,
        mut decide: F,
    ) -> Result<T, ServiceError>
    where
        F: FnMut(&PolicyRegistry) -> Result<(T, Option<Change>), ServiceError>,
    {
        self.levee.commit_subject(actor, REGISTRY_SUBJECT, PolicyRegistry::default, expected_version, |registry, _| {
            decide(registry)
        })
    }
}
