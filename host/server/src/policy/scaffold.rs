//! `levee policy new NAME`: scaffolds a rule-plugin project on the levee policy SDK, with an
//! example policy, native unit tests, fixture cases and parameters, ready to build into a
//! component with one cargo command.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Where the SDK was when this binary was built (a levee checkout).
pub const BUILT_SDK_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest-policies/sdk");

/// (file in the project, template)
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../templates/policy/Cargo.toml.tmpl")),
    ("rust-toolchain.toml", include_str!("../../templates/policy/rust-toolchain.toml.tmpl")),
    (".gitignore", include_str!("../../templates/policy/gitignore.tmpl")),
    ("src/lib.rs", include_str!("../../templates/policy/lib.rs.tmpl")),
    ("cases.json", include_str!("../../templates/policy/cases.json.tmpl")),
    ("params.json", include_str!("../../templates/policy/params.json.tmpl")),
    ("README.md", include_str!("../../templates/policy/README.md.tmpl")),
];

/// Creates `<parent>/<name>/`; refuses a bad name, an existing folder or a missing SDK.
pub fn create(name: &str, parent: &Path, sdk: Option<&Path>) -> anyhow::Result<PathBuf> {
    levee_core::registry_changes::plugin_name(name)
        .map_err(|error| anyhow::anyhow!("'{name}' is not a plugin name: {}", error.message))?;
    let sdk = sdk.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(BUILT_SDK_PATH));
    let sdk = sdk.canonicalize().with_context(|| {
        format!("the levee policy SDK is not at {}: pass --sdk <levee checkout>/guest-policies/sdk", sdk.display())
    })?;
    let project = parent.join(name);
    if project.exists() {
        bail!("{} already exists", project.display());
    }
    let crate_name = name.replace('-', "_");
    for (file, template) in FILES {
        let path = project.join(file);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).with_context(|| format!("create {}", folder.display()))?;
        }
        let text = template
            .replace("{{name}}", name)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{sdk_path}}", &sdk.display().to_string());
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(project)
}
