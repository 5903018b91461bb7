//! `levee report`: a month's review as one self-contained HTML page, from a running levee.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::remote::{ServerArgs, fetch};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The month, YYYY-MM.
    #[arg(long)]
    pub month: String,
    /// Where to write the page [default: levee-review-<month>.html].
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let ReportArgs { month, out, server } = args;
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
