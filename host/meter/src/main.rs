//! `levee-meter`: meters a rule plugin for Spin (see the library's documentation). spin.toml's
//! build runs it on each plugin; the metered copy is what a runner component plugs in.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Gives a WebAssembly component a fuel budget of its own: it traps once the budget is spent.
#[derive(Parser)]
#[command(name = "levee-meter", version)]
struct Args {
    /// The component (or core module) as built.
    input: PathBuf,
    /// Where the metered copy goes.
    output: PathBuf,
    /// Instructions the component may run per instance (about: wasmtime's fuel units).
    #[arg(long, default_value_t = levee_meter::DEFAULT_FUEL)]
    fuel: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("levee-meter: {problem}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let wasm = std::fs::read(&args.input).map_err(|error| format!("{}: {error}", args.input.display()))?;
    let metered = levee_meter::meter(&wasm, args.fuel).map_err(|error| format!("{}: {error}", args.input.display()))?;
    if let Some(dir) = args.output.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    }
    std::fs::write(&args.output, metered).map_err(|error| format!("{}: {error}", args.output.display()))
}
