//! The bus's pub/sub connection, to one Redis server or to a Redis Cluster.
//!
//! On one server the bus uses plain `PUBLISH`/`SUBSCRIBE` (the runbook's `redis-cli PUBSUB CHANNELS |
//! grep rustchat` lists its topics) through a [`ConnectionManager`] that reconnects and re-subscribes
//! by itself. On a cluster it uses sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7): a topic lives on
//! the shard owning its name's hash slot, so fan-out traffic spreads over the shards instead of every
//! message reaching every shard (`redis-cli -c PUBSUB SHARDCHANNELS 'rustchat:*'` on each shard lists
//! them). Topic names are the same in both modes.
//!
//! A cluster connection re-subscribes after a failover only once it learns the new slot map, which it
//! may not do while the bus stays quiet; so after a lost node the bus builds a fresh connection from
//! the seed nodes instead ([`PubSub::is_rebuilt_after_loss`]) and subscribes it to every topic before
//! it takes over.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, RedisResult};
use tokio::sync::mpsc;

use crate::config::{redis_is_cluster as is_cluster, redis_seed_urls as seed_urls};

/// Where the bus connects.
#[derive(Clone)]
pub enum PubSubTarget {
    Single(redis::Client),
    /// The cluster's seed URLs (RESP3).
    Cluster(Vec<String>),
}

impl PubSubTarget {
    /// `url` is `RUSTCHAT_REDIS_URL` (one URL or comma-separated seeds), `cluster` its flag.
    pub fn new(url: &str, cluster: bool) -> RedisResult<Self> {
        if is_cluster(url, cluster) {
            Ok(PubSubTarget::Cluster(seed_urls(url).into_iter().map(with_resp3).collect()))
        } else {
            Ok(PubSubTarget::Single(redis::Client::open(with_resp3(url).as_str())?))
        }
    }

    /// One attempt at a connection whose pushes (messages, disconnections) go to `pushes`.
    pub async fn connect(&self, pushes: mpsc::UnboundedSender<PushInfo>) -> RedisResult<PubSub> {
        match self {
            PubSubTarget::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_push_sender(pushes)
                    .set_automatic_resubscription()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2)))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                Ok(PubSub::Single(ConnectionManager::new_with_config(client.clone(), config).await?))
            }
            PubSubTarget::Cluster(seeds) => {
                let client = ClusterClientBuilder::new(seeds.iter().map(String::as_str))
                    .use_protocol(redis::ProtocolVersion::RESP3)
                    .push_sender(pushes)
                    .connection_timeout(Duration::from_secs(1))
                    .response_timeout(Duration::from_secs(2))
                    .retries(2)
                    .min_retry_wait(50)
                    .max_retry_wait(300)
                    // Bounds each attempt while a shard fails over (the bus retries every 250 ms).
                    .overall_response_timeout(Some(Duration::from_secs(3)))
                    .build()?;
                Ok(PubSub::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

/// Adds `protocol=resp3` (pushes need it) unless the URL names a protocol.
pub fn with_resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

/// A live pub/sub connection.
pub enum PubSub {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl PubSub {
    /// Subscribes to `topics`, with the outcome for each: one command on one server (one outcome for
    /// all); on a cluster one command per topic, since a sharded subscription names channels of one
    /// hash slot only.
    pub async fn subscribe(&mut self, topics: &[String]) -> Vec<RedisResult<()>> {
        match self {
            PubSub::Single(c) => {
                let result = c.subscribe(topics).await;
                topics.iter().map(|_| result.clone()).collect()
            }
            PubSub::Cluster(c) => {
                let mut results = Vec::with_capacity(topics.len());
                for topic in topics {
                    results.push(c.ssubscribe(topic).await);
                }
                results
            }
        }
    }

    /// Unsubscribes from `topics`, batched as [`PubSub::subscribe`] is; every topic is tried, and
    /// the first failure is returned.
    pub async fn unsubscribe(&mut self, topics: &[String]) -> RedisResult<()> {
        match self {
            PubSub::Single(c) => c.unsubscribe(topics).await,
            PubSub::Cluster(c) => {
                let mut first = Ok(());
                for topic in topics {
                    let result = c.sunsubscribe(topic).await;
                    if first.is_ok() {
                        first = result;
                    }
                }
                first
            }
        }
    }

    /// Publishes `(topic, payload)` in order per topic. One server takes the batch as one pipeline; a
    /// cluster pipeline must keep to one hash slot, so there each topic's messages are one pipeline
    /// (in their order) and the topics' pipelines run concurrently.
    pub async fn publish(&mut self, batch: Vec<(String, String)>) -> RedisResult<()> {
        match self {
            PubSub::Single(c) => {
                let mut pipe = redis::pipe();
                for (topic, payload) in batch {
                    pipe.publish(topic, payload).ignore();
                }
                pipe.query_async(c).await
            }
            PubSub::Cluster(c) => {
                let mut by_topic: Vec<redis::Pipeline> = Vec::new();
                let mut index: HashMap<String, usize> = HashMap::new();
                for (topic, payload) in batch {
                    let at = *index.entry(topic.clone()).or_insert_with(|| {
                        by_topic.push(redis::pipe());
                        by_topic.len() - 1
                    });
                    by_topic[at].spublish(topic, payload).ignore();
                }
                let sends = by_topic.into_iter().map(|pipe| {
                    let mut c = c.clone();
                    async move { pipe.query_async::<()>(&mut c).await }
                });
                futures_util::future::join_all(sends).await.into_iter().collect()
            }
        }
    }

    /// `PING` (on a cluster, every node).
    pub async fn ping(&mut self) -> RedisResult<()> {
        let cmd = redis::cmd("PING");
        match self {
            PubSub::Single(c) => cmd.query_async::<String>(c).await.map(drop),
            PubSub::Cluster(c) => cmd.query_async::<redis::Value>(c).await.map(drop),
        }
    }

    /// Whether, after a lost connection, the bus replaces this connection with a fresh one (a
    /// cluster) rather than waiting for it to reconnect by itself (one server).
    pub fn is_rebuilt_after_loss(&self) -> bool {
        matches!(self, PubSub::Cluster(_))
    }
}
