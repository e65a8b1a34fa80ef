//! Per-user connection slots (the site's `max_simultaneous_connections`), counted across the cluster:
//! a Redis sorted set per user, connection id → expiry. Taking a slot is one atomic Lua script; each
//! node renews its live connections' expiries, so a node killed with `kill -9` frees its slots by
//! itself within [`SLOT_TTL`]. While Redis is unreachable, slots are counted on this node alone.
//!
//! On a Redis Cluster each user's set lives on the shard its key hashes to (the script touches that
//! one key); what reads or renews many users at once runs one command or pipeline per user's key,
//! concurrently, since a cluster pipeline must keep to one hash slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustchat_actors::ports::{Connections, LocalFut};
use uuid::Uuid;

use super::{Keys, RedisLink};

/// How long a slot lives without renewal.
pub const SLOT_TTL: Duration = Duration::from_secs(60);

const TAKE_SLOT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
";

/// Slots counted in this process only: a user's connections as a list (a few, up to the per-user
/// limit), which costs a socket less than a set would.
#[derive(Default, Clone)]
pub struct LocalSlots {
    held: Arc<Mutex<HashMap<Uuid, Vec<Uuid>>>>,
}

impl LocalSlots {
    fn take(&self, user: Uuid, conn: Uuid, limit: u32) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let conns = held.entry(user).or_default();
        if conns.len() as u32 >= limit {
            return false;
        }
        if !conns.contains(&conn) {
            conns.push(conn);
        }
        true
    }

    fn give_back(&self, user: Uuid, conn: Uuid) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(conns) = held.get_mut(&user) {
            conns.retain(|c| *c != conn);
            if conns.is_empty() {
                held.remove(&user);
            }
        }
    }
}

impl Connections for LocalSlots {
    fn acquire(&self, user: Uuid, conn: Uuid, limit: u32) -> LocalFut<Result<bool, String>> {
        let taken = self.take(user, conn, limit);
        Box::pin(async move { Ok(taken) })
    }
    fn release(&self, user: Uuid, conn: Uuid) -> LocalFut<()> {
        self.give_back(user, conn);
        Box::pin(async {})
    }
    fn online(&self, users: Vec<Uuid>) -> LocalFut<Result<Vec<Uuid>, String>> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let online: Vec<Uuid> = users.into_iter().filter(|u| held.get(u).is_some_and(|c| !c.is_empty())).collect();
        Box::pin(async move { Ok(online) })
    }
    fn count(&self, user: Uuid) -> LocalFut<Result<u32, String>> {
        let n = self.held.lock().unwrap_or_else(|p| p.into_inner()).get(&user).map_or(0, |c| c.len() as u32);
        Box::pin(async move { Ok(n) })
    }
    fn refresh(&self, _: Vec<(Uuid, Uuid)>) {}
}

/// Slots counted in Redis, for the whole cluster.
pub struct RedisSlots {
    link: Arc<RedisLink>,
    keys: Keys,
    /// Used while Redis is unreachable.
    fallback: LocalSlots,
}

impl RedisSlots {
    pub fn new(link: Arc<RedisLink>, keys: Keys) -> Self {
        Self { link, keys, fallback: LocalSlots::default() }
    }
}

/// On the cluster's clock (see `crate::clock`): expiries are compared across nodes.
fn now_ms() -> u64 {
    u64::try_from(crate::domain::Timestamp::unix_millis_now()).unwrap_or(0)
}

impl Connections for RedisSlots {
    fn acquire(&self, user: Uuid, conn: Uuid, limit: u32) -> LocalFut<Result<bool, String>> {
        let link = self.link.clone();
        let key = self.keys.conns(user);
        let fallback = self.fallback.clone();
        Box::pin(async move {
            let now = now_ms();
            let attempt = async {
                let mut c = link.connection().await?;
                redis::Script::new(TAKE_SLOT)
                    .key(&key)
                    .arg(now)
                    .arg(limit)
                    .arg(now + SLOT_TTL.as_millis() as u64)
                    .arg(conn.to_string())
                    .arg(SLOT_TTL.as_millis() as u64)
                    .invoke_async::<i64>(&mut c)
                    .await
            };
            match attempt.await {
                Ok(taken) => {
                    link.succeeded();
                    Ok(taken == 1)
                }
                Err(e) => {
                    link.reset().await;
                    tracing::warn!(error = %e, "Redis unreachable: counting connections on this node only");
                    Ok(fallback.take(user, conn, limit))
                }
            }
        })
    }

    fn release(&self, user: Uuid, conn: Uuid) -> LocalFut<()> {
        self.fallback.give_back(user, conn);
        let link = self.link.clone();
        let key = self.keys.conns(user);
        Box::pin(async move {
            if let Ok(mut c) = link.connection().await {
                let _: redis::RedisResult<i64> =
                    redis::cmd("ZREM").arg(&key).arg(conn.to_string()).query_async(&mut c).await;
            }
        })
    }

    fn online(&self, users: Vec<Uuid>) -> LocalFut<Result<Vec<Uuid>, String>> {
        let link = self.link.clone();
        let keys = self.keys.clone();
        Box::pin(async move {
            if users.is_empty() {
                return Ok(users);
            }
            let mut c = link.connection().await.map_err(|e| e.to_string())?;
            let now = now_ms();
            let counts: Vec<u32> = if link.is_cluster() {
                let reads = users.iter().map(|u| {
                    let mut c = c.clone();
                    let key = keys.conns(*u);
                    async move { redis::cmd("ZCOUNT").arg(key).arg(now).arg("+inf").query_async::<u32>(&mut c).await }
                });
                let counts: redis::RedisResult<Vec<u32>> =
                    futures_util::future::join_all(reads).await.into_iter().collect();
                counts.map_err(|e| e.to_string())?
            } else {
                let mut pipe = redis::pipe();
                for u in &users {
                    pipe.cmd("ZCOUNT").arg(keys.conns(*u)).arg(now).arg("+inf");
                }
                pipe.query_async(&mut c).await.map_err(|e| e.to_string())?
            };
            Ok(users.into_iter().zip(counts).filter(|(_, n)| *n > 0).map(|(u, _)| u).collect())
        })
    }

    fn count(&self, user: Uuid) -> LocalFut<Result<u32, String>> {
        let link = self.link.clone();
        let key = self.keys.conns(user);
        Box::pin(async move {
            let mut c = link.connection().await.map_err(|e| e.to_string())?;
            redis::cmd("ZCOUNT")
                .arg(&key)
                .arg(now_ms())
                .arg("+inf")
                .query_async::<u32>(&mut c)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn refresh(&self, conns: Vec<(Uuid, Uuid)>) {
        let link = self.link.clone();
        let keys = self.keys.clone();
        actix::spawn(async move {
            let expiry = now_ms() + SLOT_TTL.as_millis() as u64;
            let renew = |pipe: &mut redis::Pipeline, user: Uuid, conn: Uuid| {
                let key = keys.conns(user);
                pipe.cmd("ZADD").arg(&key).arg(expiry).arg(conn.to_string()).ignore();
                pipe.cmd("PEXPIRE").arg(&key).arg(SLOT_TTL.as_millis() as u64).ignore();
            };
            if link.is_cluster() {
                let Ok(c) = link.connection().await else { return };
                let renewals = conns.into_iter().map(|(user, conn)| {
                    let mut pipe = redis::pipe();
                    renew(&mut pipe, user, conn);
                    let mut c = c.clone();
                    async move { pipe.query_async::<()>(&mut c).await }
                });
                futures_util::future::join_all(renewals).await;
                return;
            }
            let mut pipe = redis::pipe();
            for (user, conn) in conns {
                renew(&mut pipe, user, conn);
            }
            // The kept connection may be to a Redis that restarted since: a failure forgets it and
            // tries once more on a new one.
            for _ in 0..2 {
                let Ok(mut c) = link.connection().await else { return };
                let renewed: redis::RedisResult<()> = pipe.query_async(&mut c).await;
                match renewed {
                    Ok(()) => return link.succeeded(),
                    Err(_) => link.reset().await,
                }
            }
        });
    }
}
