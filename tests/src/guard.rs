//! Child processes that cannot outlive the tests (redis-server, `levee serve`, `spin up`): each
//! runs under a small shell guard that holds a pipe from the test process. When the test process
//! ends, however it ends, the pipe closes and the guard kills its child with SIGKILL. The child
//! runs in a process group of its own, and the whole group is killed: `spin up` runs its trigger
//! as a child process of its own, which would outlive a kill of `spin up` alone.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Runs its arguments as the child in a new session (so its pid is its process group's), prints
/// the child's pid first, then waits for its stdin to close (or a line) and kills the child's
/// process group; with `LEVEE_GUARD_CLEANUP` set, removes that directory.
const GUARD: &str = r#"setsid "$@" & echo $!; read -r _; kill -9 -$! 2>/dev/null; kill -9 $! 2>/dev/null; wait
[ -n "${LEVEE_GUARD_CLEANUP:-}" ] && rm -rf "$LEVEE_GUARD_CLEANUP"; exit 0"#;

/// A guarded child process.
pub struct Guarded {
    pub pid: u32,
    guard: Child,
    pipe: Option<ChildStdin>,
    /// The child's standard output, after the guard's pid line.
    pub stdout: Option<BufReader<ChildStdout>>,
}

impl Guarded {
    /// Starts `program` with `args` under a guard; `configure` sets the environment and stderr
    /// (stdin and stdout belong to the guard). `cleanup`: a directory to remove once it is gone.
    pub fn spawn(
        program: &Path,
        args: &[String],
        cleanup: Option<&Path>,
        configure: impl FnOnce(&mut Command),
    ) -> Guarded {
        let mut command = Command::new("sh");
        command.arg("-c").arg(GUARD).arg("guard").arg(program).args(args);
        if let Some(directory) = cleanup {
            command.env("LEVEE_GUARD_CLEANUP", directory);
        }
        configure(&mut command);
        let mut guard = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", program.display()));
        let pipe = guard.stdin.take();
        let mut stdout = BufReader::new(guard.stdout.take().expect("the guard's stdout"));
        let mut first_line = String::new();
        stdout.read_line(&mut first_line).expect("the guard prints the child's pid");
        let pid = first_line.trim().parse().unwrap_or_else(|_| panic!("not a pid: {first_line:?}"));
        Guarded { pid, guard, pipe, stdout: Some(stdout) }
    }

    /// Kills the child and its process group with SIGKILL, as a crash would, and reaps it and
    /// its guard.
    pub fn kill(&mut self) {
        let _ = Command::new("kill").args(["-9", "--", &format!("-{}", self.pid)]).status();
        self.release();
    }

    /// Whether the child has gone. Its guard reaps it only once the pipe closes, so until then
    /// a dead child is a zombie: this reads its state from /proc.
    pub fn has_exited(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else { return true };
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        matches!(state, None | Some('Z' | 'X'))
    }

    /// Closes the pipe (the guard kills the child if it still runs) and reaps the guard.
    fn release(&mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            let _ = pipe.write_all(b"\n");
        }
        let _ = self.guard.wait();
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.release();
    }
}
