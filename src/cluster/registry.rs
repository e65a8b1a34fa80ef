//! Where nodes find each other: each heartbeat writes the node's announcement under
//! `<prefix>:node:<id>` (expiring after [`NODE_TTL`]) and its id in the `<prefix>:nodes` sorted set
//! scored by time; peers are the ids seen within the TTL. A single node is its own registry.

use std::sync::Arc;
use std::time::Duration;

use rustchat_actors::ports::{ClusterRegistry, LocalFut, NodeInfo};

use super::{Keys, RedisLink};

/// A node not heard from for this long is gone.
pub const NODE_TTL: Duration = Duration::from_secs(15);

/// The single-node registry.
pub struct LocalRegistry;

impl ClusterRegistry for LocalRegistry {
    fn announce(&self, me: NodeInfo) -> LocalFut<Result<Vec<NodeInfo>, String>> {
        Box::pin(async move { Ok(vec![me]) })
    }
    fn withdraw(&self, _: String) -> LocalFut<()> {
        Box::pin(async {})
    }
}

pub struct RedisRegistry {
    link: Arc<RedisLink>,
    keys: Keys,
}

impl RedisRegistry {
    pub fn new(link: Arc<RedisLink>, keys: Keys) -> Self {
        // The announcement pipeline and the `MGET` read these keys together: one slot on a cluster.
        let keys = keys.on_cluster(link.is_cluster());
        Self { link, keys }
    }
}

impl ClusterRegistry for RedisRegistry {
    fn announce(&self, me: NodeInfo) -> LocalFut<Result<Vec<NodeInfo>, String>> {
        // Scored on the cluster's clock (see `crate::clock`): a node whose own clock is off would
        // otherwise prune its peers as stale, or be pruned by them.
        let me = NodeInfo { last_seen: crate::domain::Timestamp::now().unix_seconds(), ..me };
        let link = self.link.clone();
        let keys = self.keys.clone();
        Box::pin(async move {
            let result = async {
                let mut c = link.connection().await?;
                let json = serde_json::to_string(&me)
                    .map_err(|e| redis::RedisError::from((redis::ErrorKind::Client, "json", e.to_string())))?;
                let cutoff = me.last_seen - NODE_TTL.as_secs() as i64;
                let (ids,): (Vec<String>,) = redis::pipe()
                    .cmd("SET")
                    .arg(keys.node(&me.node_id))
                    .arg(json)
                    .arg("EX")
                    .arg(NODE_TTL.as_secs())
                    .ignore()
                    .cmd("ZADD")
                    .arg(keys.nodes())
                    .arg(me.last_seen)
                    .arg(&me.node_id)
                    .ignore()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(keys.nodes())
                    .arg("-inf")
                    .arg(cutoff)
                    .ignore()
                    .cmd("ZRANGE")
                    .arg(keys.nodes())
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut c)
                    .await?;
                let node_keys: Vec<String> = ids.iter().map(|id| keys.node(id)).collect();
                let infos: Vec<Option<String>> = redis::cmd("MGET").arg(&node_keys).query_async(&mut c).await?;
                Ok::<_, redis::RedisError>(
                    infos.into_iter().flatten().filter_map(|j| serde_json::from_str(&j).ok()).collect(),
                )
            };
            match result.await {
                Ok(nodes) => {
                    link.succeeded();
                    Ok(nodes)
                }
                Err(e) => {
                    link.reset().await;
                    Err(e.to_string())
                }
            }
        })
    }

    fn withdraw(&self, node_id: String) -> LocalFut<()> {
        let link = self.link.clone();
        let keys = self.keys.clone();
        Box::pin(async move {
            if let Ok(mut c) = link.connection().await {
                let _: redis::RedisResult<()> = redis::pipe()
                    .cmd("DEL")
                    .arg(keys.node(&node_id))
                    .ignore()
                    .cmd("ZREM")
                    .arg(keys.nodes())
                    .arg(&node_id)
                    .ignore()
                    .query_async(&mut c)
                    .await;
            }
        })
    }
}
