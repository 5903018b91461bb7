//! The `levee` command line: its arguments (clap) and what each subcommand does, one module
//! each. The binary (`main.rs`) only parses the arguments, sets up logging and calls `run`.
//!
//! - `serve`: the HTTP server.
//! - `audit`: `audit verify` checks a ledger offline (against a published checkpoint too),
//!   `audit checkpoint` and `audit keygen` sign them.
//! - `policy`: scaffold, test, upload and backtest rule plugins.
//! - `config`: `init` writes a starter levee.toml, `config check` names every problem of one.
//! - `report`: a month's review as one HTML page, from a running levee.
//! - `remote`: how the commands that act through a running levee reach it.

mod audit;
mod config;
mod policy;
mod remote;
mod report;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Audit-ready refunds, credits, fee waivers and overrides.
#[derive(Parser)]
#[command(name = "levee", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(serve::ServeArgs),
    /// Audit commands.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Rule-plugin commands.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Write a commented starter levee.toml that walks the pilot checklist, with fresh tokens.
    Init(config::InitArgs),
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// Write a month's review (leakage, exceptions by code, evidence completeness, cycle time,
    /// drift signals, red remediation items) as one self-contained HTML page, from a running
    /// levee (an approver's, auditor's or admin's token).
    Report(report::ReportArgs),
}

impl Cli {
    /// Whether this runs the server, which logs what it does; one-shot commands log only what
    /// went wrong.
    pub fn serves(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }
}

/// Runs the command: its exit code, or the error that stopped it.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Audit { command } => audit::run(command),
        Command::Policy { command } => policy::run(command),
        Command::Init(args) => config::init(args),
        Command::Config { command } => config::run(command),
        Command::Report(args) => report::run(args),
    }
}
