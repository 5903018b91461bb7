//! Demo mode: a token for every role, printed and written to `<data>/demo-tokens.json`
//! (role → token) so scripts can pick them up.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use rand::RngExt;

use crate::config::TokenConfig;

pub const TOKENS_FILE: &str = "demo-tokens.json";

/// Fresh random tokens for the demo cast, keyed by role name.
pub fn demo_tokens() -> BTreeMap<&'static str, TokenConfig> {
    cast_tokens("lv_demo")
}

/// Fresh random tokens (`<prefix>_<role>_<128 random bits>`) for the cast, keyed by role name:
/// one per role, the starting point of a pilot's `[[tokens]]` too.
pub fn cast_tokens(prefix: &str) -> BTreeMap<&'static str, TokenConfig> {
    let mut rng = rand::rng();
    levee_core::config::demo::cast(|role| format!("{prefix}_{role}_{:032x}", rng.random::<u128>()))
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
