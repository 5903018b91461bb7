//! The `levee` binary: parses the command line and runs it (`levee::cli`).

use std::process::ExitCode;

use clap::Parser;
use levee::cli::{self, Cli};

/// jemalloc: a request makes and frees many short-lived buffers (JSON records, redb pages),
/// where glibc's allocator spent a fifth of the time (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    levee::install_tls_provider();
    let cli = Cli::parse();
    let default_level = if cli.serves() { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into()))
        .with_writer(std::io::stderr)
        .init();
    match cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("levee: {error:#}");
            ExitCode::from(2)
        }
    }
}
