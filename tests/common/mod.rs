//! Test harness: real PostgreSQL, real Redis, real sockets, real processes.
//!
//! - [`TestDb`]: a fresh PostgreSQL database per test, dropped afterwards.
//! - [`spawn_app`]: a node in-process (its own actix system on its own thread) on a random port.
//! - [`NodeProcess`]: the real `rustchat` binary as a child process, stdout captured line by line.
//! - [`TcpProxy`]: a loopback proxy a test can cut, to make a dependency unreachable on purpose.
//! - [`postgres::TempPostgres`]: a PostgreSQL server of the test's own (initdb), to stop, restart or fail over.
//!
//! Services come from `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and
//! `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`). When one is down a test is skipped with a
//! message, except on CI (`CI=true`), where it fails: CI never skips silently.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod balancer;
pub mod client;
pub mod cluster;
pub mod op;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod redis_cluster;
pub mod redis_server;
pub mod relay;
pub mod s3;
pub mod target;
pub mod ws;

use std::sync::mpsc;
use std::time::Duration;

use rustchat::config::{Settings, ensure_development_secrets};
use rustchat::startup::{Node, NodeHandle};
use sqlx::Connection;

pub use balancer::Balancer;
pub use client::{Api, Reply};
pub use cluster::Cluster;
pub use process::NodeProcess;
pub use proxy::TcpProxy;
pub use redis_server::TempRedis;
pub use relay::Relay;
pub use ws::{Read, Ws};

pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A node's Redis bus on the test Redis, under `keys`, as the child of a tree of its own (returned:
/// the bus task lives as long as it). Call inside an actix system.
pub fn start_redis_bus(keys: &rustchat::cluster::Keys) -> (rustchat::cluster::bus::RedisBus, rustchat_actors::Tree) {
    let tree = rustchat_actors::Tree::new(std::sync::Arc::new(|_, _, _| {}), std::sync::Arc::new(Uncounted));
    let bus = rustchat::cluster::bus::RedisBus::start(
        &redis_url(),
        keys.clone(),
        std::sync::Arc::new(rustchat::cluster::bus::BusStats::default()),
        rustchat::realtime::render::frame_from_bus,
        &tree,
    )
    .unwrap();
    (bus, tree)
}

/// Counts nothing: a test's tree that only hosts a bus task.
struct Uncounted;
impl rustchat_actors::tree::Restarts for Uncounted {
    fn declare(&self, _: &'static str) {}
    fn record(&self, _: &'static str) {}
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `true` when the service answers; on CI an absent service fails the test instead.
fn available(name: &str, up: bool) -> bool {
    if !up {
        assert!(!on_ci(), "{name} is not reachable, and tests never skip on CI");
        eprintln!("SKIPPED: {name} is not reachable");
    }
    up
}

/// `true` when a tool a test runs is installed; on CI a missing one fails the test instead.
pub fn available_tool(name: &str, installed: bool) -> bool {
    available(name, installed)
}

pub async fn postgres_available() -> bool {
    let up = sqlx::PgConnection::connect(&admin_database_url()).await.is_ok();
    available("PostgreSQL", up)
}

pub async fn redis_available() -> bool {
    let up = async {
        let client = redis::Client::open(redis_url()).ok()?;
        let mut c = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING").query_async::<String>(&mut c).await.ok()
    }
    .await
    .is_some();
    available("Redis", up)
}

/// A fresh PostgreSQL database, dropped (connections and all) when this value drops.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// `None` when PostgreSQL is down outside CI.
    pub async fn create() -> Option<TestDb> {
        if !postgres_available().await {
            return None;
        }
        let name = format!("rustchat_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_database_url()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
        let mut url = url::Url::parse(&admin_database_url()).unwrap();
        url.set_path(&name);
        Some(TestDb { name, url: url.to_string() })
    }

    /// The URL with a password added; trust auth ignores it, so it only tests redaction.
    pub fn url_with_password(&self, password: &str) -> String {
        let mut url = url::Url::parse(&self.url).unwrap();
        url.set_password(Some(password)).unwrap();
        url.to_string()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside a test's runtime; a separate thread with its own runtime can block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_database_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Postgres,
    Sqlite,
}

/// A node running in this process.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub db_url: String,
    handle: NodeHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    _db: Option<TestDb>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Variables every in-process node gets; `extra` overrides them.
fn base_vars(db_url: &str, dir: &std::path::Path) -> Vec<(String, String)> {
    [
        ("RUSTCHAT_SERVER_HOST", "127.0.0.1"),
        ("RUSTCHAT_SERVER_PORT", "0"),
        ("RUSTCHAT_SERVER_WORKERS", "1"),
        ("RUSTCHAT_DATABASE_URL", db_url),
        ("RUSTCHAT_DATA_DIR", dir.to_str().unwrap()),
        ("RUSTCHAT_SHUTDOWN_GRACE_SECONDS", "1"),
        ("RUSTCHAT_LOG_LEVEL", "warn"),
        ("RUSTCHAT_NODE_ID", "test-node"),
        // Tests register many users from one address; rate-limit tests set the real limits.
        ("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", "100000"),
        ("RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE", "100000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Starts a node on a fresh database of kind `db`; `None` when that database is unavailable.
pub async fn spawn_app(db: Db, extra: &[(&str, &str)]) -> Option<TestApp> {
    let dir = tempfile::tempdir().unwrap();
    let (test_db, db_url) = match db {
        Db::Postgres => {
            let test_db = TestDb::create().await?;
            let url = test_db.url.clone();
            (Some(test_db), url)
        }
        Db::Sqlite => (None, format!("sqlite://{}", dir.path().join("test.db").display())),
    };
    Some(start_node(dir, test_db, db_url, extra).await)
}

/// The JWT secret every node of a test cluster shares.
pub const CLUSTER_JWT_SECRET: &str = "c2hhcmVkLWp3dC1zZWNyZXQtb2YtdGhlLXdob2xlLWNsdXN0ZXItMDEyMzQ1Njc4OQ==";
pub const CLUSTER_ENCRYPTION_KEY: &str = "c2hhcmVkLWVuY3J5cHRpb24ta2V5LW9mLXRoZS13aG9sZS1jbHVzdGVyLTAxMjM0NQ==";

/// Two nodes of one cluster on `db`, without Redis: they share the secrets every node of a cluster
/// shares, so a token from one is good on the other.
pub async fn two_nodes_on(db: &TestDb) -> (TestApp, TestApp) {
    let secrets = [("RUSTCHAT_JWT_SECRET", CLUSTER_JWT_SECRET), ("RUSTCHAT_ENCRYPTION_KEY", CLUSTER_ENCRYPTION_KEY)];
    (spawn_app_on(&db.url, &secrets).await.unwrap(), spawn_app_on(&db.url, &secrets).await.unwrap())
}

/// Two nodes of one cluster on `db` that fan out over Redis, under a key prefix of their own.
/// `None` when Redis is down outside CI.
pub async fn two_nodes_over_redis(db: &TestDb) -> Option<(TestApp, TestApp)> {
    if !redis_available().await {
        return None;
    }
    let prefix = format!("test{}", uuid::Uuid::new_v4().simple());
    let redis = redis_url();
    let vars = [
        ("RUSTCHAT_JWT_SECRET", CLUSTER_JWT_SECRET),
        ("RUSTCHAT_ENCRYPTION_KEY", CLUSTER_ENCRYPTION_KEY),
        ("RUSTCHAT_REDIS_URL", redis.as_str()),
        ("RUSTCHAT_REDIS_PREFIX", prefix.as_str()),
    ];
    Some((spawn_app_on(&db.url, &vars).await.unwrap(), spawn_app_on(&db.url, &vars).await.unwrap()))
}

/// Signs tokens as the nodes of [`two_nodes_on`] and [`two_nodes_over_redis`] do.
pub fn cluster_token_keys() -> rustchat::auth::TokenKeys {
    let secret = rustchat::config::SecretBytes::decode(CLUSTER_JWT_SECRET).unwrap();
    rustchat::auth::TokenKeys::new(secret.expose(), None)
}

/// Starts a node on the database at `db_url`, which the caller owns.
pub async fn spawn_app_on(db_url: &str, extra: &[(&str, &str)]) -> Option<TestApp> {
    Some(start_node(tempfile::tempdir().unwrap(), None, db_url.to_string(), extra).await)
}

async fn start_node(
    dir: tempfile::TempDir,
    test_db: Option<TestDb>,
    db_url: String,
    extra: &[(&str, &str)],
) -> TestApp {
    let mut vars = base_vars(&db_url, dir.path());
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k.to_string(), v.to_string()));
    }
    let mut settings = Settings::from_vars(vars).unwrap();
    ensure_development_secrets(&mut settings).unwrap();

    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match Node::build(settings).await {
                Ok(node) => {
                    tx.send(Ok((node.port(), node.handle()))).unwrap();
                    node.run().await.unwrap();
                }
                Err(e) => tx.send(Err(format!("{e:#}"))).unwrap(),
            }
        })
    });
    let (port, handle) = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("node did not start within 60 s")
        .expect("node failed to start");
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        db_url,
        handle,
        thread: Some(thread),
        _db: test_db,
        _dir: dir,
    }
}

/// Polls `probe` until it returns `Some`, or panics after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Defines `mod postgres` and `mod sqlite`, each with one `#[tokio::test]` per named scenario, so
/// every scenario runs on both backends.
#[macro_export]
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario($crate::common::Db::Postgres).await
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario($crate::common::Db::Sqlite).await
                }
            )*
        }
    };
}
