//! Commands that act through a running levee's HTTP API: where it is, the token, one request.

use std::process::ExitCode;

use anyhow::Context;

/// Where a running levee is, and the token to act with.
#[derive(clap::Args)]
pub struct ServerArgs {
    /// The server's base URL.
    #[arg(long, env = "LEVEE_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A bearer token (an admin's for upload; an admin's or auditor's for backtest).
    #[arg(long, env = "LEVEE_TOKEN")]
    pub token: String,
}

/// Sends one request to a running levee and prints its JSON answer; 1 for an error answer.
pub fn call_server(
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
pub fn fetch(
    server: &ServerArgs,
    method: reqwest::Method,
    url: String,
    content_type: &str,
    body: Vec<u8>,
) -> anyhow::Result<(reqwest::StatusCode, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let response = crate::http_client()
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
