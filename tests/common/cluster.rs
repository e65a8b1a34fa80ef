//! Several real `rustchat` processes sharing one fresh PostgreSQL database and one Redis key prefix:
//! a cluster on loopback. Nodes can be stopped (SIGTERM), killed (`kill -9`) and restarted on the same
//! port. Redis can be reached through a [`TcpProxy`] to cut it off mid-test.

use std::sync::Arc;
use std::time::Duration;

use super::process::free_port;
use super::{NodeProcess, TcpProxy, TestDb, eventually, redis_available, redis_url};

const JWT: &str = "Y2x1c3Rlci10ZXN0LWp3dC1zZWNyZXQtc2hhcmVkLWJ5LWV2ZXJ5LW5vZGUtMDEyMzQ1";
const KEY: &str = "Y2x1c3Rlci10ZXN0LWVuY3J5cHRpb24ta2V5LXNoYXJlZC1ieS1ldmVyeS1ub2RlLTk4";

/// The variables node `i` of a test cluster starts with: its port and id, the shared database, Redis
/// prefix and secrets, JSON logs, one worker, a short shutdown grace and limits tests never reach.
pub fn node_vars(i: usize, port: u16, database_url: &str, redis_url: &str, prefix: &str) -> Vec<(String, String)> {
    let (port, node_id) = (port.to_string(), format!("node-{i}"));
    [
        ("RUSTCHAT_DATABASE_URL", database_url),
        ("RUSTCHAT_REDIS_URL", redis_url),
        ("RUSTCHAT_REDIS_PREFIX", prefix),
        ("RUSTCHAT_SERVER_HOST", "127.0.0.1"),
        ("RUSTCHAT_SERVER_PORT", port.as_str()),
        ("RUSTCHAT_SERVER_WORKERS", "1"),
        ("RUSTCHAT_NODE_ID", node_id.as_str()),
        ("RUSTCHAT_JWT_SECRET", JWT),
        ("RUSTCHAT_ENCRYPTION_KEY", KEY),
        ("RUSTCHAT_LOG_FORMAT", "json"),
        ("RUSTCHAT_SHUTDOWN_GRACE_SECONDS", "5"),
        ("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", "100000"),
        ("RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE", "100000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Variables per node: node `i` gets `[i]`.
type NodeVars = Vec<Vec<(String, String)>>;

pub struct Cluster {
    pub db: TestDb,
    pub prefix: String,
    pub redis_url: String,
    /// Present when the cluster reaches Redis through a cuttable proxy.
    pub redis_proxy: Option<Arc<TcpProxy>>,
    nodes: Vec<Option<NodeProcess>>,
    ports: Vec<u16>,
    dirs: Vec<tempfile::TempDir>,
    extra: Vec<(String, String)>,
    /// Variables for one node only, over `extra` (node `i` gets `node_extra[i]`).
    node_extra: NodeVars,
}

impl Cluster {
    /// `n` nodes; `None` when PostgreSQL or Redis is down outside CI.
    pub async fn start(n: usize, extra: &[(&str, &str)]) -> Option<Cluster> {
        Self::start_with(n, extra, false).await
    }

    /// Like [`Cluster::start`], with Redis behind a proxy the test can cut.
    pub async fn start_behind_proxy(n: usize, extra: &[(&str, &str)]) -> Option<Cluster> {
        Self::start_with(n, extra, true).await
    }

    /// Like [`Cluster::start`], with some nodes on given ports (`None`: any free port).
    pub async fn start_with_ports(n: usize, extra: &[(&str, &str)], ports: &[Option<u16>]) -> Option<Cluster> {
        Self::start_inner(n, extra, false, ports).await
    }

    async fn start_with(n: usize, extra: &[(&str, &str)], proxied: bool) -> Option<Cluster> {
        Self::start_inner(n, extra, proxied, &[]).await
    }

    /// `n` nodes on a Redis the test owns (`redis_url`, not the shared one), node `i` also getting
    /// `node_extra[i]` (its own Redis address, a fake clock). `None` when PostgreSQL is down outside CI.
    pub async fn start_on_redis(
        n: usize,
        extra: &[(&str, &str)],
        redis_url: &str,
        node_extra: &[Vec<(&str, &str)>],
    ) -> Option<Cluster> {
        let own = node_extra.iter().map(|v| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).collect();
        Self::start_core(n, extra, false, &[], Some((redis_url.to_string(), own))).await
    }

    async fn start_inner(n: usize, extra: &[(&str, &str)], proxied: bool, ports: &[Option<u16>]) -> Option<Cluster> {
        Self::start_core(n, extra, proxied, ports, None).await
    }

    async fn start_core(
        n: usize,
        extra: &[(&str, &str)],
        proxied: bool,
        ports: &[Option<u16>],
        own_redis: Option<(String, NodeVars)>,
    ) -> Option<Cluster> {
        if own_redis.is_none() && !redis_available().await {
            return None;
        }
        let db = TestDb::create().await?;
        let (own_url, node_extra) = own_redis.unzip();
        let (redis_url, redis_proxy) = if let Some(url) = own_url {
            (url, None)
        } else if proxied {
            let target = url::Url::parse(&redis_url()).unwrap();
            let proxy =
                TcpProxy::start(format!("{}:{}", target.host_str().unwrap(), target.port().unwrap_or(6379))).await;
            (format!("redis://127.0.0.1:{}", proxy.port), Some(proxy))
        } else {
            (redis_url(), None)
        };
        let mut cluster = Cluster {
            db,
            prefix: format!("rctest-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            redis_url,
            redis_proxy,
            nodes: Vec::new(),
            ports: Vec::new(),
            dirs: Vec::new(),
            extra: extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            node_extra: node_extra.unwrap_or_default(),
        };
        // The first node migrates; the others start once the schema is there.
        for i in 0..n {
            cluster.ports.push(ports.get(i).copied().flatten().unwrap_or_else(free_port));
            cluster.dirs.push(tempfile::tempdir().unwrap());
            cluster.nodes.push(None);
            cluster.launch(i);
            if i == 0 {
                cluster.wait_ready(0).await;
            }
        }
        for i in 1..n {
            cluster.wait_ready(i).await;
        }
        Some(cluster)
    }

    fn launch(&mut self, i: usize) {
        let mut vars = node_vars(i, self.ports[i], &self.db.url, &self.redis_url, &self.prefix);
        let own = self.node_extra.get(i).into_iter().flatten();
        for (k, v) in self.extra.iter().chain(own) {
            if k == "RUSTCHAT_SERVER_PORT" {
                continue;
            }
            vars.retain(|(name, _)| name != k);
            vars.push((k.clone(), v.clone()));
        }
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.nodes[i] = Some(NodeProcess::start(self.dirs[i].path(), &refs));
    }

    pub fn base(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    pub fn node(&self, i: usize) -> &NodeProcess {
        self.nodes[i].as_ref().expect("node is not running")
    }

    /// Waits until node `i` answers readiness with 200.
    pub async fn wait_ready(&self, i: usize) {
        let url = format!("{}/api/v1/health/ready", self.base(i));
        let lines = || self.nodes[i].as_ref().map(|n| n.stdout_lines().join("\n")).unwrap_or_default();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Ok(r) = reqwest::get(&url).await
                    && r.status() == 200
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(ready.is_ok(), "node {i} not ready within 60 s:\n{}", lines());
    }

    /// `kill -9`: no goodbye, no drain.
    pub fn kill9(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].take() {
            node.signal(libc::SIGKILL);
            drop(node);
        }
    }

    /// SIGTERM, then waits for the exit; returns the exit code.
    pub async fn stop(&mut self, i: usize) -> Option<i32> {
        let mut node = self.nodes[i].take()?;
        node.signal(libc::SIGTERM);
        let (status, node) =
            tokio::task::spawn_blocking(move || (node.wait_exit(Duration::from_secs(30)), node)).await.unwrap();
        drop(node);
        status.and_then(|s| s.code())
    }

    /// Starts node `i` again on its port and waits until it is ready.
    pub async fn restart(&mut self, i: usize) {
        self.launch(i);
        self.wait_ready(i).await;
    }

    /// Node `i`'s log lines so far, parsed.
    pub fn logs(&self, i: usize) -> Vec<serde_json::Value> {
        self.node(i).json_lines()
    }

    /// Waits until some log line of node `i` satisfies `pred`.
    pub async fn wait_log(&self, i: usize, what: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        eventually(Duration::from_secs(30), what, || {
            let found = self.logs(i).into_iter().find(|l| pred(l));
            async move { found }
        })
        .await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut() {
            drop(node.take());
        }
        // Leave no keys behind under this test's prefix.
        let prefix = self.prefix.clone();
        let url = redis_url();
        let _ = std::thread::spawn(move || {
            if let Ok(client) = redis::Client::open(url)
                && let Ok(mut c) = client.get_connection()
            {
                let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query(&mut c).unwrap_or_default();
                if !keys.is_empty() {
                    let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut c);
                }
            }
        })
        .join();
    }
}

/// Signs tokens as the nodes of a [`Cluster`] do (they share this secret).
pub fn token_keys() -> rustchat::auth::TokenKeys {
    let secret = rustchat::config::SecretBytes::decode(JWT).unwrap();
    rustchat::auth::TokenKeys::new(secret.expose(), None)
}
