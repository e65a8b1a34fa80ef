//! RustChat's actors (actix): one [`WsSession`] per WebSocket, one [`ChannelActor`] per channel with
//! local members, and per node a supervisor [`Tree`] whose children are the [`Supervisor`] (the
//! router: routes events, tracks connections and channel actors), the [`Heartbeat`] announcing the
//! node to its peers, [`Presence`] renewing the node's connection slots and, with Redis, the bus task.
//! The tree owns the circuit breakers and restarts a child that panics or stops, with backoff.
//!
//! # Layout
//! From the bottom up; nothing imports a module above it.
//! - [`frame`]: a server→client text frame, serialised once and shared by every recipient;
//!   [`client`]: the actions a client may send, typed; [`login`]: the right to read (notices of ended
//!   logins, close codes, token expiry); [`counters`]: what every session of a node counts.
//! - [`channel_map`]: a session's per-channel state, as a sorted list (small per socket).
//! - [`outbox`]: a session's outbound side (frames encoded into one buffer, written together; a lane
//!   per channel holding the position delivered); [`inbound`]: its client frames, decoded.
//! - [`ports`]: what the actors need from the server (event log, actions, bus, cluster registry),
//!   as traits, so this crate knows nothing of SQL or Redis.
//! - [`messages`]: the messages actors exchange, and the [`messages::SessionHandle`] (outbox plus
//!   recipients) through which channel actors and the supervisor reach a session without naming it.
//! - [`cursor`]: the per-channel ordering of one session (resume window, gaps, read-backs, its own
//!   removal), a plain type the session actor drives.
//! - [`session`], [`channel`], [`supervisor`], [`heartbeat`], [`presence`]: the actors.
//! - [`tree`]: the root supervisor: starts the children, restarts them (backoff, log, count).
//! - [`breaker`]: the circuit breakers the tree owns (database, Redis, OIDC).
//!
//! The path of one event: server commits → `Supervisor` (`Publish`) → bus and local `ChannelActor`
//! → each session's `Outbox` (directly while the session is in step, else via its handle's `Deliver`
//! to `WsSession`, whose `Cursors` order it and read back gaps) → the socket, every frame queued since
//! the last write in one `write`.

pub mod breaker;
pub mod channel;
pub mod channel_map;
pub mod client;
pub mod counters;
pub mod cursor;
pub mod frame;
pub mod heartbeat;
pub mod inbound;
pub mod login;
pub mod messages;
pub mod outbox;
pub mod ports;
pub mod presence;
pub mod session;
pub mod supervisor;
#[cfg(test)]
mod testing;
pub mod tree;

pub use channel::ChannelActor;
pub use frame::Frame;
pub use heartbeat::Heartbeat;
pub use presence::Presence;
pub use session::{SessionConfig, WsSession};
pub use supervisor::Supervisor;
pub use tree::Tree;
