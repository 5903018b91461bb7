//! The workflow in force, as `GET /v1/workflow` describes it for the console's diagram.

use super::responses::SignedIn;
use super::{ApiError, Call, Response, ok};
use crate::workflow::{Inputs, Workflow, describe};

/// How a case is decided and approved under the configuration in force: the policy chain in
/// order, the approval ladder per currency (auto-approval ceiling, bands and their level, the
/// top band, evidence gates), each level's SLA and approval group, the escalation path, and the
/// kinds that never auto-approve. Any role may read it.
#[utoipa::path(get, path = "/v1/workflow", tag = "meta",
    responses((status = 200, body = Workflow), SignedIn),
    security(("bearer" = [])))]
pub fn get(call: &Call<'_>) -> Result<Response, ApiError> {
    call.principal()?;
    let levee = call.levee;
    let registry = levee.policies().registry()?;
    let number = levee.engine.loaded_chain().chain;
    // The links of the loaded chain; none (chain 0, or a rollback to it) is the configured one.
    let links = registry
        .chains
        .iter()
        .find(|chain| chain.number == number)
        .map(|chain| chain.links.as_slice())
        .filter(|links| !links.is_empty())
        .unwrap_or(&levee.settings.configured_chain);
    let loaded = levee.engine.chain();
    let controls = levee.controls().read()?;
    let inputs = Inputs {
        configured_matrix: &levee.settings.matrix,
        chain_number: number,
        links,
        loaded: &loaded,
        shadow: registry.shadow.as_ref().map(|shadow| (shadow.number, shadow.links.as_slice())),
        approval_groups: &controls.approval_groups,
    };
    ok(&describe(&inputs))
}
