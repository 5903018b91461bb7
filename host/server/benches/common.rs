//! What the benchmarks share (each includes this file as `mod common`).

use std::path::Path;
use std::sync::Arc;

use levee::config::{ServeConfig, TokenConfig};
use levee_core::clock::SystemClock;
use levee_core::identity::Role;

/// levee as `levee serve` builds it, on the store in `data_dir`, with the default chain and one
/// admin token.
pub fn build_levee(data_dir: &Path) -> anyhow::Result<levee_core::Levee> {
    let mut config = ServeConfig::resolve(None, Some(data_dir.to_path_buf()), None, false)?;
    config.file.tokens.push(TokenConfig {
        token: "bench-admin-token-0123456789abcdef".into(),
        actor: "bench.admin".into(),
        roles: vec![Role::Admin],
        team: "platform".into(),
        level: None,
        limits: Default::default(),
    });
    levee::app::build_levee(&config, Arc::new(SystemClock))
}
