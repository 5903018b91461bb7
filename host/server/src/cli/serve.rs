//! `levee serve`: the HTTP server, until a signal stops it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::ServeConfig;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "LEVEE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded store [default: ./levee-data].
    #[arg(long, env = "LEVEE_DATA")]
    pub data: Option<PathBuf>,
    /// A levee.toml with tokens, policies, limits and store.
    #[arg(long, env = "LEVEE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The store: redb (the default, in --data), memory, or redis://[user:password@]host:port[/db]
    /// (rediss:// for TLS) shared with other hosts. Overrides the file's store URL; the
    /// environment variable keeps a password out of the process list.
    #[arg(long, env = "LEVEE_STORE")]
    pub store: Option<String>,
    /// Add demo tokens for every role, written to <data>/demo-tokens.json. On an empty store,
    /// first seed about six months of synthetic activity (cases, approvals, escalations,
    /// executed refunds with a few planted leaks), all through the ledger.
    #[arg(long, env = "LEVEE_DEMO")]
    pub demo: bool,
    /// With --demo, do not seed the synthetic activity: start with an empty ledger.
    #[arg(long, env = "LEVEE_NO_SEED")]
    pub no_seed: bool,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let ServeArgs { listen, data, config, store, demo, no_seed } = args;
    let mut config = ServeConfig::resolve(listen, data, config, demo)?;
    config.seed_demo_data = demo && !no_seed;
    if let Some(flag) = store {
        config.file.store = config.file.store.with_flag(&flag)?;
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let server = crate::app::start(config).await?;
        println!("levee listening on http://{}", server.addr);
        server.run_until_signal().await
    })?;
    Ok(ExitCode::SUCCESS)
}
