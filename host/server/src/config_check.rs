//! `levee config check`: every problem of a configuration, each named by where it is, before
//! the server will start with it (`levee serve` runs the same check and refuses errors).
//! Errors make the configuration unusable; warnings are things a pilot should look at. The
//! workflow sections are checked by `levee_core::config::check`, as the Spin component checks
//! them; this adds the server's own (the plugin chain's files).

pub use levee_core::config::CheckReport;
use levee_core::config::TokenConfig;

use crate::config::FileConfig;
use crate::policy::builtin;

/// Checks `file`; with `demo`, the demo cast counts as configured tokens.
pub fn check(file: &FileConfig, demo: bool) -> CheckReport {
    let cast: Vec<TokenConfig> = if demo { crate::demo::demo_tokens().into_values().collect() } else { Vec::new() };
    let mut report = levee_core::config::check(&file.workflow(), &cast);
    check_policies(file, &mut report);
    report
}

fn check_policies(file: &FileConfig, report: &mut CheckReport) {
    if let Some((field, reason)) = file.sandbox_max.exceeded_by(file.sandbox) {
        report.errors.push(format!("sandbox.{field}: the default {reason}"));
    }
    for (index, policy) in file.policies.iter().enumerate() {
        if let Some((_, reason)) = file.sandbox_max.exceeded_by(policy.limits(file.sandbox)) {
            report.errors.push(format!("policies[{index}] ({}): {reason}", policy.name));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn adds_the_chains_problems_to_the_workflow_checks() {
        let file = parse(
            r#"
            [[tokens]]
            token = "short"
            actor = "ann"
            roles = ["agent"]
            team = "support"

            [[policies]]
            name = "repeat-guard"

            [[policies]]
            name = "threshold"
            deadline_ms = 20000
            "#,
        );
        let report = check(&file, false);
        let has = |needle: &str| report.errors.iter().any(|error| error.contains(needle));
        assert!(has("tokens[0] (ann): the token must be at least 16 characters"), "{report:?}");
        assert!(has("policies[0] (repeat-guard): not built in, so it needs a path"), "{report:?}");
        assert!(
            has("policies[1] (threshold): deadline_ms 20000 ms is over this host's maximum of 1000 ms (sandbox_max)"),
            "{report:?}"
        );
    }

    #[test]
    fn the_defaults_with_the_demo_cast_are_usable() {
        let report = check(&FileConfig::default(), true);
        assert_eq!(report.errors, Vec::<String>::new());
    }
}
