//! A real `redis-server` for the tests (Debian's package; scripts/install-redis installs it),
//! started on a free loopback port with its files in a directory of the test's. It keeps every
//! acknowledged write as production should (`appendonly yes`, `appendfsync always`), so a test
//! can kill it and start it again on the same files and port.
//!
//! A server is started through a small shell guard that holds a pipe from the test process:
//! when the test process ends, however it ends, the pipe closes and the guard kills the server,
//! so no redis-server outlives the tests.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills its redis-server when its stdin closes; prints the server's pid first.
/// With `LEVEE_REDIS_CLEANUP` set, it then removes that directory.
const GUARD: &str = r#"redis-server "$@" & echo $!; read -r _; kill -9 $! 2>/dev/null; wait
[ -n "${LEVEE_REDIS_CLEANUP:-}" ] && rm -rf "$LEVEE_REDIS_CLEANUP"; exit 0"#;

/// One redis-server process (and its guard).
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    password: Option<String>,
    /// Remove `dir` once the server is gone.
    cleanup: bool,
    running: Option<Running>,
}

struct Running {
    guard: Child,
    /// Closing it stops the server.
    pipe: ChildStdin,
    pid: u32,
}

impl RedisServer {
    /// A server on a free port, its files in `dir`.
    pub fn start(dir: &Path) -> RedisServer {
        RedisServer::start_with_password(dir, None)
    }

    /// A server that wants `password` (`requirepass`).
    pub fn start_with_password(dir: &Path, password: Option<&str>) -> RedisServer {
        std::fs::create_dir_all(dir).expect("redis directory");
        let mut server = RedisServer {
            port: free_port(),
            dir: dir.to_path_buf(),
            password: password.map(str::to_owned),
            cleanup: false,
            running: None,
        };
        server.restart();
        server
    }

    /// The one server of a whole test run (`LEVEE_TEST_BACKEND=redis`), each data directory
    /// under its own key prefix (`prefix_for`); it and its files go when the run ends.
    pub fn shared() -> &'static RedisServer {
        static SHARED: std::sync::OnceLock<RedisServer> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("levee-tests-redis-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("redis directory");
            let mut server = RedisServer { port: free_port(), dir, password: None, cleanup: true, running: None };
            server.restart();
            server
        })
    }

    /// The store configuration of a data directory on this server: a prefix of its own, the
    /// same every time (a restart over the directory finds its data).
    pub fn store_for(&self, data_dir: &Path) -> levee::store::RedisConfig {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        data_dir.hash(&mut hasher);
        levee::store::RedisConfig {
            prefix: format!("levee-test:{:016x}:", hasher.finish()),
            ..levee::store::RedisConfig::new(&self.url())
        }
    }

    /// `redis://[:password@]127.0.0.1:port`.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Kills the server with SIGKILL, as a crash would, and waits until its port is closed.
    pub fn kill(&mut self) {
        let Some(running) = self.running.take() else { return };
        let _ = Command::new("kill").args(["-9", &running.pid.to_string()]).status();
        stop_guard(running);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "redis-server on port {} did not stop", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Makes the server stall for `duration` (`DEBUG SLEEP`: it answers nothing meanwhile, then
    /// runs what queued up), as an overloaded Redis does; returns once the stall has begun.
    pub fn stall(&self, duration: Duration) -> std::thread::JoinHandle<()> {
        let url = self.url();
        let stall = std::thread::spawn(move || {
            let mut connection = redis::Client::open(url).and_then(|client| client.get_connection()).expect("connect");
            redis::cmd("DEBUG").arg("SLEEP").arg(duration.as_secs_f64()).query::<()>(&mut connection).expect("stall");
        });
        std::thread::sleep(Duration::from_millis(100));
        stall
    }

    /// Starts the server (again) on its port and files, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port.to_string();
        let dir = self.dir.display().to_string();
        let log = self.dir.join("redis.log").display().to_string();
        let mut arguments = vec![
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir,
            "--logfile",
            &log,
            "--daemonize",
            "no",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--enable-debug-command",
            "local",
        ];
        if let Some(password) = &self.password {
            arguments.extend(["--requirepass", password.as_str()]);
        }
        let mut guard = Command::new("sh");
        if self.cleanup {
            guard.env("LEVEE_REDIS_CLEANUP", &self.dir);
        }
        let mut guard = guard
            .arg("-c")
            .arg(GUARD)
            .arg("redis-guard")
            .args(&arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start redis-server (scripts/install-redis installs it)");
        let pipe = guard.stdin.take().expect("the guard's stdin");
        let mut first_line = String::new();
        BufReader::new(guard.stdout.take().expect("the guard's stdout"))
            .read_line(&mut first_line)
            .expect("the guard prints the server's pid");
        let pid = first_line.trim().parse().unwrap_or_else(|_| panic!("not a pid: {first_line:?}"));
        self.running = Some(Running { guard, pipe, pid });
        self.wait_until_ready();
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answered = redis::Client::open(self.url())
                .and_then(|client| client.get_connection_with_timeout(Duration::from_millis(500)))
                .and_then(|mut connection| redis::cmd("PING").query::<String>(&mut connection));
            match answered {
                Ok(_) => return,
                Err(error) if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                    panic!("redis-server on port {} never answered ({error}); its log:\n{log}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            stop_guard(running);
        }
    }
}

/// Closes the guard's pipe (it kills the server if it still runs) and reaps it.
fn stop_guard(running: Running) {
    let Running { mut guard, mut pipe, .. } = running;
    let _ = pipe.write_all(b"\n");
    drop(pipe);
    let _ = guard.wait();
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
