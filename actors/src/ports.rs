//! What the actors need from the rest of the server, as traits: the durable event log, state-changing
//! client actions, the state of logins, the cross-node bus, per-user connection slots and the cluster
//! registry. The server crate implements them over PostgreSQL/SQLite and Redis (or in-process for a
//! single node).

use actix::{Message, Recipient};
use bytestring::ByteString;
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::client::PostAction;
use crate::frame::Frame;
use crate::login::{Credential, LoginsEnded};

pub type LocalFut<T> = LocalBoxFuture<'static, T>;

/// The database's per-channel event log: the source of truth that catch-up reads.
pub trait EventLog: Send + Sync + 'static {
    /// Frames of `channel` with `seq > after`, oldest first, at most `limit`.
    fn events_after(&self, channel: Uuid, after: i64, limit: u32) -> LocalFut<Result<Vec<Frame>, String>>;
    /// The latest seq of each channel.
    fn last_seqs(&self, channels: Vec<Uuid>) -> LocalFut<Result<Vec<(Uuid, i64)>, String>>;
    /// The channels `user` belongs to, with each one's latest seq and whether presence is sent there.
    fn memberships(&self, user: Uuid) -> LocalFut<Result<Vec<Membership>, String>>;
}

/// One channel of a connecting user.
#[derive(Debug, Clone, Copy)]
pub struct Membership {
    pub channel: Uuid,
    pub last_seq: i64,
    /// The channel is small enough (`RUSTCHAT_WS_PRESENCE_MAX_MEMBERS`) for status changes to be
    /// announced in it: in a large one each would be a frame per member, and a reconnect wave
    /// members² frames.
    pub presence: bool,
}

/// A refused client action, shaped like the REST error body.
#[derive(Debug, Clone, Serialize)]
pub struct ActionError {
    pub code: String,
    pub message: String,
}

/// What a performed action answers, and which committed events it made (to publish).
pub struct ActionOutcome {
    pub reply: serde_json::Value,
    pub publish: Vec<BusMessage>,
}

/// Client actions that change state, performed by the server's domain code with the same checks as
/// REST, in the name of the socket's login.
pub trait Actions: Send + Sync + 'static {
    fn post(&self, user: Uuid, login: Uuid, action: PostAction) -> LocalFut<Result<ActionOutcome, ActionError>>;
}

/// Whether logins still give the right to read.
pub trait Logins: Send + Sync + 'static {
    /// Those of `logins` that are still live: not revoked, not expired, their user active.
    fn live(&self, logins: Vec<Uuid>) -> LocalFut<Result<std::collections::HashSet<Uuid>, String>>;
    /// What a fresh access token presented on an open socket grants, checked like a handshake's.
    fn authenticate(&self, token: String) -> LocalFut<Result<Credential, ActionError>>;
}

/// A pub/sub topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Every event of one channel.
    Channel(Uuid),
    /// Events for one user wherever they are connected (membership changes, read state).
    User(Uuid),
}

/// One message on the bus.
#[derive(Debug, Clone)]
pub enum BusMessage {
    /// A channel's frame for this node's sessions, and `wire`: what the bus carries to the other
    /// nodes for it (the server's neutral encoding of the event, from which each node renders its own
    /// frames; an ephemeral frame travels as its own text).
    Channel {
        frame: Frame,
        wire: ByteString,
    },
    User {
        user: Uuid,
        text: ByteString,
    },
    /// Travels on the user's topic; never reaches a client.
    LoginsEnded(LoginsEnded),
}

impl BusMessage {
    /// An ephemeral frame (typing, presence), which travels as it is.
    pub fn ephemeral(frame: Frame) -> BusMessage {
        let wire = frame.text.clone();
        BusMessage::Channel { frame, wire }
    }
}

/// A message that arrived from the bus (published by any node, this one included).
#[derive(Message)]
#[rtype(result = "()")]
pub struct BusReceived(pub BusMessage);

/// The bus lost and regained its connection: anything published meanwhile must be read back.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BusReconnected;

/// The cross-node transport: at-most-once pub/sub. Guarantees come from `seq` and the event log.
pub trait Bus: Send + Sync + 'static {
    /// Where received messages and reconnect notices go. Called once, when the supervisor starts.
    fn attach(&self, received: Recipient<BusReceived>, reconnected: Recipient<BusReconnected>);
    /// Queues a publish; never blocks.
    fn publish(&self, message: BusMessage);
    /// Resolves once the subscription is active (so nothing published after it is missed).
    fn subscribe(&self, topic: Topic) -> LocalFut<Result<(), String>>;
    fn unsubscribe(&self, topic: Topic);
    /// Whether the bus currently reaches its peers.
    fn is_connected(&self) -> bool;
}

/// Per-user connection slots, counted across the cluster.
pub trait Connections: Send + Sync + 'static {
    /// Takes a slot for `conn` if `user` holds fewer than `limit`; `Ok(false)` when at the limit.
    fn acquire(&self, user: Uuid, conn: Uuid, limit: u32) -> LocalFut<Result<bool, String>>;
    /// Gives the slot back; resolves once it is released.
    fn release(&self, user: Uuid, conn: Uuid) -> LocalFut<()>;
    /// Which of `users` hold at least one connection anywhere in the cluster.
    fn online(&self, users: Vec<Uuid>) -> LocalFut<Result<Vec<Uuid>, String>>;
    /// How many connections `user` holds across the cluster.
    fn count(&self, user: Uuid) -> LocalFut<Result<u32, String>>;
    /// Keeps this node's live connections from expiring (a crashed node's slots expire by themselves).
    fn refresh(&self, conns: Vec<(Uuid, Uuid)>);
}

/// One node as its heartbeat announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub node_id: String,
    pub address: String,
    pub version: String,
    pub connections: u64,
    pub started_at: i64,
    /// Unix seconds of the announcement.
    pub last_seen: i64,
}

/// Where nodes announce themselves and find each other.
pub trait ClusterRegistry: Send + Sync + 'static {
    /// Records `me` as alive and returns every node seen recently, `me` included.
    fn announce(&self, me: NodeInfo) -> LocalFut<Result<Vec<NodeInfo>, String>>;
    /// Removes `node_id` (graceful shutdown), so peers see it leave at once.
    fn withdraw(&self, node_id: String) -> LocalFut<()>;
}
