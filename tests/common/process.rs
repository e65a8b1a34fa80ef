//! The real `rustchat` binary as a child process: a clean environment (no inherited `RUSTCHAT_*`), its
//! own working directory, and stdout/stderr collected line by line for assertions on real output.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BINARY: &str = env!("CARGO_BIN_EXE_rustchat");

/// A command for the binary with only the given `RUSTCHAT_*` variables, run in `dir`.
pub fn command(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(BINARY);
    for (k, _) in std::env::vars() {
        if k.starts_with("RUSTCHAT_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir).args(args).envs(vars.iter().copied()).stdin(Stdio::null());
    cmd
}

/// Runs the binary to completion and returns (exit code, stdout, stderr). A run that has not ended
/// after 60 s is killed and fails the test, so a command that should exit can never hang a test.
pub fn run(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    run_with_stdin(dir, vars, args, None)
}

/// [`run`], with `input` written to the binary's stdin (then closed) when given.
pub fn run_with_stdin(dir: &Path, vars: &[(&str, &str)], args: &[&str], input: Option<&str>) -> (i32, String, String) {
    let mut cmd = command(dir, vars, args);
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    if let Some(text) = input {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // The binary may refuse before reading (bad arguments): a closed pipe is its answer, not ours.
        let _ = stdin.write_all(text.as_bytes());
    }
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let mut process = NodeProcess { child, dir: dir.to_path_buf(), stdout, stderr };
    let status = process.wait_exit(Duration::from_secs(60));
    let out = process.stdout_lines().join("\n");
    let err = process.stderr_lines().join("\n");
    let status = status.unwrap_or_else(|| panic!("rustchat {args:?} did not exit within 60 s:\n{out}\n{err}"));
    // The reader threads may lag the exit by a moment; wait for the pipes to close.
    process.wait_for_output_end();
    (status.code().unwrap_or(-1), process.stdout_lines().join("\n"), process.stderr_lines().join("\n"))
}

/// A running node process.
pub struct NodeProcess {
    child: Child,
    pub dir: PathBuf,
    stdout: Lines,
    stderr: Lines,
}

impl NodeProcess {
    pub fn start(dir: &Path, vars: &[(&str, &str)]) -> NodeProcess {
        let mut child = command(dir, vars, &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        NodeProcess { child, dir: dir.to_path_buf(), stdout, stderr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.0.lock().unwrap().clone()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.0.lock().unwrap().clone()
    }

    /// Stdout lines parsed as JSON; panics on a line that is not a JSON object.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout_lines()
            .iter()
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"));
                assert!(v.is_object(), "log line is not an object: {l}");
                v
            })
            .collect()
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a pid we own.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// After exit: waits (at most 5 s) until both output streams are read to their end.
    pub fn wait_for_output_end(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let ended = |l: &Lines| l.1.load(std::sync::atomic::Ordering::SeqCst);
        while !(ended(&self.stdout) && ended(&self.stderr)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines read so far, and whether the stream has ended.
type Lines = Arc<(Mutex<Vec<String>>, std::sync::atomic::AtomicBool)>;

fn collect(stream: impl std::io::Read + Send + 'static) -> Lines {
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.0.lock().unwrap().push(line);
        }
        sink.1.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    lines
}

/// A free loopback port (bound, then released) for a node started later. It is taken below the
/// kernel's ephemeral range (32768–60999): a port from that range can be handed to some other test's
/// outgoing connection before the node binds it (seen on CI beside the load tool's smoke runs).
pub fn free_port() -> u16 {
    loop {
        let port = 20_000 + rand::random::<u16>() % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
