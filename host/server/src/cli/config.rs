//! `levee init` (a commented starter levee.toml) and `levee config check` (every problem of
//! one, named).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(clap::Args)]
pub struct InitArgs {
    /// Where to write it.
    #[arg(long, default_value = "levee.toml")]
    pub out: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand)]
pub enum ConfigCommand {
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

pub fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    crate::init::write(&args.out, args.force)?;
    println!(
        "wrote {}: read it top to bottom, then `levee config check --config {}`",
        args.out.display(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn run(command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Check { config, demo } => {
            let file = crate::config::FileConfig::load(&config)?;
            let report = crate::config_check::check(&file, demo);
            print!("{}", report.render());
            Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
