//! HAProxy in front of test nodes, as the runbook's load balancer: round-robin, readiness health
//! checks every 300 ms, its runtime API on a Unix socket (drain, enable, show state).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::process::free_port;

pub struct Balancer {
    child: std::process::Child,
    socket: std::path::PathBuf,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Balancer {
    /// HAProxy on a free port, round-robin over `ports` with readiness checks; `None` when HAProxy is
    /// not installed outside CI.
    pub fn start(ports: &[u16]) -> Option<Balancer> {
        if std::process::Command::new("haproxy").arg("-v").output().is_err() {
            assert!(std::env::var("CI").is_err(), "haproxy must be installed on CI (.ci/run installs it)");
            eprintln!("SKIPPED: haproxy is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("admin.sock");
        let port = free_port();
        let servers: String =
            ports.iter().enumerate().map(|(i, p)| format!("  server node{i} 127.0.0.1:{p} check\n")).collect();
        let config = format!(
            "global\n  stats socket {} mode 600 level admin\n  maxconn 4096\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n  timeout tunnel 1h\n  option redispatch\n  retries 3\n\
             frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n\
             backend be\n  balance roundrobin\n  option httpchk GET /api/v1/health/ready\n  http-check expect status 200\n  default-server inter 300ms fall 2 rise 2\n{servers}",
            socket.display()
        );
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, config).unwrap();
        let child = std::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Some(Balancer { child, socket, port, _dir: dir })
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One command on HAProxy's runtime API (what `curl -X POST http://lb/admin/drain/node` stands for).
    pub async fn admin(&self, command: &str) -> String {
        let mut tries = 0;
        let mut s = loop {
            match tokio::net::UnixStream::connect(&self.socket).await {
                Ok(s) => break s,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("HAProxy's runtime API does not answer: {e}"),
            }
        };
        s.write_all(format!("{command}\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// The `show servers state` line of node `node`.
    pub async fn server_state(&self, node: usize) -> String {
        self.admin("show servers state be")
            .await
            .lines()
            .find(|l| l.contains(&format!(" node{node} ")))
            .unwrap_or("")
            .to_string()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
