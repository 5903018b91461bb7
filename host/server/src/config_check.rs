//! `levee config check`: every problem of a configuration, each named by where it is, before
//! the server will start with it (`levee serve` runs the same check and refuses errors).
//! Errors make the configuration unusable; warnings are things a pilot should look at.

use std::collections::{BTreeMap, BTreeSet};

use levee_core::identity::Role;
use levee_core::matrix::ApprovalMatrix;
use levee_core::taxonomy::{CodeLifecycle, Taxonomy};

use crate::config::FileConfig;
use crate::policy::builtin;

/// What the check found.
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

/// Checks `file`; with `demo`, the demo cast counts as configured tokens.
pub fn check(file: &FileConfig, demo: bool) -> CheckReport {
    let mut report = CheckReport::default();
    let actors = check_tokens(file, demo, &mut report);
    check_policies(file, &mut report);
    let taxonomy = file.taxonomy.clone().unwrap_or_else(Taxonomy::default_taxonomy);
    check_taxonomy(&taxonomy, file, &mut report);
    let matrix = file.matrix.clone().unwrap_or_else(ApprovalMatrix::default_matrix);
    report.errors.extend(matrix.problems());
    report.errors.extend(file.metrics.problems().into_iter().map(|problem| format!("metrics.{problem}")));
    check_groups(file, &actors, &mut report);
    check_teams(file, &actors, &mut report);
    check_webhooks(file, &mut report);
    report
}

/// Each token, and no token twice; returns each actor's roles and level.
fn check_tokens(file: &FileConfig, demo: bool, report: &mut CheckReport) -> BTreeMap<String, Vec<Role>> {
    let mut actors: BTreeMap<String, Vec<Role>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (index, token) in file.tokens.iter().enumerate() {
        if let Err(problem) = token.validate() {
            report.errors.push(format!("tokens[{index}] ({}): {problem}", token.actor));
        }
        if !seen.insert(token.token.clone()) {
            report.errors.push(format!("tokens[{index}] ({}): repeats an earlier token", token.actor));
        }
        let first = file.tokens[..index].iter().find(|earlier| earlier.actor == token.actor);
        if first.is_some_and(|first| (first.level, &first.limits) != (token.level, &token.limits)) {
            report.warnings.push(format!(
                "tokens[{index}] ({}): another token of this actor holds different authority; delegation uses the first",
                token.actor
            ));
        }
        actors.entry(token.actor.clone()).or_default().extend(token.roles.iter().copied());
    }
    if demo {
        for token in crate::demo::demo_tokens().values() {
            actors.entry(token.actor.clone()).or_default().extend(token.roles.iter().copied());
        }
    }
    if actors.is_empty() {
        report.errors.push(
            "tokens: no bearer tokens are configured: add [[tokens]] to the config file, or run with --demo".to_owned(),
        );
    }
    if !actors.values().any(|roles| roles.contains(&Role::Approver)) && !actors.is_empty() {
        report.warnings.push("tokens: no approver, so no case that needs approval can be decided".to_owned());
    }
    actors
}

fn check_policies(file: &FileConfig, report: &mut CheckReport) {
    for (index, policy) in file.policies.iter().enumerate() {
        match &policy.path {
            Some(path) if !path.is_file() => {
                report.errors.push(format!("policies[{index}] ({}): no file at {}", policy.name, path.display()));
            }
            None if builtin::by_name(&policy.name).is_none() => {
                report.errors.push(format!("policies[{index}] ({}): not built in, so it needs a path", policy.name));
            }
            _ => {}
        }
    }
}

fn check_taxonomy(taxonomy: &Taxonomy, file: &FileConfig, report: &mut CheckReport) {
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
    if !file.teams.is_empty() {
        let managed: BTreeSet<&str> = file.teams.iter().map(|team| team.name.as_str()).collect();
        let owners: BTreeSet<&str> = taxonomy.codes.iter().map(|code| code.owner.as_str()).collect();
        for owner in owners.difference(&managed) {
            report.warnings.push(format!(
                "taxonomy: owner {owner} has no manager in [[teams]]: its overdue remediation items escalate to no one"
            ));
        }
    }
}

fn check_groups(file: &FileConfig, actors: &BTreeMap<String, Vec<Role>>, report: &mut CheckReport) {
    for (index, group) in file.approval_groups.iter().enumerate() {
        let place = format!("approval_groups[{index}] ({})", group.name);
        if let Err(problem) = group.validate() {
            report.errors.push(format!("{place}: {problem}"));
        }
        if file.approval_groups[..index].iter().any(|earlier| earlier.level == group.level) {
            report.errors.push(format!("{place}: a second group for level {}", group.level.as_str()));
        }
        for member in &group.members {
            match actors.get(member) {
                None => report.errors.push(format!("{place}: member {member} has no token")),
                Some(roles) if !roles.contains(&Role::Approver) => {
                    report.errors.push(format!("{place}: member {member} is not an approver"))
                }
                Some(_) => {}
            }
        }
    }
}

fn check_teams(file: &FileConfig, actors: &BTreeMap<String, Vec<Role>>, report: &mut CheckReport) {
    let mut seen = BTreeSet::new();
    for (index, team) in file.teams.iter().enumerate() {
        if !seen.insert(team.name.clone()) {
            report.errors.push(format!("teams[{index}] ({}): repeats an earlier team", team.name));
        }
        if !actors.contains_key(&team.manager) {
            report.warnings.push(format!("teams[{index}] ({}): manager {} has no token", team.name, team.manager));
        }
    }
}

fn check_webhooks(file: &FileConfig, report: &mut CheckReport) {
    for (index, source) in file.webhook_sources.iter().enumerate() {
        if let Err(problem) = source.validate() {
            report.errors.push(format!("webhook_sources[{index}]: {problem}"));
        }
        if file.webhook_sources[..index].iter().any(|earlier| earlier.name == source.name) {
            report.errors.push(format!("webhook_sources[{index}]: a second source named {}", source.name));
        }
    }
    for (index, endpoint) in file.outgoing_webhooks.iter().enumerate() {
        if let Err(problem) = endpoint.validate() {
            report.errors.push(format!("outgoing_webhooks[{index}]: {problem}"));
        }
        if file.outgoing_webhooks[..index].iter().any(|earlier| earlier.name == endpoint.name) {
            report.errors.push(format!("outgoing_webhooks[{index}]: a second endpoint named {}", endpoint.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn names_each_problem_where_it_is() {
        let file = parse(
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

            [[policies]]
            name = "repeat-guard"
            "#,
        );
        let report = check(&file, false);
        let has = |needle: &str| report.errors.iter().any(|error| error.contains(needle));
        assert!(has("tokens[0] (ann): the token must be at least 16 characters"), "{report:?}");
        assert!(has("approval_groups[0] (committee): member nobody has no token"), "{report:?}");
        assert!(has("asks for 3 approvals of 2 members"), "{report:?}");
        assert!(has("policies[0] (repeat-guard): not built in, so it needs a path"), "{report:?}");
        assert!(!report.is_ok());
    }

    #[test]
    fn the_defaults_with_the_demo_cast_are_usable() {
        let report = check(&FileConfig::default(), true);
        assert_eq!(report.errors, Vec::<String>::new());
    }
}
