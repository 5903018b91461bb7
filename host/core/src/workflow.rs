//! The workflow as the configuration in force draws it, for `GET /v1/workflow` and the web
//! console's diagram: which policies decide a case, in order; per currency the approval ladder
//! (what auto-approves, which band needs which level, what the top band needs, where the
//! evidence gates start); each approver level's SLA and approval group; where a case goes when
//! its SLA runs out; the kinds that never auto-approve. Pure: built from the approval matrix,
//! the chain and the groups, which the caller reads.

use serde::Serialize;
use utoipa::ToSchema;

use crate::case::CaseKind;
use crate::decision::FAIL_CLOSED_LEVEL;
use crate::engine::PolicyIdentity;
use crate::identity::{ApprovalGroup, ApproverLevel};
use crate::matrix::{ApprovalMatrix, Ladder};
use crate::registry::ChainLink;

/// The built-in policy whose parameters are the approval matrix.
const THRESHOLD: &str = "threshold";
/// The built-in policy whose parameters are the taxonomy's routes.
const ROUTING: &str = "routing";

/// The workflow in force: how a case is decided, who approves it, and what happens when it
/// waits too long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Workflow {
    /// The approval matrix's version, as every ledger entry records it.
    pub matrix_version: String,
    pub chain: PolicyChain,
    /// One ladder per currency, then one per kind and currency that has its own.
    pub ladders: Vec<CurrencyLadder>,
    /// Every approver level, lowest first, with its SLA and approval group.
    pub levels: Vec<LevelStep>,
    /// Where a waiting case goes when its level's SLA runs out: one level up; at the top
    /// level, a reminder once per SLA period. The clock never approves or rejects.
    pub escalation: Vec<EscalationStep>,
    /// Kinds that need at least a lead's approval however small the amount.
    pub never_auto_approve: Vec<CaseKind>,
    /// Kinds that always need a reviewed customer message as evidence.
    pub customer_comms_for: Vec<CaseKind>,
    /// A refund goes one level up when the customer had at least this many in 90 days.
    pub repeat_refunds_90d: u32,
    pub fail_closed: FailClosed,
}

/// The decision points: the policies that decide every new case, in evaluation order. The
/// most restrictive outcome wins (reject, then the highest level and most approvals, then
/// auto-approve), and required evidence is the union of what they ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PolicyChain {
    /// The policy registry's chain number; 0 is the chain from the configuration.
    pub number: u64,
    pub policies: Vec<ChainStep>,
    /// A candidate chain run beside the active one without deciding anything, if any.
    pub shadow: Option<ShadowChainStep>,
}

/// One policy of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChainStep {
    /// 1 for the first policy evaluated.
    pub position: usize,
    #[serde(flatten)]
    pub policy: PolicyIdentity,
    pub parameters: ParamsSource,
}

/// Where a policy's parameters come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamsSource {
    /// The approval matrix (the threshold policy).
    ApprovalMatrix,
    /// The taxonomy's routes (the routing policy).
    TaxonomyRoutes,
    /// Parameters given in the chain itself.
    ChainLink,
    /// None (`{}`).
    None,
}

/// The shadow chain, by its policies' names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ShadowChainStep {
    pub number: u64,
    pub policies: Vec<String>,
}

/// The approval ladder of one currency (and, if `kind` is set, one kind). Amounts are minor
/// units of the currency; `exponent` says how many of its digits are decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CurrencyLadder {
    pub currency: String,
    /// Set when this ladder replaces the currency's ladder for one kind.
    pub kind: Option<CaseKind>,
    pub exponent: u8,
    /// Amounts up to this (inclusive) auto-approve, unless the kind never auto-approves.
    pub auto_approve_up_to: i64,
    /// Each band: amounts above `above` and up to `up_to` need one approval at `level`.
    pub bands: Vec<BandStep>,
    /// Amounts above the last band.
    pub top_band: BandStep,
    /// Evidence gates: amounts above these need the requester's rationale, an attachment.
    pub rationale_above: i64,
    pub attachment_above: i64,
}

/// A range of amounts and what it needs. `up_to` is absent for the top band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BandStep {
    pub above: i64,
    pub up_to: Option<i64>,
    pub level: ApproverLevel,
    pub approvals: u8,
}

/// One approver level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LevelStep {
    pub level: ApproverLevel,
    /// How long a case may wait at this level before it escalates.
    pub sla_minutes: u32,
    /// The N-of-M group whose members must approve cases waiting at this level, if any.
    pub approval_group: Option<ApprovalGroup>,
}

/// One arrow of the escalation path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EscalationStep {
    pub from: ApproverLevel,
    pub to: ApproverLevel,
    /// The SLA of `from` that must run out first.
    pub after_minutes: u32,
    /// True at the top level: there is no higher level, so the escalation is a reminder.
    pub reminder: bool,
}

/// What a case gets when a policy fails (traps, runs out of fuel or time, answers nonsense).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FailClosed {
    pub level: ApproverLevel,
    pub approvals: u8,
    pub rationale_required: bool,
}

/// What the workflow is drawn from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The approval matrix from the configuration (a chain's threshold link may replace it).
    pub configured_matrix: &'a ApprovalMatrix,
    /// The loaded chain's number, and its links (the configured chain's for number 0).
    pub chain_number: u64,
    pub links: &'a [ChainLink],
    /// The policies the engine runs, in order, as the ledger names them.
    pub loaded: &'a [PolicyIdentity],
    /// The shadow chain's number and links, if one runs.
    pub shadow: Option<(u64, &'a [ChainLink])>,
    pub approval_groups: &'a [ApprovalGroup],
}

/// The workflow the inputs draw.
pub fn describe(inputs: &Inputs<'_>) -> Workflow {
    let matrix = matrix_in_force(inputs.links, inputs.configured_matrix);
    Workflow {
        matrix_version: matrix.version.clone(),
        chain: chain(inputs),
        ladders: ladders(&matrix),
        levels: levels(&matrix, inputs.approval_groups),
        escalation: escalation(&matrix),
        never_auto_approve: matrix.never_auto_approve.clone(),
        customer_comms_for: matrix.customer_comms_for.clone(),
        repeat_refunds_90d: matrix.repeat_refunds_90d,
        fail_closed: FailClosed { level: FAIL_CLOSED_LEVEL, approvals: 1, rationale_required: true },
    }
}

/// The matrix the threshold policy runs with: its chain link's parameters if the chain gives
/// them (and they are a matrix), otherwise the configured one.
pub fn matrix_in_force(links: &[ChainLink], configured: &ApprovalMatrix) -> ApprovalMatrix {
    links
        .iter()
        .filter(|link| link.name == THRESHOLD)
        .find_map(|link| link.params.clone())
        .and_then(|params| serde_json::from_value(params).ok())
        .unwrap_or_else(|| configured.clone())
}

fn chain(inputs: &Inputs<'_>) -> PolicyChain {
    let policies = inputs
        .loaded
        .iter()
        .enumerate()
        .map(|(index, policy)| {
            let link = inputs.links.get(index).filter(|link| link.name == policy.name);
            ChainStep { position: index + 1, policy: policy.clone(), parameters: params_source(&policy.name, link) }
        })
        .collect();
    let shadow = inputs.shadow.map(|(number, links)| ShadowChainStep {
        number,
        policies: links.iter().map(|link| link.name.clone()).collect(),
    });
    PolicyChain { number: inputs.chain_number, policies, shadow }
}

fn params_source(name: &str, link: Option<&ChainLink>) -> ParamsSource {
    if link.is_some_and(|link| link.params.is_some()) {
        return ParamsSource::ChainLink;
    }
    match name {
        THRESHOLD => ParamsSource::ApprovalMatrix,
        ROUTING => ParamsSource::TaxonomyRoutes,
        _ => ParamsSource::None,
    }
}

fn ladders(matrix: &ApprovalMatrix) -> Vec<CurrencyLadder> {
    let general = matrix.ladders.iter().map(|(currency, ladder)| currency_ladder(matrix, currency, None, ladder));
    let by_kind = matrix.kind_ladders.iter().flat_map(|(kind, ladders)| {
        ladders.iter().map(move |(currency, ladder)| currency_ladder(matrix, currency, Some(*kind), ladder))
    });
    general.chain(by_kind).collect()
}

fn currency_ladder(matrix: &ApprovalMatrix, currency: &str, kind: Option<CaseKind>, ladder: &Ladder) -> CurrencyLadder {
    let mut above = ladder.auto_approve_up_to;
    let mut bands = Vec::with_capacity(ladder.bands.len());
    for band in &ladder.bands {
        bands.push(BandStep { above, up_to: Some(band.up_to), level: band.level, approvals: 1 });
        above = above.max(band.up_to);
    }
    let top = &matrix.above_top_band;
    CurrencyLadder {
        currency: currency.to_owned(),
        kind,
        exponent: crate::money::currency_exponent(currency).unwrap_or(2),
        auto_approve_up_to: ladder.auto_approve_up_to,
        bands,
        top_band: BandStep { above, up_to: None, level: top.level, approvals: top.approvals },
        rationale_above: ladder.rationale_above,
        attachment_above: ladder.attachment_above,
    }
}

fn levels(matrix: &ApprovalMatrix, groups: &[ApprovalGroup]) -> Vec<LevelStep> {
    ApproverLevel::ALL
        .into_iter()
        .map(|level| LevelStep {
            level,
            sla_minutes: matrix.sla_minutes(level),
            approval_group: groups.iter().find(|group| group.level == level).cloned(),
        })
        .collect()
}

fn escalation(matrix: &ApprovalMatrix) -> Vec<EscalationStep> {
    ApproverLevel::ALL
        .into_iter()
        .map(|from| {
            let to = from.next().unwrap_or(from);
            EscalationStep { from, to, after_minutes: matrix.sla_minutes(from), reminder: to == from }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(name: &str) -> PolicyIdentity {
        PolicyIdentity { name: name.into(), version: "1.0.0".into(), digest: "ab".repeat(32) }
    }

    fn link(name: &str) -> ChainLink {
        ChainLink { name: name.into(), ..ChainLink::default() }
    }

    fn default_workflow(links: &[ChainLink]) -> Workflow {
        let matrix = ApprovalMatrix::default_matrix();
        let loaded = [identity("threshold"), identity("routing")];
        let groups = [ApprovalGroup {
            name: "directors".into(),
            level: ApproverLevel::Director,
            members: vec!["dana".into(), "drew".into(), "dale".into()],
            approvals: 2,
        }];
        describe(&Inputs {
            configured_matrix: &matrix,
            chain_number: 0,
            links,
            loaded: &loaded,
            shadow: None,
            approval_groups: &groups,
        })
    }

    /// The default USD ladder reads as the matrix says: $50 auto, four bands, two directors above.
    #[test]
    fn draws_the_default_ladder_band_by_band() {
        let workflow = default_workflow(&[link("threshold"), link("routing")]);
        let usd = workflow.ladders.iter().find(|ladder| ladder.currency == "USD").expect("a USD ladder");
        assert_eq!(usd.auto_approve_up_to, 5_000);
        let ranges: Vec<(i64, Option<i64>, ApproverLevel)> =
            usd.bands.iter().map(|band| (band.above, band.up_to, band.level)).collect();
        assert_eq!(ranges[0], (5_000, Some(50_000), ApproverLevel::Lead));
        assert_eq!(ranges[3], (1_000_000, Some(2_500_000), ApproverLevel::Director));
        assert_eq!(
            usd.top_band,
            BandStep { above: 2_500_000, up_to: None, level: ApproverLevel::Director, approvals: 2 }
        );
        assert_eq!((usd.rationale_above, usd.attachment_above), (5_000, 250_000));
        let jpy = workflow.ladders.iter().find(|ladder| ladder.currency == "JPY").expect("a JPY ladder");
        assert_eq!(jpy.exponent, 0);
    }

    /// Every level escalates to the next; the top one reminds itself.
    #[test]
    fn escalation_goes_one_level_up_and_the_top_reminds() {
        let workflow = default_workflow(&[]);
        let arrows: Vec<(ApproverLevel, ApproverLevel, u32, bool)> =
            workflow.escalation.iter().map(|step| (step.from, step.to, step.after_minutes, step.reminder)).collect();
        assert_eq!(arrows[0], (ApproverLevel::Lead, ApproverLevel::Manager, 240, false));
        assert_eq!(arrows[3], (ApproverLevel::Director, ApproverLevel::Director, 2880, true));
        let director = &workflow.levels[3];
        assert_eq!(director.approval_group.as_ref().map(|group| group.approvals), Some(2));
        assert!(workflow.levels[0].approval_group.is_none());
    }

    /// A chain whose threshold link carries its own matrix is drawn with that matrix.
    #[test]
    fn a_threshold_link_with_params_replaces_the_configured_matrix() {
        let mut matrix = ApprovalMatrix::default_matrix();
        matrix.version = "strict-1".into();
        matrix.ladders.retain(|currency, _| currency == "EUR");
        let threshold = ChainLink { params: Some(matrix.to_params()), ..link("threshold") };
        let workflow = default_workflow(&[threshold, link("routing")]);
        assert_eq!(workflow.matrix_version, "strict-1");
        assert_eq!(workflow.ladders.len(), 1);
        assert_eq!(workflow.chain.policies[0].parameters, ParamsSource::ChainLink);
        assert_eq!(workflow.chain.policies[1].parameters, ParamsSource::TaxonomyRoutes);
    }
}
