//! The web console: plain HTML, CSS and ES modules embedded in the binary and served by the
//! route table, so every shell (axum, Spin) serves it with no build step and no CDN. The assets
//! need no token; everything they show comes from the JSON API with the user's bearer token.
//!
//! Every asset goes out with `cache-control: no-cache` (a new binary's console is picked up at
//! once) and a strict content security policy: scripts and styles only from the console itself,
//! nothing inline, no framing.

use http::{HeaderValue, StatusCode, header};

use super::{ApiError, Call, Response};

/// Where the console lives.
const CONSOLE_PATH: &str = "/console/";

/// The console's content security policy. No inline script or style: the console builds its
/// pages from DOM nodes, and SVG charts from the API are parsed and imported, never written
/// as HTML.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The files of the console, each with its text, embedded from this folder (`host/core/src/api/console/`).
macro_rules! embedded {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!($name))),+]
    };
}

/// Every file of the console, by the name it is served under (`index.html` first).
const FILES: &[(&str, &str)] = embedded![
    "index.html",
    "console.css",
    "console.js",
    "api.js",
    "dom.js",
    "dashboard.js",
    "queue.js",
    "case.js",
    "remediation.js",
    "policies.js",
    "workflow.js",
    "diagram.js",
];

/// The content type of a file, by its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "text/javascript; charset=utf-8",
    }
}

/// `/` and `/console`: 302 to the console.
pub fn redirect(_call: &Call<'_>) -> Result<Response, ApiError> {
    let mut response = http::Response::new(Vec::new().into());
    *response.status_mut() = StatusCode::FOUND;
    response.headers_mut().insert(header::LOCATION, HeaderValue::from_static(CONSOLE_PATH));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// `/console/`: the page.
pub fn index(_call: &Call<'_>) -> Result<Response, ApiError> {
    serve("index.html")
}

/// `/console/{asset}`: a stylesheet or script.
pub fn asset(call: &Call<'_>) -> Result<Response, ApiError> {
    serve(call.id())
}

fn serve(name: &str) -> Result<Response, ApiError> {
    let (name, body) = FILES
        .iter()
        .find(|(file, _)| *file == name)
        .ok_or_else(|| ApiError::NotFound(format!("the console has no file {name}")))?;
    let mut response = http::Response::new(body.as_bytes().to_vec().into());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page loads only files the console serves, so nothing it asks for is a 404.
    #[test]
    fn every_file_the_page_and_its_modules_load_is_served() {
        let names: Vec<&str> = FILES.iter().map(|(name, _)| *name).collect();
        for (name, body) in FILES {
            for referenced in references(body) {
                assert!(names.contains(&referenced.as_str()), "{name} loads {referenced}, which is not served");
            }
        }
    }

    /// The pages build their DOM without inline scripts, inline styles or HTML strings, so the
    /// content security policy holds.
    #[test]
    fn no_asset_needs_inline_script_or_style() {
        for (name, body) in FILES {
            for forbidden in
                ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", " style=", "<style", "eval("]
            {
                assert!(!body.contains(forbidden), "{name} uses {forbidden}");
            }
        }
        let page = FILES[0].1;
        assert!(!page.contains("<script>"), "index.html has an inline script");
    }

    /// Local files named by `src="…"`, `href="…"` and `from './…'`.
    fn references(body: &str) -> Vec<String> {
        let mut found = Vec::new();
        for marker in ["src=\"", "href=\"", "from './"] {
            for piece in body.split(marker).skip(1) {
                let end = piece.find(['"', '\'']).unwrap_or(piece.len());
                let name = &piece[..end];
                let local = !name.starts_with('#') && !name.contains(':') && !name.contains('$') && !name.is_empty();
                if local {
                    found.push(name.trim_start_matches("./").to_owned());
                }
            }
        }
        found
    }
}
