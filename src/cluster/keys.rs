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
//! rustchat:rl:<limit>:<client>      string (TTL): a rate limit's GCRA state for one client
//! rustchat:oauth:state:<state>      string (TTL): an OAuth login in progress, taken once
//! rustchat:oauth:code:<code>        string (TTL): a one-time exchange code, taken once
//! ```
//!
//! On a Redis Cluster the names stay the same (topics are sharded pub/sub channels, hashed one by one
//! so they spread over the shards), except that keys used together in one command or pipeline end in
//! a hash tag, `{<prefix>}`, that puts them in one slot: the registry's `rustchat:nodes{rustchat}` and
//! `rustchat:node:<node id>{rustchat}`. The tag is a suffix, so every key still starts with the prefix
//! and its documented shape (`KEYS 'rustchat:node:*'` finds them).

use rustchat_actors::ports::Topic;
use uuid::Uuid;

/// Which single-use OAuth value a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthKind {
    /// The `state` of a login in progress.
    State,
    /// A one-time exchange code.
    Code,
}

impl OAuthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthKind::State => "state",
            OAuthKind::Code => "code",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    /// On a Redis Cluster: the hash tag keys used together end in (see the module's notes).
    tag: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_string(), tag: String::new() }
    }

    /// These keys for a Redis Cluster when `cluster`: keys used together share the `{<prefix>}` tag.
    pub fn on_cluster(self, cluster: bool) -> Self {
        let tag = if cluster { format!("{{{}}}", self.prefix) } else { String::new() };
        Self { tag, ..self }
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
        format!("{}:nodes{}", self.prefix, self.tag)
    }

    pub fn node(&self, node_id: &str) -> String {
        format!("{}:node:{node_id}{}", self.prefix, self.tag)
    }

    pub fn conns(&self, user: Uuid) -> String {
        format!("{}:conns:{user}", self.prefix)
    }

    /// `limit` is the limit's name (`auth`, `login`, `ws`), `client` whatever it counts by.
    pub fn rate_limit(&self, limit: &str, client: &str) -> String {
        format!("{}:rl:{limit}:{client}", self.prefix)
    }

    /// A Mattermost API WebSocket connection's position (`mattermost::ws::position`).
    pub fn mmconn(&self, id: &str) -> String {
        format!("{}:mmconn:{id}", self.prefix)
    }

    pub fn oauth(&self, kind: OAuthKind, id: &str) -> String {
        format!("{}:oauth:{}:{id}", self.prefix, kind.as_str())
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

    /// Every key shape, spelled out: the runbook's `redis-cli` commands match these prefixes, so a
    /// change here is a change to the operators' contract.
    #[test]
    fn every_key_shape_is_the_documented_one() {
        let keys = Keys::new("rustchat");
        let id = Uuid::parse_str("0190f3c8-5b2a-7c3d-8e4f-a1b2c3d4e5f6").expect("a valid uuid");
        let shapes = [
            (keys.topic(Topic::Channel(id)), "rustchat:ch:0190f3c8-5b2a-7c3d-8e4f-a1b2c3d4e5f6"),
            (keys.topic(Topic::User(id)), "rustchat:user:0190f3c8-5b2a-7c3d-8e4f-a1b2c3d4e5f6"),
            (keys.nodes(), "rustchat:nodes"),
            (keys.node("node-a"), "rustchat:node:node-a"),
            (keys.conns(id), "rustchat:conns:0190f3c8-5b2a-7c3d-8e4f-a1b2c3d4e5f6"),
            (keys.rate_limit("auth", "203.0.113.7"), "rustchat:rl:auth:203.0.113.7"),
            (keys.rate_limit("login", "alice"), "rustchat:rl:login:alice"),
            (keys.rate_limit("ws", "2001:db8::1"), "rustchat:rl:ws:2001:db8::1"),
            (keys.oauth(OAuthKind::State, "s3cr3t-state"), "rustchat:oauth:state:s3cr3t-state"),
            (keys.oauth(OAuthKind::Code, "c0de"), "rustchat:oauth:code:c0de"),
        ];
        for (built, expected) in &shapes {
            assert_eq!(built, expected);
        }
        // A test's own prefix replaces `rustchat` and nothing else.
        let other = Keys::new("t-42");
        assert_eq!(other.rate_limit("ws", "x"), "t-42:rl:ws:x");
        assert_eq!(other.oauth(OAuthKind::Code, "c"), "t-42:oauth:code:c");
        assert_eq!(other.conns(id), format!("t-42:conns:{id}"));
    }

    /// On a cluster only the registry's keys (read together) gain the `{<prefix>}` hash tag, as a
    /// suffix: the prefix, and a test's own prefix, still starts every key.
    #[test]
    fn on_a_cluster_keys_read_together_share_a_hash_tag_after_the_documented_shape() {
        let id = Uuid::parse_str("0190f3c8-5b2a-7c3d-8e4f-a1b2c3d4e5f6").expect("a valid uuid");
        let single = Keys::new("rustchat").on_cluster(false);
        assert_eq!(single.nodes(), "rustchat:nodes");
        assert_eq!(single.node("node-a"), "rustchat:node:node-a");
        let keys = Keys::new("t-42").on_cluster(true);
        assert_eq!(keys.nodes(), "t-42:nodes{t-42}");
        assert_eq!(keys.node("node-a"), "t-42:node:node-a{t-42}");
        assert_eq!(keys.topic(Topic::Channel(id)), format!("t-42:ch:{id}"));
        assert_eq!(keys.conns(id), format!("t-42:conns:{id}"));
        assert_eq!(keys.rate_limit("ws", "x"), "t-42:rl:ws:x");
        assert_eq!(keys.oauth(OAuthKind::Code, "c"), "t-42:oauth:code:c");
        let slot = |key: String| redis::cluster_routing::Slot::for_key(key);
        assert_eq!(slot(keys.nodes()), slot(keys.node("node-a")));
        assert_eq!(slot(keys.node("node-a")), slot(keys.node("node-b")));
    }
}
