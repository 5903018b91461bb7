//! The workflow half of levee.toml: bearer tokens, the taxonomy, the approval matrix, the
//! floors, approval groups, teams, webhooks and the metrics limits. Every shell reads it the same way (`levee
//! serve` from its file, the Spin component from its `config` variable), checks it with
//! [`check`] and turns it into [`Settings`] with [`WorkflowConfig::settings`]. A shell's own
//! sections (where to listen, which store, sandbox limits, the plugin chain) stay with the shell.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::Settings;
use crate::identity::{ApprovalGroup, ApproverLevel, Authority, Principal, Role, TokenDirectory};
use crate::intake::WebhookSource;
use crate::matrix::ApprovalMatrix;
use crate::metrics::MetricsSettings;
use crate::outbox::OutgoingEndpoint;
use crate::taxonomy::{CodeLifecycle, Taxonomy};

/// The workflow sections of a levee.toml.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkflowConfig {
    pub tokens: Vec<TokenConfig>,
    /// Replaces the built-in taxonomy.
    pub taxonomy: Option<Taxonomy>,
    /// Replaces the built-in approval matrix.
    pub matrix: Option<ApprovalMatrix>,
    /// N-of-M approval groups: cases waiting at a group's level need its members' approvals.
    pub approval_groups: Vec<ApprovalGroup>,
    /// Teams and their managers, to whom overdue remediation items escalate.
    pub teams: Vec<TeamConfig>,
    /// Where outgoing signals (Standard Webhooks) are sent.
    pub outgoing_webhooks: Vec<OutgoingEndpoint>,
    /// Helpdesks whose ticket webhooks become cases (`POST /v1/webhooks/{name}`).
    pub webhook_sources: Vec<WebhookSource>,
    /// `[metrics]`: the limits signals are judged by (fast approvals, outliers, drift).
    pub metrics: MetricsSettings,
    /// `[floors]`: what no policy chain can lower; each part left out comes from the matrix.
    pub floors: crate::floors::FloorsConfig,
    /// `[evidence]`: how evidence gates are met.
    pub evidence: EvidenceConfig,
}

/// `[evidence]`: how evidence gates are met.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvidenceConfig {
    /// A required attachment counts only when levee stores the file (uploaded with
    /// `POST /v1/cases/{id}/attachments`), not when it is a bare reference (asserted).
    pub stored_attachments: bool,
}

/// `[[teams]]`: a team (as exception codes name their owners) and its manager.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub name: String,
    /// The manager's actor, as their token names them.
    pub manager: String,
}

/// A bearer token and who it stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub token: String,
    pub actor: String,
    pub roles: Vec<Role>,
    pub team: String,
    /// The approver level, for approvers.
    #[serde(default)]
    pub level: Option<ApproverLevel>,
    /// Approval limits in minor units per currency, for approvers.
    #[serde(default)]
    pub limits: BTreeMap<String, i64>,
}

impl TokenConfig {
    /// Refuses a token that could not work as written, saying why.
    pub fn validate(&self) -> Result<(), String> {
        if self.token.trim().len() < 16 {
            return Err("the token must be at least 16 characters".into());
        }
        if self.roles.is_empty() {
            return Err("no roles".into());
        }
        if self.roles.contains(&Role::System) {
            return Err("the system role is levee's own; no token may hold it".into());
        }
        match (self.roles.contains(&Role::Approver), self.level) {
            (true, None) => return Err("an approver needs a level".into()),
            (false, Some(_)) => return Err("a level is only for the approver role".into()),
            _ => {}
        }
        if let Some((currency, limit)) = self.limits.iter().find(|(_, limit)| **limit < 0) {
            return Err(format!("the limit for {currency} is negative ({limit})"));
        }
        Ok(())
    }

    /// The principal, with `source` saying where its authority is defined.
    pub fn principal(&self, source: String) -> Principal {
        Principal {
            actor: self.actor.clone(),
            roles: self.roles.clone(),
            team: self.team.clone(),
            authority: self.level.map(|level| Authority { level, limits: self.limits.clone() }),
            source,
        }
    }
}

impl WorkflowConfig {
    /// The settings this configuration runs under, with the demo cast's tokens beside the
    /// configured ones. `origin` names where the configuration came from, for the provenance of
    /// each token's authority (`config:<origin>#tokens[3]`). The configured plugin chain is the
    /// shell's to fill in. Errors name the entry at fault.
    pub fn settings(&self, origin: &str, demo_cast: &BTreeMap<&str, TokenConfig>) -> Result<Settings, String> {
        Ok(Settings {
            taxonomy: self.taxonomy.clone().unwrap_or_else(Taxonomy::default_taxonomy),
            matrix: self.matrix.clone().unwrap_or_else(ApprovalMatrix::default_matrix),
            tokens: self.token_directory(origin, demo_cast)?,
            configured_chain: Vec::new(),
            team_managers: self.teams.iter().map(|team| (team.name.clone(), team.manager.clone())).collect(),
            outgoing_webhooks: self.outgoing_webhooks.clone(),
            webhook_sources: self.webhook_sources.clone(),
            approval_groups: self.approval_groups.clone(),
            metrics: self.metrics.clone(),
            floors: self.floors.resolve(self.matrix.as_ref().unwrap_or(&ApprovalMatrix::default_matrix())),
            evidence: self.evidence,
            checkpoint_signer: None,
        })
    }

    fn token_directory(&self, origin: &str, demo_cast: &BTreeMap<&str, TokenConfig>) -> Result<TokenDirectory, String> {
        let mut tokens = TokenDirectory::default();
        for (index, token) in self.tokens.iter().enumerate() {
            let place = format!("{origin}: tokens[{index}] ({})", token.actor);
            token.validate().map_err(|problem| format!("{place}: {problem}"))?;
            if !tokens.insert(&token.token, token.principal(format!("config:{origin}#tokens[{index}]"))) {
                return Err(format!("{place} repeats an earlier token"));
            }
        }
        for (role, token) in demo_cast {
            tokens.insert(&token.token, token.principal(format!("demo:{role}")));
        }
        if tokens.is_empty() {
            return Err(
                "no bearer tokens are configured: add [[tokens]] to the configuration, or run in demo mode".into()
            );
        }
        Ok(tokens)
    }
}

/// What a configuration check found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// One line per problem, errors first.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for error in &self.errors {
            text.push_str(&format!("error: {error}\n"));
        }
        for warning in &self.warnings {
            text.push_str(&format!("warning: {warning}\n"));
        }
        let verdict = if self.is_ok() { "usable" } else { "not usable" };
        text.push_str(&format!(
            "{} error(s), {} warning(s): the configuration is {verdict}\n",
            self.errors.len(),
            self.warnings.len()
        ));
        text
    }
}

/// Every problem of the workflow sections, each named by where it is. Errors make the
/// configuration unusable; warnings are things a pilot should look at. `demo_cast` counts as
/// configured tokens.
pub fn check(config: &WorkflowConfig, demo_cast: &[TokenConfig]) -> CheckReport {
    let mut report = CheckReport::default();
    let actors = check_tokens(config, demo_cast, &mut report);
    let taxonomy = config.taxonomy.clone().unwrap_or_else(Taxonomy::default_taxonomy);
    check_taxonomy(&taxonomy, config, &mut report);
    let matrix = config.matrix.clone().unwrap_or_else(ApprovalMatrix::default_matrix);
    report.errors.extend(matrix.problems());
    report.errors.extend(config.floors.resolve(&matrix).problems());
    report.errors.extend(config.metrics.problems().into_iter().map(|problem| format!("metrics.{problem}")));
    check_groups(config, &actors, &mut report);
    check_teams(config, &actors, &mut report);
    check_webhooks(config, &mut report);
    check_admins(&actors, &mut report);
    report
}

/// Four eyes on the controls need two admins: with fewer, no chain, floor, group or routing
/// change can ever be approved.
fn check_admins(actors: &BTreeMap<String, Vec<Role>>, report: &mut CheckReport) {
    let admins = actors.values().filter(|roles| roles.contains(&Role::Admin)).count();
    if admins < 2 {
        report.warnings.push(format!(
            "tokens: {admins} admin(s); changes to the policy chain, floors, approval groups and code routing need \
             a second admin to approve them, so none can take effect"
        ));
    }
}

/// Each token, and no token twice; returns each actor's roles.
fn check_tokens(
    config: &WorkflowConfig,
    demo_cast: &[TokenConfig],
    report: &mut CheckReport,
) -> BTreeMap<String, Vec<Role>> {
    let mut actors: BTreeMap<String, Vec<Role>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (index, token) in config.tokens.iter().enumerate() {
        if let Err(problem) = token.validate() {
            report.errors.push(format!("tokens[{index}] ({}): {problem}", token.actor));
        }
        if !seen.insert(token.token.clone()) {
            report.errors.push(format!("tokens[{index}] ({}): repeats an earlier token", token.actor));
        }
        let first = config.tokens[..index].iter().find(|earlier| earlier.actor == token.actor);
        if first.is_some_and(|first| (first.level, &first.limits) != (token.level, &token.limits)) {
            report.warnings.push(format!(
                "tokens[{index}] ({}): another token of this actor holds different authority; delegation uses the first",
                token.actor
            ));
        }
        actors.entry(token.actor.clone()).or_default().extend(token.roles.iter().copied());
    }
    for token in demo_cast {
        actors.entry(token.actor.clone()).or_default().extend(token.roles.iter().copied());
    }
    if actors.is_empty() {
        report.errors.push(
            "tokens: no bearer tokens are configured: add [[tokens]] to the configuration, or run in demo mode"
                .to_owned(),
        );
    }
    if !actors.values().any(|roles| roles.contains(&Role::Approver)) && !actors.is_empty() {
        report.warnings.push("tokens: no approver, so no case that needs approval can be decided".to_owned());
    }
    actors
}

fn check_taxonomy(taxonomy: &Taxonomy, config: &WorkflowConfig, report: &mut CheckReport) {
    let mut seen = BTreeSet::new();
    for (index, code) in taxonomy.codes.iter().enumerate() {
        let place = format!("taxonomy.codes[{index}] ({})", code.code);
        if let Err(problem) = code.validate() {
            report.errors.push(format!("{place}: {problem}"));
        }
        if !seen.insert(code.code.clone()) {
            report.errors.push(format!("{place}: repeats an earlier code"));
        }
        if let CodeLifecycle::Merged { into, .. } = &code.lifecycle
            && taxonomy.get(into).is_none_or(|target| !target.is_active())
        {
            report.errors.push(format!("{place}: merged into {into}, which is not an active code"));
        }
    }
    report.warnings.extend(taxonomy.warnings().into_iter().map(|warning| format!("taxonomy: {warning}")));
    if !config.teams.is_empty() {
        let managed: BTreeSet<&str> = config.teams.iter().map(|team| team.name.as_str()).collect();
        let owners: BTreeSet<&str> = taxonomy.codes.iter().map(|code| code.owner.as_str()).collect();
        for owner in owners.difference(&managed) {
            report.warnings.push(format!(
                "taxonomy: owner {owner} has no manager in [[teams]]: its overdue remediation items escalate to no one"
            ));
        }
    }
}

fn check_groups(config: &WorkflowConfig, actors: &BTreeMap<String, Vec<Role>>, report: &mut CheckReport) {
    report.errors.extend(crate::controls::group_problems(&config.approval_groups, |actor| actors.get(actor).cloned()));
}

fn check_teams(config: &WorkflowConfig, actors: &BTreeMap<String, Vec<Role>>, report: &mut CheckReport) {
    let mut seen = BTreeSet::new();
    for (index, team) in config.teams.iter().enumerate() {
        if !seen.insert(team.name.clone()) {
            report.errors.push(format!("teams[{index}] ({}): repeats an earlier team", team.name));
        }
        if !actors.contains_key(&team.manager) {
            report.warnings.push(format!("teams[{index}] ({}): manager {} has no token", team.name, team.manager));
        }
    }
}

fn check_webhooks(config: &WorkflowConfig, report: &mut CheckReport) {
    for (index, source) in config.webhook_sources.iter().enumerate() {
        if let Err(problem) = source.validate() {
            report.errors.push(format!("webhook_sources[{index}]: {problem}"));
        }
        if config.webhook_sources[..index].iter().any(|earlier| earlier.name == source.name) {
            report.errors.push(format!("webhook_sources[{index}]: a second source named {}", source.name));
        }
    }
    for (index, endpoint) in config.outgoing_webhooks.iter().enumerate() {
        if let Err(problem) = endpoint.validate() {
            report.errors.push(format!("outgoing_webhooks[{index}]: {problem}"));
        }
        if config.outgoing_webhooks[..index].iter().any(|earlier| earlier.name == endpoint.name) {
            report.errors.push(format!("outgoing_webhooks[{index}]: a second endpoint named {}", endpoint.name));
        }
    }
}

/// The demo cast: one principal for every role, each with a token the shell makes (at random;
/// the shell decides where they are published).
pub mod demo {
    use std::collections::BTreeMap;

    use super::TokenConfig;
    use crate::identity::{ApproverLevel, Role};

    /// (role name, actor, role, team, approver level and limit in minor units)
    type DemoPrincipal = (&'static str, &'static str, Role, &'static str, Option<(ApproverLevel, i64)>);

    /// The demo cast. Limits apply in every currency of the default matrix.
    const CAST: &[DemoPrincipal] = &[
        ("agent", "avery.agent", Role::Agent, "support-emea", None),
        ("lead", "lee.lead", Role::Approver, "support-emea", Some((ApproverLevel::Lead, 100_000))),
        ("manager", "morgan.manager", Role::Approver, "support-ops", Some((ApproverLevel::Manager, 500_000))),
        ("finance", "frankie.finance", Role::Approver, "finance-ops", Some((ApproverLevel::Finance, 2_500_000))),
        ("director", "dana.director", Role::Approver, "finance", Some((ApproverLevel::Director, 10_000_000))),
        ("director2", "drew.director", Role::Approver, "operations", Some((ApproverLevel::Director, 10_000_000))),
        ("auditor", "aude.auditor", Role::Auditor, "internal-audit", None),
        ("comms", "casey.comms", Role::CommsReviewer, "customer-communications", None),
        ("admin", "ade.admin", Role::Admin, "platform", None),
        // A second admin: changes to the controls need two (four eyes).
        ("admin2", "alex.admin", Role::Admin, "security", None),
    ];

    /// How many principals the cast has.
    pub const ROLES: usize = CAST.len();

    const DEMO_CURRENCIES: &[&str] = &["USD", "EUR", "GBP", "CAD", "AUD", "JPY"];

    /// The cast keyed by role name, each with the token `token_for(role name)` makes.
    pub fn cast(mut token_for: impl FnMut(&str) -> String) -> BTreeMap<&'static str, TokenConfig> {
        CAST.iter()
            .map(|&(role_name, actor, role, team, authority)| {
                let limits = authority
                    .map(|(_, limit)| DEMO_CURRENCIES.iter().map(|currency| ((*currency).to_owned(), limit)).collect())
                    .unwrap_or_default();
                let config = TokenConfig {
                    token: token_for(role_name),
                    actor: actor.to_owned(),
                    roles: vec![role],
                    team: team.to_owned(),
                    level: authority.map(|(level, _)| level),
                    limits,
                };
                (role_name, config)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> WorkflowConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn names_each_problem_where_it_is() {
        let config = parse(
            r#"
            [[tokens]]
            token = "short"
            actor = "ann"
            roles = ["approver"]
            team = "support"
            level = "lead"

            [[approval_groups]]
            name = "committee"
            level = "finance"
            members = ["ann", "nobody"]
            approvals = 3
            "#,
        );
        let report = check(&config, &[]);
        let has = |needle: &str| report.errors.iter().any(|error| error.contains(needle));
        assert!(has("tokens[0] (ann): the token must be at least 16 characters"), "{report:?}");
        assert!(has("approval_groups[0] (committee): member nobody has no token"), "{report:?}");
        assert!(has("asks for 3 approvals of 2 members"), "{report:?}");
        assert!(!report.is_ok());
        assert!(config.settings("test", &BTreeMap::new()).is_err_and(|error| error.contains("tokens[0] (ann)")));
    }

    #[test]
    fn the_defaults_with_the_demo_cast_are_usable() {
        let cast = demo::cast(|role| format!("lv_test_{role}_0123456789abcdef"));
        let tokens: Vec<TokenConfig> = cast.values().cloned().collect();
        assert_eq!(check(&WorkflowConfig::default(), &tokens).errors, Vec::<String>::new());
        let settings = WorkflowConfig::default().settings("test", &cast).unwrap();
        let admin = settings.tokens.authenticate("Bearer lv_test_admin_0123456789abcdef");
        assert!(admin.is_some_and(|principal| principal.source == "demo:admin"));
    }

    #[test]
    fn one_admin_is_warned_that_no_control_change_can_be_approved() {
        let cast = demo::cast(|role| format!("lv_test_{role}_0123456789abcdef"));
        let two: Vec<TokenConfig> = cast.values().cloned().collect();
        let one: Vec<TokenConfig> = cast.into_iter().filter(|(role, _)| *role != "admin2").map(|(_, t)| t).collect();
        let warned = |tokens: &[TokenConfig]| {
            check(&WorkflowConfig::default(), tokens).warnings.iter().any(|warning| warning.contains("second admin"))
        };
        assert!(warned(&one));
        assert!(!warned(&two));
    }
}
