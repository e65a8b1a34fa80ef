//! Every Redis key and pub/sub topic, derived from `RUSTCHAT_REDIS_PREFIX` (default `rustchat`), so
//! the runbook's `redis-cli PUBSUB CHANNELS | grep rustchat` and `keys 'rustchat:…'` find them, and
//! tests can give each run its own prefix.
//!
//! ```text
//! rustchat:ch:<channel id>          topic: a channel's events
//! rustchat:user:<user id>           topic: events for one user (membership, read state)
//! rustchat:nodes                    zset: node id → last heartbeat (unix seconds)
//! rustchat:node:<node id>           string (TTL): the node's announcement, JSON
//! rustchat:conns:<user id>          zset: connection id → expiry (unix ms), the per-user limit
//! ```

use rustchat_actors::ports::Topic;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_string() }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn topic(&self, topic: Topic) -> String {
        match topic {
            Topic::Channel(id) => format!("{}:ch:{id}", self.prefix),
            Topic::User(id) => format!("{}:user:{id}", self.prefix),
        }
    }

    /// The topic a pub/sub channel name stands for, if it is one of ours.
    pub fn parse_topic(&self, name: &str) -> Option<Topic> {
        let rest = name.strip_prefix(&self.prefix)?.strip_prefix(':')?;
        let (kind, id) = rest.split_once(':')?;
        let id: Uuid = id.parse().ok()?;
        match kind {
            "ch" => Some(Topic::Channel(id)),
            "user" => Some(Topic::User(id)),
            _ => None,
        }
    }

    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    pub fn node(&self, node_id: &str) -> String {
        format!("{}:node:{node_id}", self.prefix)
    }

    pub fn conns(&self, user: Uuid) -> String {
        format!("{}:conns:{user}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_and_foreign_names_are_ignored() {
        let keys = Keys::new("rustchat");
        let id = Uuid::now_v7();
        for topic in [Topic::Channel(id), Topic::User(id)] {
            assert_eq!(keys.parse_topic(&keys.topic(topic)), Some(topic));
        }
        assert_eq!(keys.topic(Topic::Channel(id)), format!("rustchat:ch:{id}"));
        assert_eq!(keys.parse_topic(&format!("other:ch:{id}")), None);
        assert_eq!(keys.parse_topic("rustchat:ch:not-a-uuid"), None);
    }
}
