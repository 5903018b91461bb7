//! `levee policy`: scaffold a rule-plugin project, test a plugin in levee's sandbox, upload
//! one to a running levee and backtest it there.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use levee_core::Settings;
use levee_core::engine::PolicyLimits;
use levee_core::matrix::ApprovalMatrix;
use levee_core::taxonomy::Taxonomy;

use super::remote::{ServerArgs, call_server};
use crate::policy::{LoadedPolicySpec, PolicySource, SandboxLimits, builtin};

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Scaffold a rule-plugin project on the levee policy SDK.
    New {
        /// The plugin's name: lowercase letters, digits and hyphens.
        name: String,
        /// Folder to create the project in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The SDK (guest-policies/sdk of a levee checkout) [default: the one levee was built from].
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Upload a plugin to a running levee (admin token).
    Upload {
        /// The component file.
        plugin: PathBuf,
        /// The name chains will refer to it by.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Replay the last days' cases through the active chain with an uploaded plugin in it.
    Backtest {
        /// The uploaded plugin's sha256 digest.
        digest: String,
        /// How many days back [default: 30].
        #[arg(long)]
        days: Option<u32>,
        /// The plugin's parameters as JSON, or @FILE.
        #[arg(long)]
        params: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Run a plugin in levee's sandbox against fixture cases and report its decisions and
    /// resource use. Exits 1 if a fixture's expectation is not met.
    Test {
        /// A component file, or a built-in policy name (threshold, routing).
        plugin: String,
        /// A JSON array of fixtures: {"name", "facts": {"kind", "amount", …}, "expect": {"outcome", …}}.
        #[arg(long)]
        cases: PathBuf,
        /// Parameters as JSON, or @FILE [default: built-ins get the default matrix or taxonomy, others {}].
        #[arg(long)]
        params: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Sandbox limits for one plugin; each defaults to the server's default.
#[derive(clap::Args)]
pub struct LimitArgs {
    /// Fuel per evaluation [default: 10000000].
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Deadline per evaluation in milliseconds [default: 100].
    #[arg(long)]
    pub deadline_ms: Option<u64>,
    /// Memory cap per instance in bytes [default: 16777216].
    #[arg(long)]
    pub memory_bytes: Option<u64>,
}

pub fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::New { name, dir, sdk } => {
            let project = crate::policy::scaffold::create(&name, &dir, sdk.as_deref())?;
            println!(
                "created {}: cd there, then `cargo test` and `cargo build --release --target wasm32-wasip2`",
                project.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Test { plugin, cases, params, limits, json } => {
            let spec = test_spec(&plugin, params.as_deref(), &limits)?;
            let text = std::fs::read_to_string(&cases).with_context(|| format!("read {}", cases.display()))?;
            let fixtures = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a list of fixtures", cases.display()))?;
            let report = crate::policy::runner::run(spec, fixtures)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", crate::policy::runner::render(&report));
            }
            Ok(if report.expectations_met() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        PolicyCommand::Upload { plugin, name, server } => {
            let bytes = std::fs::read(&plugin).with_context(|| format!("read {}", plugin.display()))?;
            let url = format!("{}/v1/policies?name={name}", server.url.trim_end_matches('/'));
            call_server(&server, reqwest::Method::POST, url, "application/wasm", bytes)
        }
        PolicyCommand::Backtest { digest, days, params, server } => {
            let params = params.as_deref().map(parse_params).transpose()?;
            let body = serde_json::to_vec(&serde_json::json!({"days": days, "params": params}))?;
            let url = format!("{}/v1/policies/{digest}/backtest", server.url.trim_end_matches('/'));
            call_server(&server, reqwest::Method::POST, url, "application/json", body)
        }
    }
}

/// The plugin to test: a file, or a built-in by name with its default parameters.
fn test_spec(plugin: &str, params: Option<&str>, limits: &LimitArgs) -> anyhow::Result<LoadedPolicySpec> {
    let path = PathBuf::from(plugin);
    let (name, source) = match (path.exists(), builtin::by_name(plugin)) {
        (true, _) | (false, None) => {
            let bytes = std::fs::read(&path).with_context(|| format!("read plugin {plugin}"))?;
            let name = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
            (name, PolicySource::Bytes(bytes))
        }
        (false, Some(bytes)) => (plugin.to_owned(), PolicySource::Builtin(bytes)),
    };
    let params = match params {
        Some(text) => parse_params(text)?,
        None => {
            let defaults = Settings {
                taxonomy: Taxonomy::default_taxonomy(),
                matrix: ApprovalMatrix::default_matrix(),
                tokens: Default::default(),
                configured_chain: Vec::new(),
                team_managers: Default::default(),
                outgoing_webhooks: Vec::new(),
                webhook_sources: Vec::new(),
                approval_groups: Vec::new(),
                metrics: Default::default(),
                floors: levee_core::floors::Floors::from_matrix(&ApprovalMatrix::default_matrix()),
                evidence: Default::default(),
                checkpoint_signer: None,
            };
            defaults.default_params(&name, &defaults.taxonomy)
        }
    };
    let overrides =
        PolicyLimits { fuel: limits.fuel, deadline_ms: limits.deadline_ms, memory_bytes: limits.memory_bytes };
    let limits = SandboxLimits::default().overridden_by(overrides);
    Ok(LoadedPolicySpec { name, source, params, limits })
}

/// Inline JSON, or `@FILE`.
fn parse_params(text: &str) -> anyhow::Result<serde_json::Value> {
    let json = match text.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file).with_context(|| format!("read params {file}"))?,
        None => text.to_owned(),
    };
    serde_json::from_str(&json).context("--params is not JSON")
}
