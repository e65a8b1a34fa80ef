//! A Redis connection made on first use and remade after a failure, for commands (readiness,
//! `--check-config`, connection slots, the node registry). Pub/sub has its own connection in the bus.

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use crate::config::Secret;

/// A lazily (re)connected Redis connection.
pub struct RedisLink {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl RedisLink {
    pub fn new(url: &Secret<String>) -> anyhow::Result<Self> {
        let client = redis::Client::open(url.expose().as_str())
            .map_err(|e| anyhow::anyhow!("RUSTCHAT_REDIS_URL is not a valid Redis URL: {e}"))?;
        Ok(Self { client, connection: Mutex::new(None) })
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The shared connection, connecting first if needed.
    pub async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let c = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Forgets the connection after an error, so the next use reconnects.
    pub async fn reset(&self) {
        *self.connection.lock().await = None;
    }

    /// `PING`, bounded by `timeout`, connecting first if needed; returns the round-trip time.
    pub async fn ping(&self, timeout: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let attempt = async {
            let mut slot = self.connection.lock().await;
            let mut connection = match slot.as_ref() {
                Some(c) => c.clone(),
                None => {
                    let c = self.client.get_multiplexed_async_connection().await?;
                    *slot = Some(c.clone());
                    c
                }
            };
            drop(slot);
            let result: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut connection).await;
            if result.is_err() {
                *self.connection.lock().await = None;
            }
            result.map_err(anyhow::Error::from)
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(_)) => Ok(started.elapsed()),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                *self.connection.lock().await = None;
                Err(anyhow::anyhow!("redis did not answer within {} ms", timeout.as_millis()))
            }
        }
    }
}
