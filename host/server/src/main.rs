//! The `levee` command: `serve` runs the HTTP server, `audit verify` checks a ledger offline.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use levee::config::ServeConfig;

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
        /// Add demo tokens for every role, written to <data>/demo-tokens.json.
        #[arg(long, env = "LEVEE_DEMO")]
        demo: bool,
    },
    /// Audit commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the ledger's hash chain and name the first entry that does not match.
    Verify {
        /// Directory of the embedded store.
        #[arg(long, env = "LEVEE_DATA", default_value = "./levee-data")]
        data: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("levee: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { listen, data, config, demo } => {
            let config = ServeConfig::resolve(listen, data, config, demo)?;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let server = levee::app::start(config).await?;
                println!("levee listening on http://{}", server.addr);
                server.run_until_signal().await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command: AuditCommand::Verify { data } } => {
            let report = levee::audit::verify(&data)?;
            println!("{}", levee::audit::describe(&report));
            Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
