//! A Redis connection made on first use and remade after a failure, for commands (readiness,
//! `--check-config`, connection slots, the node registry). Pub/sub has its own connection in the bus.

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use std::sync::Arc;

use rustchat_actors::breaker::Breaker;

use crate::config::Secret;

/// A lazily (re)connected Redis connection.
pub struct RedisLink {
    client: redis::Client,
    breaker: Option<Arc<Breaker>>,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl RedisLink {
    pub fn new(url: &Secret<String>, breaker: Option<Arc<Breaker>>) -> anyhow::Result<Self> {
        let client = redis::Client::open(url.expose().as_str())
            .map_err(|e| anyhow::anyhow!("RUSTCHAT_REDIS_URL is not a valid Redis URL: {e}"))?;
        Ok(Self { client, breaker, connection: Mutex::new(None) })
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The shared connection, connecting first if needed. Refused at once while the Redis breaker is
    /// open; callers report the command's outcome with [`RedisLink::succeeded`] or [`RedisLink::reset`].
    /// A half-open breaker's probe is settled here, by a `PING`, before the connection is handed out:
    /// callers that report nothing, or whose future is dropped mid-call (its permit goes with it and
    /// gives the probe back), cannot hold the breaker half-open.
    pub async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
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
            None => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2)));
                match self.client.get_multiplexed_async_connection_with_config(&config).await {
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
                }
            }
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
    pub async fn reset(&self) {
        if let Some(b) = &self.breaker {
            b.record_failure();
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
