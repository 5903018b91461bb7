//! The remediation side of the story. In its first hour the admin calibrates each busy code's
//! trigger to the volume the code normally has (the default, 20 cases in 30 days, would fire
//! for every busy code every month), so an item opens only when a code surges. Owners then
//! work the items the governance run opens: they start within a day, and submit a fix a week
//! later unless the item opened in the last month.

use anyhow::Context;
use levee_core::Levee;
use levee_core::identity::Principal;
use levee_core::remediation::{FixRequest, StartRequest};
use levee_core::service::ServiceError;
use levee_core::taxonomy_changes::PutCodeRequest;

use super::cast::Cast;
use super::profile::CodeProfile;

/// How far above a code's normal 30-day volume its trigger is set.
const TRIGGER_HEADROOM: f64 = 1.6;
/// Below this many cases in 30 days, the default trigger (20) already has room enough.
const DEFAULT_TRIGGER: u32 = 20;

/// Raises the trigger of every code whose normal volume would cross it anyway; returns how
/// many codes changed (each a taxonomy revision in the ledger).
pub fn calibrate_triggers(
    levee: &Levee,
    admin: &Principal,
    expected_per_30_days: &[(&'static CodeProfile, f64)],
) -> anyhow::Result<u64> {
    let mut changed = 0;
    for (profile, expected) in expected_per_30_days {
        let needed = (((expected * TRIGGER_HEADROOM) / 5.0).ceil() as u32 * 5).max(DEFAULT_TRIGGER);
        let taxonomy = levee.taxonomy().current().context("read the taxonomy")?.taxonomy;
        let Some(mut code) = taxonomy.get(profile.code).cloned() else { continue };
        let Some(trigger) = code.remediation.as_mut() else { continue };
        if trigger.count.is_none_or(|count| count >= needed) {
            continue;
        }
        trigger.count = Some(needed);
        let rationale = format!(
            "Calibrated to the pilot's volume: {} normally sees about {expected:.0} cases in 30 days, so the trigger \
             is {needed} and fires when the code surges, not every month.",
            profile.code
        );
        let request = PutCodeRequest { code, rationale, expected_revision: None };
        levee
            .taxonomy()
            .put_code(admin, &request)
            .with_context(|| format!("calibrate the trigger of {}", profile.code))?;
        changed += 1;
    }
    Ok(changed)
}

/// The owner team starts work on an item.
pub fn start(levee: &Levee, owner: &str, item: &str) -> anyhow::Result<bool> {
    let note = "Pulled the cases of the window; grouping them by cause with the team.".to_owned();
    let result = levee.remediation().start(&Cast::owner(owner), item, &StartRequest { note });
    settled(result.map(|_| ()), item)
}

/// The owner team submits its fix with closure evidence.
pub fn fix(levee: &Levee, owner: &str, item: &str) -> anyhow::Result<bool> {
    let request = FixRequest {
        link: format!("https://wiki.example.com/playbooks/{}", item.to_ascii_lowercase()),
        note: "Root cause fixed at the source and the runbook updated; agents briefed.".to_owned(),
    };
    let result = levee.remediation().submit_fix(&Cast::owner(owner), item, &request);
    settled(result.map(|_| ()), item)
}

/// Whether the step was taken; an item that moved on meanwhile (verified, say) is not an error.
fn settled(result: Result<(), ServiceError>, item: &str) -> anyhow::Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(ServiceError::Conflict(_) | ServiceError::Forbidden(_)) => Ok(false),
        Err(error) => Err(anyhow::anyhow!("remediation item {item}: {error}")),
    }
}
