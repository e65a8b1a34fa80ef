//! A throwaway Redis Cluster for one test: local `redis-server` processes (`--cluster-enabled yes`)
//! on free ports in a temp dir, joined with `redis-cli --cluster create … --cluster-replicas N`, every
//! process killed when the value drops. A short `cluster-node-timeout` makes a killed master's
//! replica take over within a few seconds.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::Value;

use super::available_tool;
use super::eventually;
use super::process::free_port;

/// How long a node may be silent before the others call it failed (and its replica takes over).
const NODE_TIMEOUT_MS: u64 = 1000;

pub struct RedisCluster {
    dir: tempfile::TempDir,
    nodes: Vec<RedisNode>,
}

struct RedisNode {
    port: u16,
    child: Option<Child>,
}

fn installed(tool: &str) -> bool {
    Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

/// One command on one node (a plain connection: the node, not the cluster).
pub async fn on_node<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(url(port))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    let mut c = client.get_multiplexed_async_connection_with_config(&config).await?;
    cmd.query_async(&mut c).await
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

impl RedisCluster {
    /// `masters` masters with `replicas` replicas each; `None` when `redis-server`/`redis-cli` are
    /// missing outside CI (on CI that fails the test).
    pub async fn start(masters: usize, replicas: usize) -> Option<RedisCluster> {
        if !available_tool("redis-server and redis-cli", installed("redis-server") && installed("redis-cli")) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = RedisCluster { dir, nodes: Vec::new() };
        for _ in 0..masters * (1 + replicas) {
            let port = free_cluster_port();
            let child = spawn_server(cluster.dir.path(), port);
            cluster.nodes.push(RedisNode { port, child: Some(child) });
        }
        for node in &cluster.nodes {
            let port = node.port;
            eventually(Duration::from_secs(10), "redis-server to answer", || async move {
                on_node::<String>(port, &redis::cmd("PING")).await.ok()
            })
            .await;
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let out = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "redis-cli --cluster create failed:\n{}", String::from_utf8_lossy(&out.stdout));
        let total = cluster.nodes.len();
        for port in cluster.ports() {
            eventually(Duration::from_secs(20), "every node to see the whole cluster up", || async move {
                let info: String = on_node(port, redis::cmd("CLUSTER").arg("INFO")).await.ok()?;
                (info.contains("cluster_state:ok") && info.contains(&format!("cluster_known_nodes:{total}")))
                    .then_some(())
            })
            .await;
        }
        // Replicas must have synced before a failover test can count on them.
        for port in cluster.masters().await {
            eventually(Duration::from_secs(20), "each master's replicas to be online", || async move {
                let info: String = on_node(port, redis::cmd("INFO").arg("replication")).await.ok()?;
                (info.lines().filter(|l| l.starts_with("slave") && l.contains("state=online")).count() >= replicas)
                    .then_some(())
            })
            .await;
        }
        Some(cluster)
    }

    /// Every running node's port.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().filter(|n| n.child.is_some()).map(|n| n.port).collect()
    }

    /// The seed list for `RUSTCHAT_REDIS_URL`: every running node, comma-separated.
    pub fn seeds(&self) -> String {
        self.ports().into_iter().map(url).collect::<Vec<_>>().join(",")
    }

    /// `CLUSTER SLOTS` as a running node sees it: (first slot, last slot, master port).
    pub async fn slots(&self) -> Vec<(i64, i64, u16)> {
        for port in self.ports() {
            let Ok(Value::Array(ranges)) = on_node::<Value>(port, redis::cmd("CLUSTER").arg("SLOTS")).await else {
                continue;
            };
            return ranges
                .iter()
                .filter_map(|r| {
                    let Value::Array(r) = r else { return None };
                    let (Value::Int(first), Value::Int(last), Value::Array(master)) = (&r[0], &r[1], &r[2]) else {
                        return None;
                    };
                    let Value::Int(port) = master.get(1)? else { return None };
                    Some((*first, *last, u16::try_from(*port).ok()?))
                })
                .collect();
        }
        panic!("no running Redis node answers CLUSTER SLOTS");
    }

    /// The masters' ports.
    pub async fn masters(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.slots().await.into_iter().map(|(_, _, p)| p).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The port of the master serving `key` (or a sharded pub/sub channel of that name).
    pub async fn master_of(&self, key: &str) -> u16 {
        let port = self.ports()[0];
        let slot: i64 = on_node(port, redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).await.unwrap();
        self.slots()
            .await
            .into_iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .map(|(_, _, p)| p)
            .unwrap_or_else(|| panic!("slot {slot} is not served"))
    }

    /// `kill -9` the node on `port`.
    pub fn kill(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|n| n.port == port).expect("no such node");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until `key`'s slot is served by a master other than `old` and every running node says
    /// the cluster is ok (the failed master's replica took over); returns the new master's port.
    pub async fn wait_failover(&self, key: &str, old: u16) -> u16 {
        eventually(Duration::from_secs(30), "a replica to take over the killed master's slots", || async move {
            for port in self.ports() {
                let info: String = on_node(port, redis::cmd("CLUSTER").arg("INFO")).await.ok()?;
                if !info.contains("cluster_state:ok") {
                    return None;
                }
            }
            let new = self.master_of(key).await;
            (new != old).then_some(new)
        })
        .await
    }

    /// `PUBSUB <subcommand> <pattern>` on the node at `port`.
    pub async fn pubsub(&self, port: u16, subcommand: &str, pattern: &str) -> Vec<String> {
        let v: Value = on_node(port, redis::cmd("PUBSUB").arg(subcommand).arg(pattern)).await.unwrap();
        match v {
            Value::Array(items) | Value::Set(items) => items.iter().filter_map(text).collect(),
            _ => Vec::new(),
        }
    }
}

/// A port whose cluster bus port (10 000 above it) is free too, both below the kernel's ephemeral range
/// (from 32 768): a bus port in that range can be taken meanwhile by any outgoing connection, and the
/// node then exits at start.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 22_700 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn spawn_server(dir: &Path, port: u16) -> Child {
    let conf = format!("nodes-{port}.conf");
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--protected-mode", "no"])
        .args(["--cluster-enabled", "yes", "--cluster-config-file", &conf])
        .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
        // A replica takes over however long it was cut off from its master.
        .args(["--cluster-replica-validity-factor", "0"])
        // The other shards keep serving while one fails over.
        .args(["--cluster-require-full-coverage", "no"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start redis-server")
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
