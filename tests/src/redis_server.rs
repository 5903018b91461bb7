//! A real `redis-server` for the tests (Debian's package; scripts/install-redis installs it),
//! started on a free loopback port with its files in a directory of the test's, under a guard
//! (`guard`) so that none outlives the tests. It keeps every acknowledged write as production
//! should (`appendonly yes`, `appendfsync always`, `noeviction`), so a test can kill it and
//! start it again on the same files and port.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::guard::Guarded;

/// One redis-server process.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    password: Option<String>,
    /// Remove `dir` once the server is gone.
    cleanup: bool,
    /// TLS only, with `server.pem`, `server.key` and `ca.pem` from `dir` (`start_tls`).
    tls: bool,
    running: Option<Guarded>,
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
            tls: false,
            running: None,
        };
        server.restart();
        server
    }

    /// A server that speaks only TLS, with the certificate `dir/server.pem` (key `server.key`)
    /// signed by `dir/ca.pem`, which the caller wrote; clients need no certificate.
    pub fn start_tls(dir: &Path) -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            dir: dir.to_path_buf(),
            password: None,
            cleanup: false,
            tls: true,
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
            let mut server =
                RedisServer { port: free_port(), dir, password: None, cleanup: true, tls: false, running: None };
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

    /// `127.0.0.1:port`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://[:password@]127.0.0.1:port`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        match &self.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// Kills the server with SIGKILL, as a crash would, and waits until its port is closed.
    pub fn kill(&mut self) {
        let Some(mut running) = self.running.take() else { return };
        running.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "redis-server on port {} did not stop", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Makes the server stall for `duration` (`DEBUG SLEEP`: it answers nothing meanwhile, then
    /// runs what queued up), as an overloaded Redis does; returns once a PING goes unanswered.
    pub fn stall(&self, duration: Duration) -> std::thread::JoinHandle<()> {
        let url = self.url();
        let stall = std::thread::spawn(move || {
            let mut connection = redis::Client::open(url).and_then(|client| client.get_connection()).expect("connect");
            redis::cmd("DEBUG").arg("SLEEP").arg(duration.as_secs_f64()).query::<()>(&mut connection).expect("stall");
        });
        let deadline = Instant::now() + duration;
        while self.ping_within(Duration::from_millis(50)).is_ok() {
            assert!(Instant::now() < deadline, "redis-server on port {} never stalled", self.port);
            std::thread::sleep(Duration::from_millis(5));
        }
        stall
    }

    /// Starts the server (again) on its port and files, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port.to_string();
        let dir = self.dir.display().to_string();
        let log = self.dir.join("redis.log").display().to_string();
        let file = |name: &str| self.dir.join(name).display().to_string();
        let (cert, key, ca) = (file("server.pem"), file("server.key"), file("ca.pem"));
        let mut arguments: Vec<&str> = if self.tls {
            let ca_arguments = ["--tls-ca-cert-file", &ca, "--tls-auth-clients", "no"];
            ["--port", "0", "--tls-port", &port, "--tls-cert-file", &cert, "--tls-key-file", &key]
                .into_iter()
                .chain(ca_arguments)
                .collect()
        } else {
            vec!["--port", &port]
        };
        let durable =
            ["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--maxmemory-policy", "noeviction"];
        arguments.extend(["--bind", "127.0.0.1", "--dir", &dir, "--logfile", &log, "--daemonize", "no"]);
        arguments.extend(durable);
        arguments.extend(["--enable-debug-command", "local"]);
        if let Some(password) = &self.password {
            arguments.extend(["--requirepass", password.as_str()]);
        }
        let arguments: Vec<String> = arguments.into_iter().map(str::to_owned).collect();
        let cleanup = self.cleanup.then_some(self.dir.as_path());
        self.running = Some(Guarded::spawn(Path::new("redis-server"), &arguments, cleanup, |_| {}));
        self.wait_until_ready();
    }

    /// Until it answers PING (a TLS server: until it accepts connections; its files are new and
    /// empty, so there is nothing for it to load first).
    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answered = if self.tls {
                std::net::TcpStream::connect(("127.0.0.1", self.port)).map(drop).map_err(redis::RedisError::from)
            } else {
                self.ping()
            };
            match answered {
                Ok(()) => return,
                Err(error) if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                    panic!("redis-server on port {} never answered ({error}); its log:\n{log}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn ping(&self) -> redis::RedisResult<()> {
        self.ping_within(Duration::from_millis(500))
    }

    fn ping_within(&self, timeout: Duration) -> redis::RedisResult<()> {
        let connection = redis::Client::open(self.url()).and_then(|client| client.get_connection_with_timeout(timeout));
        let mut connection = connection?;
        connection.set_read_timeout(Some(timeout))?;
        redis::cmd("PING").query::<()>(&mut connection)
    }
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
