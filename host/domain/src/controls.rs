//! Controls changed through the API under four eyes (`crate::proposal`): the approval groups,
//! the floors, and how an exception code's cases are routed or approved. Each change is a
//! proposal one admin makes and a second admin approves; a rejected one never takes effect.
//! The configuration's groups and floors are in force until the first approved change; from
//! then on the ledger's are, on every host.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::floors::{Floors, FloorsConfig};
use crate::identity::{ApprovalGroup, Role};
use crate::proposal::Signoff;
use crate::taxonomy::ExceptionCode;

/// The controls' id as a ledger subject.
pub const CONTROLS_SUBJECT: &str = "controls";

/// The approval groups and floors set through proposals, the proposals waiting and every one
/// decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ControlsRecord {
    pub version: u64,
    pub ledger_seqs: Vec<u64>,
    /// Set by an approved proposal; none: the configuration's are in force.
    pub approval_groups: Option<Vec<ApprovalGroup>>,
    /// Set by an approved proposal; none: the configuration's are in force.
    pub floors: Option<Floors>,
    /// Waiting for a second admin, oldest first.
    pub proposals: Vec<ControlProposal>,
    /// How many have been proposed.
    pub proposals_made: u64,
    /// Every proposal approved or rejected, oldest first (their backtests are in the ledger
    /// entries that proposed them).
    pub decided: Vec<DecidedProposal>,
}

/// What a proposal changes. Each holds what it replaces, so that a proposal whose subject has
/// changed since cannot be approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "control", rename_all = "snake_case")]
pub enum ControlChange {
    /// A new code, or a code whose queue, owning team, SLA or flags change.
    TaxonomyCode { code: Box<ExceptionCode>, before: Option<Box<ExceptionCode>> },
    /// The N-of-M approval groups, all of them.
    ApprovalGroups { approval_groups: Vec<ApprovalGroup>, before: Vec<ApprovalGroup> },
    /// The floors, all of them.
    Floors { floors: Floors, before: Floors },
}

/// A change one admin proposed, waiting for a second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ControlProposal {
    /// 1, 2, 3, … in the order proposed.
    pub number: u64,
    pub change: ControlChange,
    pub proposed: Signoff,
    /// What it alters, one sentence each.
    pub alters: Vec<String>,
    /// The last 30 days' cases replayed under it, for a change that can change outcomes;
    /// none for approval groups, which change who approves, not what is decided.
    pub backtest: Option<crate::backtest::BacktestReport>,
}

/// A proposal once decided; its backtest stays in the ledger entry that proposed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DecidedProposal {
    pub number: u64,
    pub change: ControlChange,
    pub proposed: Signoff,
    pub alters: Vec<String>,
    pub outcome: ProposalOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProposalOutcome {
    Approved {
        approved: Signoff,
    },
    /// Rejected by an admin, or withdrawn by its proposer.
    Rejected {
        rejected: Signoff,
        withdrawn: bool,
    },
}

impl ControlProposal {
    pub fn decide(self, outcome: ProposalOutcome) -> DecidedProposal {
        DecidedProposal {
            number: self.number,
            change: self.change,
            proposed: self.proposed,
            alters: self.alters,
            outcome,
        }
    }
}

/// `POST /v1/controls/proposals`: approval groups or floors to put in force.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeControlRequest {
    pub change: ControlChangeRequest,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub rationale: String,
}

/// The change as asked for.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "control", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlChangeRequest {
    /// Every group, at most one per approver level; `[]` removes them all.
    ApprovalGroups { approval_groups: Vec<ApprovalGroup> },
    /// As `[floors]` is written: each part left out comes from the approval matrix.
    Floors { floors: FloorsConfig },
}

/// What changing `before` to `after` alters in how the code's cases are routed or approved:
/// its queue, owning team, SLA, `escalate_always` or `customer_comms_required`, or that it is
/// new or reinstated. Empty: the change is descriptive (category, description, playbook, message template,
/// remediation trigger) and needs no second admin.
pub fn code_alters(before: Option<&ExceptionCode>, after: &ExceptionCode) -> Vec<String> {
    let code = &after.code;
    let Some(before) = before else {
        return vec![format!(
            "{code} is a new code: its cases go to queue {} (team {}, SLA {} minutes)",
            after.queue, after.owner, after.sla_minutes
        )];
    };
    let mut alters = Vec::new();
    // Reinstating a deprecated or merged code opens it to new cases again, as adding one does.
    if !before.is_active() && after.is_active() {
        alters.push(format!("{code} is reinstated: new cases may be filed under it again"));
    }
    let mut differs = |field: &str, was: String, now: String| {
        if was != now {
            alters.push(format!("{code}: {field} {was} → {now}"));
        }
    };
    differs("queue", before.queue.clone(), after.queue.clone());
    differs("owner", before.owner.clone(), after.owner.clone());
    differs("sla_minutes", before.sla_minutes.to_string(), after.sla_minutes.to_string());
    differs("escalate_always", before.escalate_always.to_string(), after.escalate_always.to_string());
    differs(
        "customer_comms_required",
        before.customer_comms_required.to_string(),
        after.customer_comms_required.to_string(),
    );
    alters
}

/// What is wrong with a set of approval groups, each naming its group: its own shape, a second
/// group for a level, a member who is not an approver (`roles_of` gives an actor's roles, none
/// for an unknown actor). One rule for `levee config check` and for proposals.
pub fn group_problems(groups: &[ApprovalGroup], roles_of: impl Fn(&str) -> Option<Vec<Role>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        let place = format!("approval_groups[{index}] ({})", group.name);
        if let Err(problem) = group.validate() {
            problems.push(format!("{place}: {problem}"));
        }
        if groups[..index].iter().any(|earlier| earlier.level == group.level) {
            problems.push(format!("{place}: a second group for level {}", group.level.as_str()));
        }
        for member in &group.members {
            match roles_of(member) {
                None => problems.push(format!("{place}: member {member} has no token")),
                Some(roles) if !roles.contains(&Role::Approver) => {
                    problems.push(format!("{place}: member {member} is not an approver"))
                }
                Some(_) => {}
            }
        }
    }
    problems
}

/// What changing the groups alters, one sentence per group added, changed or removed.
pub fn groups_alter(before: &[ApprovalGroup], after: &[ApprovalGroup]) -> Vec<String> {
    let describe = |group: &ApprovalGroup| {
        format!("{} of {} ({})", group.approvals, group.members.len(), group.members.join(", "))
    };
    let mut alters = Vec::new();
    for group in after {
        match before.iter().find(|earlier| earlier.level == group.level) {
            None => {
                alters.push(format!("level {}: group {} added, {}", group.level.as_str(), group.name, describe(group)))
            }
            Some(earlier) if earlier != group => alters.push(format!(
                "level {}: group {} {} → {} {}",
                group.level.as_str(),
                earlier.name,
                describe(earlier),
                group.name,
                describe(group)
            )),
            Some(_) => {}
        }
    }
    for earlier in before.iter().filter(|earlier| !after.iter().any(|group| group.level == earlier.level)) {
        alters.push(format!("level {}: group {} removed", earlier.level.as_str(), earlier.name));
    }
    alters
}

/// What changing the floors alters, one sentence per part that changes.
pub fn floors_alter(before: &Floors, after: &Floors) -> Vec<String> {
    let mut alters = Vec::new();
    let mut differs = |part: &str, was: String, now: String| {
        if was != now {
            alters.push(format!("{part} {was} → {now}"));
        }
    };
    differs("never_auto_approve", compact(&before.never_auto_approve), compact(&after.never_auto_approve));
    differs("auto_approve_max", compact(&before.auto_approve_max), compact(&after.auto_approve_max));
    differs("min_levels", compact(&before.min_levels), compact(&after.min_levels));
    alters
}

/// Compact JSON of a part of the floors, for the sentences above.
fn compact<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
