//! Benchmark: durable case submissions and case reads over HTTP, against the release `levee
//! serve` on its embedded store and on Redis, with the memory it holds idle and under load.
//!
//! Each run starts `levee serve` as its own process (the binary this bench was built with),
//! then drives it from 64 concurrent connections on the same machine: submissions (policy
//! chain, ledger append, projections, each write synced before the answer) for a fixed time,
//! then reads of the cases it made. Resident memory comes from /proc: `VmRSS` once idle with the
//! default policies loaded, `VmHWM` (the peak) after the load.
//!
//! Run: `cargo bench -p levee --bench http` (results go in BENCHMARKS.md). The Redis run needs
//! `redis-server` (scripts/install-redis); without it, that run is skipped and says so.
//! `LEVEE_BENCH_SECONDS` sets each phase's length (default 10), `LEVEE_BENCH_CONNECTIONS` the
//! connections (default 64).

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Concurrent connections, unless `LEVEE_BENCH_CONNECTIONS` says otherwise.
const CONNECTIONS: usize = 64;
const TOKEN: &str = "bench-agent-token-0123456789";
const AUDITOR: &str = "bench-auditor-token-0123456789";

fn main() -> anyhow::Result<()> {
    let seconds = std::env::var("LEVEE_BENCH_SECONDS").ok().and_then(|text| text.parse().ok()).unwrap_or(10);
    let phase = Duration::from_secs(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let temp = tempfile::tempdir()?;
    println!("{}", machine());
    println!(
        "| store | submissions/s | submit p50 ms | submit p99 ms | reads/s | read p50 ms | read p99 ms | RSS idle MiB | RSS peak MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let redb = runtime.block_on(run("redb", &temp.path().join("redb"), None, phase))?;
    println!("{redb}");
    match RedisProcess::start(&temp.path().join("redis")) {
        Some(redis) => {
            let store = format!("\n[store]\ntype = \"redis\"\nurl = \"{}\"\nprefix = \"bench:\"\n", redis.url());
            let line = runtime.block_on(run(
                "Redis (appendfsync always)",
                &temp.path().join("on-redis"),
                Some(&store),
                phase,
            ))?;
            println!("{line}");
        }
        None => println!("| Redis | skipped: no redis-server (bash scripts/install-redis) | | | | | | | |"),
    }
    Ok(())
}

/// One store's run: start, measure idle memory, load with submissions, then with reads.
async fn run(name: &str, dir: &Path, store: Option<&str>, phase: Duration) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir)?;
    let config = dir.join("levee.toml");
    std::fs::write(&config, config_toml(store.unwrap_or_default()))?;
    let mut server = Server::start(&config, &dir.join("data"))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = memory_kib(server.pid(), "VmRSS:");
    levee::install_tls_provider();
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build()?;
    // Warm up: the first submissions fill caches and the allocator.
    drive(&client, &server.base_url, Duration::from_secs(1), Kind::Submit).await;
    let submissions = drive(&client, &server.base_url, phase, Kind::Submit).await;
    let reads = drive(&client, &server.base_url, phase, Kind::Read(submissions.highest_case)).await;
    let peak = memory_kib(server.pid(), "VmHWM:");
    server.stop();
    Ok(format!(
        "| {name} | {:.0} | {:.1} | {:.1} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} |",
        submissions.per_second(),
        submissions.percentile(0.50),
        submissions.percentile(0.99),
        reads.per_second(),
        reads.percentile(0.50),
        reads.percentile(0.99),
        idle / 1024.0,
        peak / 1024.0,
    ))
}

#[derive(Clone, Copy)]
enum Kind {
    Submit,
    /// Reads of cases LV-000001 up to this one.
    Read(u64),
}

/// What one phase measured.
struct Phase {
    latencies_ms: Vec<f64>,
    elapsed: Duration,
    highest_case: u64,
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.latencies_ms.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, quantile: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len().max(1));
        sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
    }
}

/// `CONNECTIONS` workers, each sending one request after another for `length`; every answer
/// must be a success.
async fn drive(client: &reqwest::Client, base_url: &str, length: Duration, kind: Kind) -> Phase {
    let started = Instant::now();
    let counter = Arc::new(AtomicUsize::new(0));
    let workers = (0..connections()).map(|worker| {
        let (client, base_url, counter) = (client.clone(), base_url.to_owned(), counter.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut highest = 0;
            while started.elapsed() < length {
                let sequence = counter.fetch_add(1, Ordering::Relaxed);
                let request = match kind {
                    Kind::Submit => {
                        client.post(format!("{base_url}/v1/cases")).bearer_auth(TOKEN).json(&case(worker, sequence))
                    }
                    Kind::Read(highest_case) => {
                        let id = 1 + (sequence as u64 * 7919) % highest_case.max(1);
                        client.get(format!("{base_url}/v1/cases/LV-{id:06}")).bearer_auth(AUDITOR)
                    }
                };
                let sent = Instant::now();
                let response = request.send().await.expect("levee answers");
                let status = response.status();
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                assert!(status.is_success(), "{status}: {body}");
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                let number =
                    body["case_id"].as_str().and_then(|id| id.strip_prefix("LV-")).and_then(|n| n.parse().ok());
                highest = highest.max(number.unwrap_or(0));
            }
            (latencies, highest)
        })
    });
    let mut phase = Phase { latencies_ms: Vec::new(), elapsed: Duration::ZERO, highest_case: 0 };
    for worker in futures::future::join_all(workers).await {
        let (latencies, highest) = worker.expect("a worker");
        phase.latencies_ms.extend(latencies);
        phase.highest_case = phase.highest_case.max(highest);
    }
    phase.elapsed = started.elapsed();
    phase
}

fn connections() -> usize {
    std::env::var("LEVEE_BENCH_CONNECTIONS").ok().and_then(|text| text.parse().ok()).unwrap_or(CONNECTIONS)
}

/// Refunds and credits across the approval bands, each for its own customer.
fn case(worker: usize, sequence: usize) -> serde_json::Value {
    let (kind, code) =
        [("refund", "LATE_DELIVERY"), ("refund", "BILLING_ERROR"), ("credit", "SERVICE_OUTAGE")][sequence % 3];
    serde_json::json!({
        "kind": kind,
        "amount": {"minor_units": 500 + (sequence * 7_919) % 120_000, "currency": "USD"},
        "customer_ref": format!("bench-{worker}-{sequence}"),
        "order_ref": format!("order-{sequence}"),
        "exception_code": code,
        "rationale": "customer contacted support; details in the ticket",
    })
}

fn config_toml(store: &str) -> String {
    format!(
        r#"[[tokens]]
token = "{TOKEN}"
actor = "avery.agent"
roles = ["agent"]
team = "support"

[[tokens]]
token = "{AUDITOR}"
actor = "aude.auditor"
roles = ["auditor"]
team = "audit"
{store}"#
    )
}

/// The release `levee serve` this bench was built with.
struct Server {
    child: Child,
    base_url: String,
}

impl Server {
    fn start(config: &Path, data: &Path) -> anyhow::Result<Server> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_levee"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data")
            .arg(data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let base_url = lines
            .find_map(|line| line.ok()?.strip_prefix("levee listening on ").map(str::to_owned))
            .ok_or_else(|| anyhow::anyhow!("levee serve stopped before it listened"))?;
        Ok(Server { child, base_url })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A redis-server for the Redis run, durable as docs/operations.md asks.
struct RedisProcess {
    child: Child,
    port: u16,
}

impl RedisProcess {
    fn start(dir: &Path) -> Option<RedisProcess> {
        std::fs::create_dir_all(dir).ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always", "--dir"])
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(RedisProcess { child, port })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line of /proc/PID/status, in KiB.
fn memory_kib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The machine, for the record.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find_map(|line| line.strip_prefix("model name")).unwrap_or(": unknown");
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let disk = std::env::temp_dir();
    format!("machine: {} ({cores} cores), data in {}", model.trim_start_matches([':', ' ', '\t']), disk.display())
}
