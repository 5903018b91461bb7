//! Demo mode: a token for every role, printed and written to `<data>/demo-tokens.json`
//! (role → token) so scripts can pick them up.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use levee_core::identity::{ApproverLevel, Role};
use rand::RngExt;

use crate::config::TokenConfig;

pub const TOKENS_FILE: &str = "demo-tokens.json";

/// (role name, actor, roles, team, approver level and limit in minor units)
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
];

const DEMO_CURRENCIES: &[&str] = &["USD", "EUR", "GBP", "CAD", "AUD", "JPY"];

/// Fresh random tokens for the demo cast, keyed by role name.
pub fn demo_tokens() -> BTreeMap<&'static str, TokenConfig> {
    cast_tokens("lv_demo")
}

/// Fresh random tokens (`<prefix>_<role>_<128 random bits>`) for the cast, keyed by role name:
/// one per role, the starting point of a pilot's `[[tokens]]` too.
pub fn cast_tokens(prefix: &str) -> BTreeMap<&'static str, TokenConfig> {
    let mut rng = rand::rng();
    CAST.iter()
        .map(|&(role_name, actor, role, team, authority)| {
            let token = format!("{prefix}_{role_name}_{:032x}", rng.random::<u128>());
            let limits = authority
                .map(|(_, limit)| DEMO_CURRENCIES.iter().map(|currency| ((*currency).to_owned(), limit)).collect())
                .unwrap_or_default();
            let config = TokenConfig {
                token,
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

/// Writes role → token as JSON and prints a table of the cast.
pub fn publish(tokens: &BTreeMap<&'static str, TokenConfig>, data_dir: &Path) -> anyhow::Result<()> {
    let by_role: BTreeMap<&str, &str> = tokens.iter().map(|(role, config)| (*role, config.token.as_str())).collect();
    let path = data_dir.join(TOKENS_FILE);
    write_private(&path, &serde_json::to_vec_pretty(&by_role)?).with_context(|| format!("write {}", path.display()))?;
    println!("levee demo tokens (also in {}):", path.display());
    for (role, config) in tokens {
        let authority = config
            .level
            .map(|level| {
                format!("{} up to {} minor units", level.as_str(), config.limits.get("USD").copied().unwrap_or(0))
            })
            .unwrap_or_default();
        println!("  {role:<10} {:<16} {:<60} {authority}", config.actor, config.token);
    }
    Ok(())
}

/// Writes a file only its owner can read: it holds admin and director tokens.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_private_file(path, bytes, true)
}

/// `write_private`; with `replace` false, a file that exists (even one made a moment ago) is
/// never touched: the write fails with `AlreadyExists`.
pub fn write_private_file(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    if replace {
        options.write(true).create(true).truncate(true);
    } else {
        options.write(true).create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)
}
