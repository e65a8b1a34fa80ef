//! A small run of each scenario against a real node, in seconds: proves the tool works and that its
//! loss / duplication / order checks pass. Asserts correctness, never speed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn node_binary() -> std::path::PathBuf {
    // Built by the same workspace build (`cargo nextest run --workspace` builds every binary).
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    target.join(profile).join("rustchat")
}

/// A running node; its data directory lives as long as it does.
struct Node(std::process::Child, u16, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_node() -> Option<Node> {
    let binary = node_binary();
    if !binary.exists() {
        assert!(std::env::var("CI").is_err(), "{} is missing: build the workspace first", binary.display());
        eprintln!("SKIPPED: {} not built", binary.display());
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(binary)
        .current_dir(dir.path())
        .env("RUSTCHAT_SERVER_HOST", "127.0.0.1")
        .env("RUSTCHAT_SERVER_PORT", port.to_string())
        .env("RUSTCHAT_LOG_LEVEL", "warn")
        .env("RUSTCHAT_LOG_FORMAT", "json")
        .env("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", "1000000")
        .env("RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE", "1000000")
        .stdout(Stdio::null())
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

fn run(node: &Node, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_rustchat-load"))
        .args(["--targets", &format!("http://127.0.0.1:{}", node.1), "--pids", &node.0.id().to_string()])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "rustchat-load {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn each_scenario_runs_and_nothing_is_lost_duplicated_or_reordered() {
    let Some(node) = start_node() else { return };
    let fanout = run(&node, &["--scenario", "fanout", "--connections", "40", "--rate", "20", "--duration", "2"]);
    assert_eq!(fanout["deliveries"], fanout["expected_deliveries"]);
    assert!(fanout["deliveries"].as_u64().unwrap() >= 40 * 39, "{fanout}");
    assert_eq!(
        (fanout["lost"].as_u64(), fanout["duplicated"].as_u64(), fanout["reordered"].as_u64()),
        (Some(0), Some(0), Some(0))
    );
    assert!(fanout["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    assert!(fanout["server"]["rss_kib_connected"].as_u64().unwrap() > 0, "server RSS read from /proc");

    let chat =
        run(&node, &["--scenario", "chat", "--connections", "40", "--group", "10", "--rate", "20", "--duration", "2"]);
    assert_eq!(chat["deliveries"], chat["expected_deliveries"]);
    let idle = run(&node, &["--scenario", "idle", "--connections", "60", "--duration", "1"]);
    assert_eq!(idle["connected"], 60);
    let slow = run(
        &node,
        &["--scenario", "fanout", "--connections", "40", "--rate", "10", "--duration", "2", "--slow-percent", "5"],
    );
    assert_eq!(
        slow["deliveries"], slow["expected_deliveries"],
        "readers are unaffected by the ones that stopped reading"
    );
}
