//! A Redis connection made on first use and remade after a failure, for commands (readiness,
//! `--check-config`, connection slots, the node registry). Pub/sub has its own connection in the bus.
//!
//! Redis is one server or a Redis Cluster ([`RedisClient`]): `RUSTCHAT_REDIS_URL` with several
//! comma-separated URLs (the cluster's seed nodes), or `RUSTCHAT_REDIS_CLUSTER=true`, picks the cluster.
//! Either way callers get one [`RedisConnection`] that runs commands and pipelines; on a cluster, a
//! command goes to the shard owning its key, so a pipeline or script must keep to one hash slot.

use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokio::sync::Mutex;

use std::sync::Arc;

use rustchat_actors::breaker::Breaker;

use crate::config::{Secret, redis_is_cluster as is_cluster, redis_seed_urls as seed_urls};

/// One Redis server or a Redis Cluster.
#[derive(Clone)]
pub enum RedisClient {
    Single(redis::Client),
    /// Boxed: a cluster client is twice the size of a single one.
    Cluster(Box<ClusterClient>),
}

impl RedisClient {
    /// A client for `url` (several comma-separated seed URLs, or `cluster`, make it a cluster client).
    pub fn open(url: &str, cluster: bool) -> anyhow::Result<Self> {
        let invalid = |e: redis::RedisError| anyhow::anyhow!("RUSTCHAT_REDIS_URL is not a valid Redis URL: {e}");
        if is_cluster(url, cluster) {
            let client = ClusterClient::builder(seed_urls(url))
                .connection_timeout(Duration::from_secs(2))
                .response_timeout(Duration::from_secs(2))
                // While a shard fails over its slots answer nothing: retry briefly, then let the
                // caller's fallback (per-node limits, local slots) take over rather than stall.
                .retries(3)
                .min_retry_wait(50)
                .max_retry_wait(500)
                // Retries against a dead master must not hold a request (a WebSocket connect taking
                // its slot) longer than a single Redis's timeout would.
                .overall_response_timeout(Some(Duration::from_secs(2)))
                .build()
                .map_err(invalid)?;
            Ok(RedisClient::Cluster(Box::new(client)))
        } else {
            Ok(RedisClient::Single(redis::Client::open(url).map_err(invalid)?))
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisClient::Cluster(_))
    }

    async fn connect(&self) -> redis::RedisResult<RedisConnection> {
        match self {
            RedisClient::Single(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2)));
                Ok(RedisConnection::Single(client.get_multiplexed_async_connection_with_config(&config).await?))
            }
            RedisClient::Cluster(client) => Ok(RedisConnection::Cluster(client.get_async_connection().await?)),
        }
    }
}

/// A connection to one Redis server or to a whole Redis Cluster; cheap to clone (both multiplex).
#[derive(Clone)]
pub enum RedisConnection {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Single(c) => c.req_packed_command(cmd),
            RedisConnection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConnection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(c) => c.get_db(),
            RedisConnection::Cluster(c) => c.get_db(),
        }
    }
}

/// A lazily (re)connected Redis connection.
pub struct RedisLink {
    client: RedisClient,
    breaker: Option<Arc<Breaker>>,
    connection: Mutex<Option<RedisConnection>>,
}

impl RedisLink {
    /// One Redis server, or a Redis Cluster when `url` lists several seed URLs.
    pub fn new(url: &Secret<String>, breaker: Option<Arc<Breaker>>) -> anyhow::Result<Self> {
        Self::open(url, false, breaker)
    }

    /// Like [`RedisLink::new`]; `cluster` (`RUSTCHAT_REDIS_CLUSTER`) makes even one URL a cluster seed.
    pub fn open(url: &Secret<String>, cluster: bool, breaker: Option<Arc<Breaker>>) -> anyhow::Result<Self> {
        let client = RedisClient::open(url.expose(), cluster)?;
        Ok(Self { client, breaker, connection: Mutex::new(None) })
    }

    pub fn client(&self) -> &RedisClient {
        &self.client
    }

    /// Whether this link talks to a Redis Cluster (keys used together then need hash tags).
    pub fn is_cluster(&self) -> bool {
        self.client.is_cluster()
    }

    /// The shared connection, connecting first if needed. Refused at once while the Redis breaker is
    /// open; callers report the command's outcome with [`RedisLink::succeeded`] or [`RedisLink::reset`].
    /// A half-open breaker's probe is settled here, by a `PING`, before the connection is handed out:
    /// callers that report nothing, or whose future is dropped mid-call (its permit goes with it and
    /// gives the probe back), cannot hold the breaker half-open.
    pub async fn connection(&self) -> redis::RedisResult<RedisConnection> {
        let permit = match &self.breaker {
            Some(b) => match b.permit() {
                Some(p) => Some(p),
                None => return Err(redis::RedisError::from((redis::ErrorKind::Io, "Redis circuit breaker is open"))),
            },
            None => None,
        };
        let mut slot = self.connection.lock().await;
        let c = match slot.as_ref() {
            Some(c) => c.clone(),
            None => match self.client.connect().await {
                Ok(c) => {
                    *slot = Some(c.clone());
                    c
                }
                Err(e) => {
                    if let Some(p) = permit {
                        p.failed();
                    }
                    return Err(e);
                }
            },
        };
        if let Some(probe) = permit.filter(|p| p.is_probe()) {
            let mut pinged = c.clone();
            match redis::cmd("PING").query_async::<String>(&mut pinged).await {
                Ok(_) => probe.succeeded(),
                Err(e) => {
                    probe.failed();
                    *slot = None;
                    return Err(e);
                }
            }
        }
        Ok(c)
    }

    /// Forgets the connection after a failed command, so the next use reconnects; counts as a failure.
    ///
    /// A cluster connection is kept while the breaker stays closed: it repairs itself node by node
    /// (a failed shard's keys fail until its replica takes over, the other shards' keep working), and
    /// remaking it would connect to every node again for each request that hit the failed shard. Once
    /// the breaker opens it is dropped too, so the next probe starts again from the seed URLs (nodes
    /// may have moved to new addresses).
    pub async fn reset(&self) {
        if let Some(b) = &self.breaker {
            b.record_failure();
            if self.is_cluster() && b.state() == rustchat_actors::breaker::State::Closed {
                return;
            }
        }
        *self.connection.lock().await = None;
    }

    /// A command went through.
    pub fn succeeded(&self) {
        if let Some(b) = &self.breaker {
            b.record_success();
        }
    }

    /// `PING`, bounded by `timeout`, connecting first if needed; returns the round-trip time.
    pub async fn ping(&self, timeout: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let attempt = async {
            let mut connection = self.connection().await?;
            redis::cmd("PING").query_async::<String>(&mut connection).await
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(_)) => {
                self.succeeded();
                Ok(started.elapsed())
            }
            Ok(Err(e)) => {
                self.reset().await;
                Err(e.into())
            }
            Err(_) => {
                self.reset().await;
                Err(anyhow::anyhow!("redis did not answer within {} ms", timeout.as_millis()))
            }
        }
    }
}
