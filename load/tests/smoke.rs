//! A small run of each scenario against real node processes, in seconds: proves the tool works and that
//! its loss / duplication / order checks pass — and that they fail when something is lost. Asserts
//! correctness, never speed.
//!
//! The rolling-restart run needs PostgreSQL and Redis (127.0.0.1:5432 and :6379, as `scripts/bench`
//! expects); without them it is skipped with a message, except on CI (`CI=true`), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Where this build put its binaries (the node is built by the same workspace build).
fn bin_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    target.join(profile)
}

fn node_binary() -> Option<PathBuf> {
    let binary = bin_dir().join("rustchat");
    if !binary.exists() {
        assert!(!on_ci(), "{} is missing: build the workspace first", binary.display());
        eprintln!("SKIPPED: {} not built", binary.display());
        return None;
    }
    Some(binary)
}

/// A running node on embedded SQLite; its data directory lives as long as it does.
struct Node(std::process::Child, u16, tempfile::TempDir);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Node {
    fn target(&self) -> String {
        format!("http://127.0.0.1:{}", self.1)
    }

    /// The node's warnings so far (it logs at `warn`).
    fn log(&self) -> String {
        std::fs::read_to_string(self.2.path().join("node.log")).unwrap_or_default()
    }
}

/// A free port below the kernel's ephemeral range (32768–60999), so no other test's outgoing connection
/// can take it between this check and the node's bind.
fn free_port() -> u16 {
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
        ^ std::process::id().rotate_left(16);
    loop {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let port = 20_000 + ((seed >> 8) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn start_node(extra: &[(&str, &str)]) -> Option<Node> {
    let binary = node_binary()?;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(binary);
    for (k, _) in std::env::vars() {
        if k.starts_with("RUSTCHAT_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .current_dir(dir.path())
        .env("RUSTCHAT_SERVER_HOST", "127.0.0.1")
        .env("RUSTCHAT_SERVER_PORT", port.to_string())
        .env("RUSTCHAT_LOG_LEVEL", "warn")
        .env("RUSTCHAT_LOG_FORMAT", "json")
        .env("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", "1000000")
        .env("RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE", "1000000")
        .envs(extra.iter().copied())
        // The node's log stays beside its data, for a failing test to show (`Node::log`).
        .stdout(std::fs::File::create(dir.path().join("node.log")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "node did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Node(child, port, dir))
}

/// Runs the tool; returns whether it succeeded and its JSON result.
fn load(node: &Node, args: &[&str]) -> (bool, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_rustchat-load"))
        .args(["--targets", &node.target(), "--pids", &node.0.id().to_string()])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("rustchat-load {args:?} printed no result ({e}):\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    (out.status.success(), v)
}

fn run(node: &Node, args: &[&str]) -> Value {
    let (ok, v) = load(node, args);
    assert!(ok, "rustchat-load {args:?} failed: {:#}", v["checks"]);
    assert_clean(&v);
    v
}

fn n(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, p| &v[*p]).as_u64().unwrap_or_else(|| panic!("{path:?} missing in {v}"))
}

fn assert_clean(v: &Value) {
    for field in ["lost", "duplicated", "reordered", "gaps", "holes", "never_connected", "drain_pending"] {
        assert_eq!(n(v, &[field]), 0, "{field} in {v:#}");
    }
    assert_eq!(v["checks"]["passed"], true, "{v:#}");
    assert_eq!(v["deliveries"], v["expected_deliveries"], "{v:#}");
    assert_eq!(n(v, &["protocol", "resume_errors"]), 0);
    assert_eq!(n(v, &["protocol", "resume_unknown_channels"]), 0);
    assert_eq!(n(v, &["protocol", "hello_channel_count_mismatch"]), 0, "each user is in exactly its planned channels");
}

#[test]
fn fanout_reaches_everyone() {
    let Some(node) = start_node(&[]) else { return };
    let v = run(&node, &["--scenario", "fanout", "--connections", "40", "--rate", "20", "--duration", "2"]);
    let acked = n(&v, &["posts", "acked"]);
    assert_eq!(acked, 40);
    assert_eq!(n(&v, &["deliveries"]), acked * 40, "every post at every member");
    assert!(v["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    let q = |k: &str| v["latency_ms"][k].as_f64().unwrap_or_else(|| panic!("latency_ms.{k} missing"));
    assert!(q("p50") <= q("p95") && q("p95") <= q("p99"), "p50 ≤ p95 ≤ p99: {}", v["latency_ms"]);
    assert!(n(&v, &["server", "rss_kib_connected"]) > 0, "server RSS read from /proc");
    assert!(v["server"]["cpu_s_load"].as_f64().unwrap() > 0.0, "server CPU read from /proc");
}

#[test]
fn chat_with_churn_loses_nothing() {
    let Some(node) = start_node(&[]) else { return };
    let md = tempfile::NamedTempFile::new().unwrap();
    let v = run(
        &node,
        &[
            "--scenario",
            "chat",
            "--connections",
            "100",
            "--group",
            "10",
            "--rate",
            "40",
            "--duration",
            "4",
            "--personal-fraction",
            "0.25",
            "--churn-percent",
            "10",
            "--markdown",
            md.path().to_str().unwrap(),
        ],
    );
    let acked = n(&v, &["posts", "acked"]);
    assert_eq!(acked, 160);
    // A quarter of the posts reach one reader (the poster's personal channel), the rest ten.
    assert_eq!(n(&v, &["deliveries"]), 40 + 120 * 10);
    assert!(n(&v, &["reconnects", "churn", "count"]) >= 20, "about 10 reconnects a second: {v:#}");
    assert_eq!(n(&v, &["reconnects", "closes", "churn"]), n(&v, &["reconnects", "churn", "count"]));
    let md = std::fs::read_to_string(md.path()).unwrap();
    assert!(md.contains("| 160 | 1240 | 0 | 0 | 0 |"), "{md}");
}

#[test]
fn idle_sockets_across_two_worker_processes() {
    let Some(node) = start_node(&[]) else { return };
    let v = run(
        &node,
        &[
            "--scenario",
            "idle",
            "--connections",
            "300",
            "--duration",
            "1",
            "--processes",
            "2",
            "--source-addresses",
            "3",
        ],
    );
    assert_eq!(n(&v, &["connected"]), 300);
    assert_eq!(n(&v, &["processes"]), 2);
    assert!(n(&v, &["server", "rss_kib_connected"]) > n(&v, &["server", "rss_kib_before"]));
    assert!(v["server"]["rss_kib_per_connection"].as_f64().unwrap() > 0.0);
    assert_eq!(n(&v, &["seeding", "channels"]), 330, "a personal channel each and one per 10-member group");
}

#[test]
fn slow_consumers_are_closed_and_the_others_lose_nothing() {
    // A short outbound queue, so the clients that stop reading are closed within the run; not so
    // short that a reader of the tool's own, stalled a few hundred ms on a busy CI machine, counts as
    // slow (16 frames, 160 ms at this rate, closed 2 of 9 readers there): 64 frames, 640 ms, 960 KB.
    let Some(node) = start_node(&[("RUSTCHAT_WS_MAX_QUEUED_FRAMES", "64")]) else { return };
    let v = run(
        &node,
        &[
            "--scenario",
            "fanout",
            "--connections",
            "12",
            "--rate",
            "100",
            "--duration",
            "5",
            "--slow-percent",
            "25",
            // More than the kernel can buffer for a stalled reader (tcp_wmem allows a 4 MiB send
            // buffer): 500 posts of 15 000 bytes, 7.5 MB per client (12 clients, so the run does not
            // starve the tests beside it). With 240 KB or 1 MB per client,
            // CI left some slow clients open: it all fit in loopback buffers.
            "--message-bytes",
            "15000",
        ],
    );
    assert_eq!(n(&v, &["slow", "clients"]), 3);
    assert_eq!(n(&v, &["slow", "closed_4008"]), 3, "{:#}", v["slow"]);
    assert_eq!(n(&v, &["slow", "readers_closed_4008"]), 0, "{:#}\nnode log:\n{}", v["slow"], node.log());
    assert_eq!(n(&v, &["deliveries"]), n(&v, &["posts", "acked"]) * 9, "the 9 readers got everything");
}

#[test]
fn the_checks_catch_a_lost_event() {
    let Some(node) = start_node(&[]) else { return };
    let (ok, v) = load(
        &node,
        &[
            "--scenario",
            "chat",
            "--connections",
            "20",
            "--rate",
            "20",
            "--duration",
            "2",
            "--drain-timeout",
            "2",
            "--self-test-drop",
            "3",
        ],
    );
    assert!(!ok, "a run with lost events must fail");
    assert_eq!(n(&v, &["lost"]), 20, "each reader ignored one acknowledged event: {v:#}");
    assert_eq!(n(&v, &["readers_with_loss"]), 20);
    assert_eq!(v["checks"]["passed"], false);
}

fn reachable(what: &str, port: u16) -> bool {
    let up = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_ok();
    if !up {
        assert!(!on_ci(), "{what} is not reachable on 127.0.0.1:{port}, and tests never skip on CI");
        eprintln!("SKIPPED: {what} is not reachable on 127.0.0.1:{port}");
    }
    up
}

/// Scenario 4 in miniature through `scripts/bench restart`: two nodes on a fresh PostgreSQL database
/// and Redis prefix, each SIGTERMed and restarted in turn and then one `kill -9`ed, while posts,
/// churn and readers go on.
#[test]
fn rolling_restart_and_kill_lose_nothing() {
    if node_binary().is_none() || !reachable("PostgreSQL", 5432) || !reachable("Redis", 6379) {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/bench");
    let out = Command::new(script)
        .args(["restart", "--connections", "100", "--rate", "30", "--duration", "16", "--restart-at", "2"])
        .args(["--churn-percent", "2", "--drain-timeout", "30"])
        // The node and the tool as built for this test run, side by side.
        .env("BENCH_BIN_DIR", bin_dir())
        .env("BENCH_RESTART_PAUSE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scripts/bench restart failed:\n{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("no result ({e}):\n{stdout}\n{stderr}"));
    assert_clean(&v);
    assert_eq!(v["restart"]["exit_code"], 0, "{:#}", v["restart"]);
    let acked = n(&v, &["posts", "acked"]);
    assert_eq!(acked, n(&v, &["posts", "scheduled"]), "a post failing on one node succeeds on the other");
    assert!(n(&v, &["deliveries"]) >= acked * 10, "every acknowledged post at each of its 10 readers");
    let closes = &v["reconnects"]["closes"];
    assert!(closes["1012"].as_u64().unwrap_or(0) > 0, "drained nodes closed sockets with 1012: {closes}");
    assert!(closes["io"].as_u64().unwrap_or(0) > 0, "the killed node's sockets died: {closes}");
    assert!(n(&v, &["reconnects", "unplanned", "count"]) >= 100, "{:#}", v["reconnects"]);
    assert!(v["reconnects"]["unplanned"]["max"].as_f64().unwrap() > 0.0);
    assert_eq!(v["server"]["incarnations"], serde_json::json!([3, 2]), "node-1 restarted twice, node-2 once");
}
