//! A PostgreSQL server of the test's own: `initdb` into a temporary folder, started with `pg_ctl` on a
//! free loopback port, so a test can stop, restart or fail it over without touching the machine's
//! shared server. Dropping it stops the server (immediate mode) and removes the folder, also when the
//! test panics.
//!
//! The binaries come from `PG_BIN` or the newest `/usr/lib/postgresql/<version>/bin` (Debian). PostgreSQL
//! refuses to run as root, so under root every command runs as the `postgres` user (`runuser`), in a
//! folder handed to that user.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::process::free_port;

/// Where PostgreSQL's server binaries are, if anywhere.
fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// One PostgreSQL server (one data directory) under a temporary folder.
pub struct TempPostgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    /// The folder everything lives in; removed on drop, after the server has stopped.
    root: tempfile::TempDir,
    running: bool,
}

impl TempPostgres {
    /// A fresh cluster (`initdb`), started, with an empty database `rustchat`. `None` when PostgreSQL's
    /// binaries are not installed (outside CI; on CI that fails the test).
    pub async fn start() -> Option<TempPostgres> {
        let bin = bin_dir();
        if !super::available_tool("PostgreSQL server binaries (initdb, pg_ctl)", bin.is_some()) {
            return None;
        }
        let mut pg = TempPostgres::empty(bin.unwrap());
        pg.run_tool(
            "initdb",
            &["-D", path(&pg.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
        );
        // Small and quick: fsync is off (a fast shutdown still writes everything out; a test never
        // survives a power cut), and a replica may stream from this server.
        let conf = "listen_addresses = '127.0.0.1'\nfsync = off\nfull_page_writes = off\n\
                    shared_buffers = 16MB\nmax_connections = 60\nwal_level = replica\nmax_wal_senders = 4\n";
        append(&pg.data.join("postgresql.conf"), conf);
        pg.start_server().await;
        pg.psql("postgres", "CREATE DATABASE rustchat");
        Some(pg)
    }

    /// An unstarted server folder: the temporary root handed to the `postgres` user when we are root.
    fn empty(bin: PathBuf) -> TempPostgres {
        let root = tempfile::Builder::new().prefix("rustchat-pg-").tempdir().unwrap();
        if running_as_root() {
            let ok = Command::new("chown").args(["postgres:postgres", path(root.path())]).status().unwrap().success();
            assert!(ok, "chown of {} to postgres failed", root.path().display());
        }
        TempPostgres {
            port: free_port(),
            data: root.path().join("data"),
            log: root.path().join("server.log"),
            bin,
            root,
            running: false,
        }
    }

    /// `postgres://postgres@127.0.0.1:<port>/rustchat`: what a node's `RUSTCHAT_DATABASE_URL` is.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/rustchat", self.port)
    }

    /// The server's own log so far (for failure messages).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs one of PostgreSQL's tools (as `postgres` under root); panics with its output on failure.
    fn run_tool(&self, tool: &str, args: &[&str]) -> String {
        let program = self.bin.join(tool);
        let mut cmd = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // A folder the postgres user can stand in: ours may be one it cannot read.
        cmd.args(args).current_dir(self.root.path()).stdin(Stdio::null());
        for var in ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGDATA", "PGPASSWORD"] {
            cmd.env_remove(var);
        }
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{tool} {args:?} failed: {text}\nserver log:\n{}", self.server_log());
        text
    }

    /// Runs one SQL statement with `psql` against database `db`; returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let port = self.port.to_string();
        self.run_tool(
            "psql",
            &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
        )
    }

    /// Starts the server and waits until it accepts connections.
    async fn start_server(&mut self) {
        let options = format!("-p {} -k {}", self.port, path(self.root.path()));
        let (data, log) = (path(&self.data).to_string(), path(&self.log).to_string());
        self.blocking(move |pg| {
            pg.run_tool("pg_ctl", &["-D", &data, "-l", &log, "-o", &options, "-w", "-t", "30", "start"]);
        })
        .await;
        self.running = true;
    }

    /// Stops the server with a fast shutdown (`pg_ctl stop -m fast`): sessions are ended, open
    /// transactions rolled back, and everything committed is on disk (and sent to any replica).
    pub async fn stop(&mut self) {
        let data = path(&self.data).to_string();
        self.blocking(move |pg| {
            pg.run_tool("pg_ctl", &["-D", &data, "-m", "fast", "-w", "-t", "30", "stop"]);
        })
        .await;
        self.running = false;
    }

    /// Starts a stopped server again, on the same port and data.
    pub async fn start_again(&mut self) {
        assert!(!self.running, "the server is already running");
        self.start_server().await;
    }

    /// A streaming replica of this (running) server on a port of its own (`pg_basebackup -R`), started
    /// in standby mode: what a managed database's failover target is.
    pub async fn replica(&self) -> TempPostgres {
        let mut copy = TempPostgres::empty(self.bin.clone());
        let (port, data) = (self.port.to_string(), path(&copy.data).to_string());
        copy.blocking(move |c| {
            c.run_tool(
                "pg_basebackup",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "postgres",
                    "-D",
                    &data,
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",
                ],
            );
        })
        .await;
        copy.start_server().await;
        copy
    }

    /// Promotes a replica to a primary (`pg_ctl promote`, waiting until it accepts writes).
    pub async fn promote(&self) {
        let data = path(&self.data).to_string();
        self.blocking(move |pg| {
            pg.run_tool("pg_ctl", &["-D", &data, "-w", "-t", "30", "promote"]);
        })
        .await;
    }

    /// Runs `f` (PostgreSQL's tools take a second or two) without stalling the runtime's other tasks:
    /// the tests using this run on the multi-threaded runtime.
    async fn blocking(&self, f: impl FnOnce(&TempPostgres)) {
        tokio::task::block_in_place(|| f(self));
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failed test shows what the server said; its folder is about to go.
            let log = self.server_log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
            eprintln!("PostgreSQL on port {} (last lines of its log):\n{}", self.port, tail.join("\n"));
        }
        if self.running || self.data.join("postmaster.pid").exists() {
            // Immediate: nothing here needs to survive, and a test that failed should not wait.
            let data = path(&self.data).to_string();
            let mut cmd = if running_as_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(self.bin.join("pg_ctl"));
                c
            } else {
                Command::new(self.bin.join("pg_ctl"))
            };
            let _ = cmd
                .args(["-D", &data, "-m", "immediate", "-w", "-t", "20", "stop"])
                .current_dir(self.root.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        // The TempDir field removes the folder (root may remove what postgres owns; a non-root run
        // owns everything already).
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn append(file: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}
