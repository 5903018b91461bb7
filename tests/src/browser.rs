//! Real-browser tests of the web console: headless Chromium driven through its own
//! `chromedriver` child process (one per test, on a free port, so tests run in parallel), with
//! helpers that go to a console route, sign in, wait for a selector, click, type and read text.
//!
//! Every wait polls until a deadline and then fails saying what it waited for, on which page,
//! and what `#error` said. When a test fails, a screenshot of the page is written to
//! `target/browser-screenshots/<test name>.png`. Chromium and chromedriver come from
//! `bash scripts/install-browser`; without them a test fails saying so, it is never skipped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::TestServer;

/// Debian's Chromium (a launcher script) and its WebDriver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

const CHROMIUM_ARGS: &[&str] =
    &["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"];

/// How long any wait lasts before the test fails, and how often it looks.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);
/// How many times a lookup is made again when the page replaced a match while it was being
/// looked at (a stale element: the console re-rendered).
const STALE_RETRIES: usize = 20;

/// A headless Chromium on the console of one levee. Dropping it ends the browser and its
/// chromedriver; if the test is failing, it first saves a screenshot.
pub struct Browser {
    // Held for its drop; declared first so it is dropped first, while the page is still there
    // to photograph.
    _session: Session,
    client: Client,
    console: String,
}

impl Browser {
    /// Opens Chromium on `server`'s console (`/console/`), not yet signed in.
    pub async fn open(server: &TestServer) -> Browser {
        Browser::launch(&format!("{}/console/", server.base_url)).await
    }

    /// Opens Chromium for the console at `console_url` (routes are appended to it).
    pub async fn launch(console_url: &str) -> Browser {
        require_installed();
        let driver = Driver::start().await;
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities())
            .connect(&driver.url())
            .await
            .unwrap_or_else(|error| panic!("chromedriver opened no Chromium session: {error}\n{}", driver.log()));
        let id = client.session_id().await.ok().flatten().expect("a WebDriver session id");
        // A screenshot left by an earlier failure of this test would mislead.
        let screenshot = screenshot_path();
        let _ = std::fs::remove_file(&screenshot);
        let session = Session { driver, id, screenshot };
        Browser { _session: session, client, console: console_url.to_owned() }
    }

    /// Goes to a console route: `""` (the start page), `#/queue`, `#/cases/LV-000001`, …
    pub async fn go(&self, route: &str) {
        let url = format!("{}{route}", self.console);
        self.client.goto(&url).await.unwrap_or_else(|error| panic!("go to {url}: {error}"));
    }

    /// Goes to the start page and signs in with `token`, without waiting for the outcome.
    pub async fn sign_in(&self, token: &str) {
        self.go("").await;
        self.type_into("input#token", token).await;
        self.click("button#sign-in").await;
    }

    /// Signs in with `token` and returns what `#whoami` then shows.
    pub async fn sign_in_as(&self, token: &str) -> String {
        self.sign_in(token).await;
        self.text("#whoami").await
    }

    /// The elements `selector` matches that are displayed right now (no waiting): what the user
    /// sees, so an element the console hides counts as absent. Only WebDriver's own answer that
    /// nothing matches means absent: any other WebDriver error fails the test (a bad selector, a
    /// lost session, …), so that an error is never taken for an absence. A match the page
    /// replaced while it was being looked at is looked up again.
    pub async fn visible(&self, selector: &str) -> Vec<Element> {
        let mut stale = None;
        for _ in 0..STALE_RETRIES {
            match self.displayed(selector).await {
                Ok(shown) => return shown,
                Err(error) if error.is_stale_element_reference() => stale = Some(error),
                Err(error) => {
                    panic!("WebDriver failed to look for `{selector}`: {error}; {}", self.whereabouts().await)
                }
            }
            tokio::time::sleep(POLL).await;
        }
        let stale = stale.expect("a stale lookup");
        panic!("`{selector}` kept going stale {STALE_RETRIES} times: {stale}; {}", self.whereabouts().await)
    }

    /// One look for the displayed matches of `selector`; "no such element" is no match.
    async fn displayed(&self, selector: &str) -> Result<Vec<Element>, CmdError> {
        let found = match self.client.find_all(Locator::Css(selector)).await {
            Ok(found) => found,
            Err(error) if error.is_no_such_element() => Vec::new(),
            Err(error) => return Err(error),
        };
        let mut shown = Vec::new();
        for element in found {
            if element.is_displayed().await? {
                shown.push(element);
            }
        }
        Ok(shown)
    }

    /// How many displayed elements `selector` matches right now (no waiting): for what must be
    /// absent, asked once the page has shown something that proves it has rendered.
    pub async fn count(&self, selector: &str) -> usize {
        self.visible(selector).await.len()
    }

    /// Waits until `selector` matches a displayed element, and returns the first.
    pub async fn wait_for(&self, selector: &str) -> Element {
        self.until(&format!("`{selector}` to show"), async || self.first(selector).await).await
    }

    /// Waits until nothing displayed matches `selector`.
    pub async fn wait_until_gone(&self, selector: &str) {
        self.until(&format!("`{selector}` to go"), async || (self.count(selector).await == 0).then_some(())).await
    }

    /// Waits for `selector` and returns its text as rendered (as the user reads it).
    pub async fn text(&self, selector: &str) -> String {
        let what = format!("`{selector}` to show text");
        self.until(&what, async || self.first(selector).await?.text().await.ok()).await
    }

    /// Waits for `selector` and returns its DOM `textContent`: the words as the page wrote them,
    /// whatever CSS does to their case, and the text inside an SVG.
    pub async fn text_content(&self, selector: &str) -> String {
        let what = format!("`{selector}` to hold text");
        self.until(&what, async || self.first(selector).await?.prop("textContent").await.ok()?).await
    }

    /// The rendered texts of every displayed match of `selector`, once there is one.
    pub async fn texts(&self, selector: &str) -> Vec<String> {
        self.wait_for(selector).await;
        let mut texts = Vec::new();
        for element in self.visible(selector).await {
            match element.text().await {
                Ok(text) => texts.push(text),
                Err(error) => panic!("WebDriver failed to read `{selector}`: {error}; {}", self.whereabouts().await),
            }
        }
        texts
    }

    /// Attribute `name` of every displayed match of `selector` (empty where it has none), once
    /// there is one.
    pub async fn attributes(&self, selector: &str, name: &str) -> Vec<String> {
        self.wait_for(selector).await;
        let mut values = Vec::new();
        for element in self.visible(selector).await {
            match element.attr(name).await {
                Ok(value) => values.push(value.unwrap_or_default()),
                Err(error) => {
                    panic!("WebDriver failed to read `{name}` of `{selector}`: {error}; {}", self.whereabouts().await)
                }
            }
        }
        values
    }

    /// Waits until `selector` shows and takes a click, and clicks it.
    pub async fn click(&self, selector: &str) {
        let what = format!("`{selector}` to take a click");
        self.until(&what, async || self.first(selector).await?.click().await.ok()).await
    }

    /// Waits for the field `selector`, empties it and types `text` into it.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let what = format!("`{selector}` to take typing");
        self.until(&what, async || {
            let field = self.first(selector).await?;
            field.clear().await.ok()?;
            field.send_keys(text).await.ok()
        })
        .await
    }

    /// Waits for the file input `selector` and chooses the file at `path` in it.
    pub async fn choose_file(&self, selector: &str, path: &std::path::Path) {
        let what = format!("`{selector}` to take a file");
        let path = path.to_string_lossy().into_owned();
        self.until(&what, async || self.first(selector).await?.send_keys(&path).await.ok()).await
    }

    /// Calls `probe` every [`POLL`] until it gives a value, and returns it. After [`WAIT`], fails
    /// saying it waited for `what`, on which page, and what `#error` said.
    pub async fn until<T>(&self, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            if Instant::now() >= deadline {
                panic!("timed out after {WAIT:?} waiting for {what}; {}", self.whereabouts().await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn first(&self, selector: &str) -> Option<Element> {
        self.visible(selector).await.into_iter().next()
    }

    /// The page's address and its `#error`, for failure messages. It looks up `#error` without
    /// `visible`, which calls this when WebDriver fails.
    async fn whereabouts(&self) -> String {
        let url = self.client.current_url().await.map(|url| url.to_string()).unwrap_or_else(|error| error.to_string());
        let error = match self.displayed("#error").await.ok().and_then(|shown| shown.into_iter().next()) {
            Some(element) => element.text().await.ok(),
            None => None,
        };
        match error {
            Some(error) => format!("page {url}, #error: {error:?}"),
            None => format!("page {url}, no #error"),
        }
    }
}

/// Fails, naming the install script, unless Chromium and chromedriver are installed.
fn require_installed() {
    for program in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(program).exists(),
            "{program} is missing: the browser tests need Chromium and chromedriver; run `bash scripts/install-browser`"
        );
    }
}

/// Headless Chromium at [`CHROMIUM`], with [`CHROMIUM_ARGS`].
fn capabilities() -> serde_json::Map<String, Value> {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".into(), json!({"binary": CHROMIUM, "args": CHROMIUM_ARGS}));
    capabilities
}

/// Where a failure of the running test leaves its screenshot:
/// `target/browser-screenshots/<test name>.png` (libtest names each test's thread after it).
pub fn screenshot_path() -> PathBuf {
    let thread = std::thread::current();
    let test = thread.name().and_then(|name| name.rsplit("::").next()).unwrap_or("browser-test");
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository");
    repository.join("target/browser-screenshots").join(format!("{test}.png"))
}

/// A WebDriver session. On drop it saves a screenshot if the test is panicking, then ends the
/// session (Chromium quits), then its chromedriver is killed.
struct Session {
    driver: Driver,
    id: String,
    screenshot: PathBuf,
}

impl Drop for Session {
    fn drop(&mut self) {
        let url = format!("{}/session/{}", self.driver.url(), self.id);
        let screenshot = std::thread::panicking().then(|| self.screenshot.clone());
        // The test's runtime is unwinding or blocked here, so this talks to chromedriver from a
        // thread and runtime of its own.
        let saved = off_runtime(async move || {
            let client = levee::http_client();
            let saved = match screenshot {
                Some(path) => Some(save_screenshot(&client, &url, &path).await),
                None => None,
            };
            let _ = client.delete(&url).timeout(Duration::from_secs(5)).send().await;
            saved
        });
        match saved.flatten() {
            Some(Ok(path)) => eprintln!("screenshot of the page when the test failed: {}", path.display()),
            Some(Err(error)) => eprintln!("no screenshot of the failing page: {error}"),
            None => {}
        }
    }
}

/// Runs `work` to completion on a new thread with its own runtime; None if that thread failed.
fn off_runtime<T: Send + 'static>(work: impl AsyncFnOnce() -> T + Send + 'static) -> Option<T> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(work())
    })
    .join()
    .ok()
}

/// Asks chromedriver for a screenshot of the session at `session_url` and writes it to `path`.
async fn save_screenshot(client: &reqwest::Client, session_url: &str, path: &Path) -> Result<PathBuf, String> {
    let response = client
        .get(format!("{session_url}/screenshot"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let body: Value = response.json().await.map_err(|error| error.to_string())?;
    let encoded = body["value"].as_str().ok_or_else(|| format!("chromedriver answered {body}"))?;
    let png = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|error| error.to_string())?;
    let directory = path.parent().expect("the screenshot directory");
    std::fs::create_dir_all(directory).map_err(|error| format!("create {}: {error}", directory.display()))?;
    std::fs::write(path, png).map_err(|error| format!("write {}: {error}", path.display()))?;
    Ok(path.to_path_buf())
}

/// A `chromedriver` child process on its own port, with its output in a temporary log.
/// Killed on drop.
struct Driver {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it answers. Another test may take
    /// the port between our probe and chromedriver's bind, so a failed start is tried again.
    async fn start() -> Driver {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let mut driver = Driver::spawn();
            match driver.ready().await {
                Ok(()) => return driver,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("chromedriver did not start:\n{}", failures.join("\n"));
    }

    fn spawn() -> Driver {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("a log file for chromedriver");
        let output = || Stdio::from(log.reopen().expect("the chromedriver log"));
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(output())
            .spawn()
            .unwrap_or_else(|error| panic!("run {CHROMEDRIVER}: {error}"));
        Driver { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What chromedriver and Chromium have printed so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Polls `/status` until chromedriver says it is ready; an error if it exits or stays silent.
    async fn ready(&mut self) -> Result<(), String> {
        let client = levee::http_client();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("chromedriver on port {} exited ({status}): {}", self.port, self.log()));
            }
            let answer = client.get(format!("{}/status", self.url())).send().await;
            if let Ok(response) = answer
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("chromedriver on port {} not ready after {WAIT:?}: {}", self.port, self.log()));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
