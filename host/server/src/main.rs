//! The `levee` command: `serve` runs the HTTP server, `audit verify` checks a ledger offline
//! (against a published checkpoint too), `audit checkpoint` and `audit keygen` sign them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use levee::config::ServeConfig;
use levee::policy::{LoadedPolicySpec, PolicySource, SandboxLimits, builtin};
use levee_core::Settings;
use levee_core::engine::PolicyLimits;
use levee_core::matrix::ApprovalMatrix;
use levee_core::taxonomy::Taxonomy;

/// Audit-ready refunds, credits, fee waivers and overrides.
#[derive(Parser)]
#[command(name = "levee", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "LEVEE_LISTEN")]
        listen: Option<SocketAddr>,
        /// Directory of the embedded store [default: ./levee-data].
        #[arg(long, env = "LEVEE_DATA")]
        data: Option<PathBuf>,
        /// A levee.toml with tokens, policies, limits and store.
        #[arg(long, env = "LEVEE_CONFIG")]
        config: Option<PathBuf>,
        /// The store: redb (the default, in --data), memory, or redis://[user:password@]host:port[/db]
        /// (rediss:// for TLS) shared with other hosts. Overrides the file's store URL; the
        /// environment variable keeps a password out of the process list.
        #[arg(long, env = "LEVEE_STORE")]
        store: Option<String>,
        /// Add demo tokens for every role, written to <data>/demo-tokens.json. On an empty store,
        /// first seed about six months of synthetic activity (cases, approvals, escalations,
        /// executed refunds with a few planted leaks), all through the ledger.
        #[arg(long, env = "LEVEE_DEMO")]
        demo: bool,
        /// With --demo, do not seed the synthetic activity: start with an empty ledger.
        #[arg(long, env = "LEVEE_NO_SEED")]
        no_seed: bool,
    },
    /// Audit commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Rule-plugin commands.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Write a commented starter levee.toml that walks the pilot checklist, with fresh tokens.
    Init {
        /// Where to write it.
        #[arg(long, default_value = "levee.toml")]
        out: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Write a month's review (leakage, exceptions by code, evidence completeness, cycle time,
    /// drift signals, red remediation items) as one self-contained HTML page, from a running
    /// levee (an approver's, auditor's or admin's token).
    Report {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Where to write the page [default: levee-review-<month>.html].
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Name every problem of a configuration. Exits 1 if it has errors.
    Check {
        /// The levee.toml to check.
        #[arg(long, env = "LEVEE_CONFIG", default_value = "levee.toml")]
        config: PathBuf,
        /// Count the demo cast as configured tokens (as `serve --demo` does).
        #[arg(long)]
        demo: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
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

/// Where a running levee is, and the token to act with.
#[derive(clap::Args)]
struct ServerArgs {
    /// The server's base URL.
    #[arg(long, env = "LEVEE_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A bearer token (an admin's for upload; an admin's or auditor's for backtest).
    #[arg(long, env = "LEVEE_TOKEN")]
    token: String,
}

/// Sandbox limits for one plugin; each defaults to the server's default.
#[derive(clap::Args)]
struct LimitArgs {
    /// Fuel per evaluation [default: 10000000].
    #[arg(long)]
    fuel: Option<u64>,
    /// Deadline per evaluation in milliseconds [default: 100].
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// Memory cap per instance in bytes [default: 16777216].
    #[arg(long)]
    memory_bytes: Option<u64>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the ledger's hash chain and name the first entry that does not match. With
    /// --checkpoint, also prove that the ledger extends a published checkpoint.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// A signed checkpoint (`levee audit checkpoint`, `GET /v1/audit/checkpoint`): check its
        /// signature, and that the ledger's first entries still hash to its root.
        #[arg(long, requires = "key")]
        checkpoint: Option<PathBuf>,
        /// The verifier key to check the checkpoint's signature with, or a file holding it
        /// (`<name>+<hex key id>+<base64 key>`, as `levee audit keygen` printed it).
        #[arg(long, requires = "checkpoint")]
        key: Option<String>,
        /// Also prove that this entry is included in the checkpoint's tree.
        #[arg(long, requires = "checkpoint")]
        entry: Option<u64>,
    },
    /// Sign a checkpoint of the ledger as it stands (size and Merkle root) with the key in the
    /// configuration's [audit] checkpoint_key, after verifying the chain.
    Checkpoint {
        #[command(flatten)]
        store: StoreArgs,
        /// Where to write the signed checkpoint.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a new checkpoint signing key (0600) and print the verifier key to publish.
    Keygen {
        /// The key's name, which is also its checkpoints' origin: e.g. ledger.example.com/levee.
        #[arg(long)]
        name: String,
        /// The private key file to create; an existing file is never replaced.
        #[arg(long)]
        out: PathBuf,
    },
}

/// The store to audit offline (the server stopped: redb allows one process at a time).
#[derive(clap::Args)]
struct StoreArgs {
    /// Directory of the embedded store.
    #[arg(long, env = "LEVEE_DATA", default_value = "./levee-data")]
    data: PathBuf,
    /// The levee.toml whose store to verify (a Redis section, say) and whose [audit] key signs.
    #[arg(long, env = "LEVEE_CONFIG")]
    config: Option<PathBuf>,
    /// The store, as `serve --store` takes it: redb, or a redis:// or rediss:// URL.
    #[arg(long, env = "LEVEE_STORE")]
    store: Option<String>,
}

impl StoreArgs {
    /// The configuration file (or the defaults), with --store over its store.
    fn file(&self) -> anyhow::Result<levee::config::FileConfig> {
        let mut file = match &self.config {
            Some(path) => levee::config::FileConfig::load(path)?,
            None => levee::config::FileConfig::default(),
        };
        if let Some(flag) = &self.store {
            file.store = file.store.with_flag(flag)?;
        }
        Ok(file)
    }
}

/// jemalloc: a request makes and frees many short-lived buffers (JSON records, redb pages),
/// where glibc's allocator spent a fifth of the time (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    levee::install_tls_provider();
    let cli = Cli::parse();
    // The server logs what it does; one-shot commands only what went wrong.
    let default_level = if matches!(cli.command, Command::Serve { .. }) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into()))
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("levee: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { listen, data, config, store, demo, no_seed } => {
            let mut config = ServeConfig::resolve(listen, data, config, demo)?;
            config.seed_demo_data = demo && !no_seed;
            if let Some(flag) = store {
                config.file.store = config.file.store.with_flag(&flag)?;
            }
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let server = levee::app::start(config).await?;
                println!("levee listening on http://{}", server.addr);
                server.run_until_signal().await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy { command: PolicyCommand::New { name, dir, sdk } } => {
            let project = levee::policy::scaffold::create(&name, &dir, sdk.as_deref())?;
            println!(
                "created {}: cd there, then `cargo test` and `cargo build --release --target wasm32-wasip2`",
                project.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy { command: PolicyCommand::Test { plugin, cases, params, limits, json } } => {
            let spec = test_spec(&plugin, params.as_deref(), &limits)?;
            let text = std::fs::read_to_string(&cases).with_context(|| format!("read {}", cases.display()))?;
            let fixtures = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a list of fixtures", cases.display()))?;
            let report = levee::policy::runner::run(spec, fixtures)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", levee::policy::runner::render(&report));
            }
            Ok(if report.expectations_met() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Policy { command: PolicyCommand::Upload { plugin, name, server } } => {
            let bytes = std::fs::read(&plugin).with_context(|| format!("read {}", plugin.display()))?;
            let url = format!("{}/v1/policies?name={name}", server.url.trim_end_matches('/'));
            call_server(&server, reqwest::Method::POST, url, "application/wasm", bytes)
        }
        Command::Policy { command: PolicyCommand::Backtest { digest, days, params, server } } => {
            let params = params.as_deref().map(parse_params).transpose()?;
            let body = serde_json::to_vec(&serde_json::json!({"days": days, "params": params}))?;
            let url = format!("{}/v1/policies/{digest}/backtest", server.url.trim_end_matches('/'));
            call_server(&server, reqwest::Method::POST, url, "application/json", body)
        }
        Command::Init { out, force } => {
            levee::init::write(&out, force)?;
            println!(
                "wrote {}: read it top to bottom, then `levee config check --config {}`",
                out.display(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command: ConfigCommand::Check { config, demo } } => {
            let file = levee::config::FileConfig::load(&config)?;
            let report = levee::config_check::check(&file, demo);
            print!("{}", report.render());
            Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Report { month, out, server } => {
            let url = format!("{}/v1/reports/monthly?month={month}", server.url.trim_end_matches('/'));
            let (status, page) = fetch(&server, reqwest::Method::GET, url, "text/html", Vec::new())?;
            if !status.is_success() {
                eprintln!("levee answered {status}:\n{page}");
                return Ok(ExitCode::FAILURE);
            }
            let out = out.unwrap_or_else(|| PathBuf::from(format!("levee-review-{month}.html")));
            std::fs::write(&out, page).with_context(|| format!("write {}", out.display()))?;
            println!("wrote {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command: AuditCommand::Verify { store, checkpoint, key, entry } } => {
            audit_verify(&store, checkpoint.zip(key), entry)
        }
        Command::Audit { command: AuditCommand::Checkpoint { store, out } } => audit_checkpoint(&store, &out),
        Command::Audit { command: AuditCommand::Keygen { name, out } } => {
            let verifier = levee::audit::keygen(&name, &out)?;
            println!("wrote the private key to {} (keep it secret; point [audit] checkpoint_key at it)", out.display());
            println!("verifier key, to publish:\n{verifier}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `levee audit verify`: the chain, then, given a checkpoint and its verifier key, that the
/// ledger extends it (and includes `entry`). 1 if anything failed.
fn audit_verify(
    store: &StoreArgs,
    checkpoint: Option<(PathBuf, String)>,
    entry: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let file = store.file()?;
    let claim = match checkpoint {
        Some((path, key)) => Some((
            std::fs::read_to_string(&path).with_context(|| format!("read the checkpoint {}", path.display()))?,
            levee::audit::load_verifier(&key)?,
        )),
        None => None,
    };
    let opened = levee::audit::open_existing(&file.store, &store.data)?;
    let report = levee_core::journal::Journal::new(&*opened).verify()?;
    println!("{}", levee::audit::describe(&report));
    let mut ok = report.ok;
    if let Some((note, verifier)) = claim {
        let findings = levee::audit::check_checkpoint(&*opened, report.head_seq, &note, &verifier, entry);
        println!("{}", levee::audit::describe_checkpoint(&findings));
        ok &= findings.failure.is_none();
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `levee audit checkpoint`: signs the verified ledger's tree with the configured key.
fn audit_checkpoint(store: &StoreArgs, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    let file = store.file()?;
    let Some(key) = &file.audit.checkpoint_key else {
        anyhow::bail!("no checkpoint key: set `checkpoint_key` in the [audit] section of the --config file");
    };
    let signer = levee::audit::load_signer(key)?;
    let opened = levee::audit::open_existing(&file.store, &store.data)?;
    match levee::audit::sign_checkpoint(&*opened, &signer)? {
        Err(report) => {
            println!("{}\nnot signed: the ledger does not verify", levee::audit::describe(&report));
            Ok(ExitCode::FAILURE)
        }
        Ok(signed) => {
            std::fs::write(out, &signed.note).with_context(|| format!("write {}", out.display()))?;
            println!(
                "wrote {}: {} entries, root {}, signed by {} ({})",
                out.display(),
                signed.size,
                hex::encode(signed.root),
                signer.name(),
                signer.key_id()
            );
            Ok(ExitCode::SUCCESS)
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

/// Sends one request to a running levee and prints its JSON answer; 1 for an error answer.
fn call_server(
    server: &ServerArgs,
    method: reqwest::Method,
    url: String,
    content_type: &str,
    body: Vec<u8>,
) -> anyhow::Result<ExitCode> {
    let (status, text) = fetch(server, method, url, content_type, body)?;
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .and_then(|value| serde_json::to_string_pretty(&value))
        .unwrap_or(text);
    if status.is_success() {
        println!("{pretty}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("levee answered {status}:\n{pretty}");
        Ok(ExitCode::FAILURE)
    }
}

/// One request to a running levee: its status and body.
fn fetch(
    server: &ServerArgs,
    method: reqwest::Method,
    url: String,
    content_type: &str,
    body: Vec<u8>,
) -> anyhow::Result<(reqwest::StatusCode, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let response = levee::http_client()
            .request(method, &url)
            .bearer_auth(&server.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .with_context(|| format!("reach levee at {url}"))?;
        let status = response.status();
        anyhow::Ok((status, response.text().await?))
    })
}
