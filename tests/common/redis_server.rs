//! A `redis-server` process a test owns, on a free loopback port, with no persistence (`--save ""
//! --appendonly no`): killing it and starting it again on the same port gives an empty Redis, as a
//! production Redis without persistence comes back after a crash. The process is killed on drop,
//! even when the test fails.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::eventually;
use super::process::free_port;

pub struct TempRedis {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

/// `true` when `redis-server` is installed; on CI a missing one fails the test instead.
pub fn redis_server_installed() -> bool {
    let found = Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    super::available_tool("redis-server", found)
}

impl TempRedis {
    /// Starts one and waits until it answers `PING`; `None` when `redis-server` is missing outside CI.
    pub async fn start() -> Option<TempRedis> {
        if !redis_server_installed() {
            return None;
        }
        let mut redis = TempRedis { port: free_port(), child: None, dir: tempfile::tempdir().unwrap() };
        redis.launch().await;
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let url = self.url();
        eventually(Duration::from_secs(10), "the test's redis-server to answer PING", || {
            let url = url.clone();
            async move {
                let client = redis::Client::open(url).ok()?;
                let mut c = client.get_multiplexed_async_connection().await.ok()?;
                redis::cmd("PING").query_async::<String>(&mut c).await.ok()
            }
        })
        .await;
    }

    /// `kill -9`: whatever it held is gone (nothing was persisted).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, empty, on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }

    /// A fresh connection for the test's own commands.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }
}

impl Drop for TempRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
