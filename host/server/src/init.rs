//! `levee init`: a commented starter configuration that walks the pilot checklist in order
//! (decision points and owners, approval bands and limits, evidence, the exception taxonomy,
//! tokens, webhook secrets), with tokens and a webhook secret generated at random. What it
//! writes passes `levee config check`.

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use levee_core::matrix::ApprovalMatrix;
use levee_core::taxonomy::Taxonomy;
use rand::RngExt;

use crate::config::TokenConfig;

const TEMPLATE: &str = include_str!("../templates/config/levee.toml.tmpl");

/// The starter configuration, generated now.
pub fn render() -> anyhow::Result<String> {
    let tokens: Vec<TokenConfig> = crate::demo::cast_tokens("lv").into_values().collect();
    let mut secret = [0u8; 32];
    rand::rng().fill(&mut secret);
    Ok(TEMPLATE
        .replace("{{DATE}}", &chrono::Utc::now().format("%Y-%m-%d").to_string())
        .replace("{{MATRIX}}", &table("matrix", &ApprovalMatrix::default_matrix())?)
        .replace("{{TAXONOMY}}", &table("taxonomy", &Taxonomy::default_taxonomy())?)
        .replace("{{TOKENS}}", &table("tokens", &tokens)?)
        .replace("{{WEBHOOK_SECRET}}", &format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(secret))))
}

/// `value` as the TOML of a top-level key `name`.
fn table<T: serde::Serialize>(name: &str, value: &T) -> anyhow::Result<String> {
    let mut document = toml::Table::new();
    document.insert(name.to_owned(), toml::Value::try_from(value).with_context(|| format!("{name} as TOML"))?);
    Ok(toml::to_string(&document)?)
}

/// Writes the starter configuration to `path` (only its owner may read it: it holds tokens),
/// refusing to replace a file unless `force`.
pub fn write(path: &Path, force: bool) -> anyhow::Result<()> {
    match crate::demo::write_private_file(path, render()?.as_bytes(), force) {
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} exists: choose another path, or --force to replace it", path.display())
        }
        result => result.with_context(|| format!("write {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FileConfig;

    #[test]
    fn the_starter_configuration_parses_and_passes_the_check() {
        let text = render().unwrap();
        let file: FileConfig = toml::from_str(&text).unwrap();
        let report = crate::config_check::check(&file, false);
        assert_eq!(report.errors, Vec::<String>::new(), "{}", report.render());
        assert_eq!(file.taxonomy, Some(Taxonomy::default_taxonomy()));
        assert_eq!(file.matrix, Some(ApprovalMatrix::default_matrix()));
        assert!(file.tokens.iter().all(|token| token.token.starts_with("lv_") && token.token.len() > 32));
        assert!(!text.contains("{{"), "every placeholder is filled");
        for step in [
            "1. Decision points",
            "2. Approval bands",
            "3. The evidence",
            "4. The exception taxonomy",
            "5. Tokens",
            "6. Webhook secrets",
        ] {
            assert!(text.contains(step), "{step}");
        }
    }
}
