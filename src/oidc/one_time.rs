//! Single-use values with a time to live: OAuth `state` records and one-time exchange codes. In Redis
//! (`<prefix>:oauth:state:<state>`, `<prefix>:oauth:code:<code>`, read with GETDEL) so a login started
//! on one node can finish on another; in the database when there is no Redis (one node).

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::{Keys, OAuthKind, RedisLink};
use crate::domain::Timestamp;
use crate::error::{Error, Result};
use crate::store::Store;

pub struct OneTime {
    redis: Option<Arc<RedisLink>>,
    store: Store,
    keys: Keys,
}

impl OneTime {
    pub fn new(redis: Option<Arc<RedisLink>>, store: Store, prefix: &str) -> Self {
        Self { redis, store, keys: Keys::new(prefix) }
    }

    pub async fn put(&self, kind: OAuthKind, id: &str, value: &str, ttl: Duration) -> Result<()> {
        let key = self.keys.oauth(kind, id);
        match &self.redis {
            Some(link) => {
                let mut c =
                    link.connection().await.map_err(|e| Error::unavailable("Redis is unavailable").with_cause(e))?;
                let set: redis::RedisResult<()> = redis::cmd("SET")
                    .arg(&key)
                    .arg(value)
                    .arg("EX")
                    .arg(ttl.as_secs().max(1))
                    .query_async(&mut c)
                    .await;
                set.map_err(|e| Error::unavailable("Redis is unavailable").with_cause(e))
            }
            None => self.store.put_ephemeral(&key, value, Timestamp::now().plus(ttl)).await,
        }
    }

    /// The value, once; `None` when unknown, expired or already taken.
    pub async fn take(&self, kind: OAuthKind, id: &str) -> Result<Option<String>> {
        let key = self.keys.oauth(kind, id);
        match &self.redis {
            Some(link) => {
                let mut c =
                    link.connection().await.map_err(|e| Error::unavailable("Redis is unavailable").with_cause(e))?;
                let got: redis::RedisResult<Option<String>> = redis::cmd("GETDEL").arg(&key).query_async(&mut c).await;
                got.map_err(|e| Error::unavailable("Redis is unavailable").with_cause(e))
            }
            None => self.store.take_ephemeral(&key).await,
        }
    }
}
