//! Everything that crosses nodes through Redis: the key and topic names ([`keys`]), the pub/sub bus,
//! per-user connection slots and the node registry. Each has an in-process twin for the embedded
//! single-node default (no `RUSTCHAT_REDIS_URL`). Redis may be down when a node starts or at any time
//! later: every piece reconnects by itself.

pub mod bus;
mod echoes;
pub mod keys;
mod link;
mod pubsub;
pub mod registry;
pub mod slots;

pub use keys::{Keys, OAuthKind};
pub use link::{RedisClient, RedisConnection, RedisLink};
