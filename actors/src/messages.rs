//! Messages between actors. Commands are imperative (`Subscribe`, `Deliver`), notices past tense
//! (`Joined`, `Left`, `BusReconnected`).

use actix::{Addr, Message};
use bytestring::ByteString;
use uuid::Uuid;

use crate::frame::Frame;
use crate::ports::BusMessage;
use crate::session::WsSession;

/// A committed (or ephemeral) event to send to every subscriber of its channel, on every node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub BusMessage);

/// A message that arrived from the bus (published by any node, this one included).
#[derive(Message)]
#[rtype(result = "()")]
pub struct BusReceived(pub BusMessage);

/// The bus lost and regained its connection: anything published meanwhile must be read back.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BusReconnected;

/// A session opened on this node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connected {
    pub conn: Uuid,
    pub user: Uuid,
    /// The login it was opened with: the socket lives as long as it does.
    pub login: Uuid,
    pub session: Addr<WsSession>,
    /// Closed at once when the login ends, before anything routed later can be queued.
    pub outbox: std::sync::Arc<crate::outbox::Outbox>,
}

/// A session presented a fresh access token, of `login`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reauthenticated {
    pub conn: Uuid,
    pub login: Uuid,
}

/// The session's login ended, or its token expired: close with `code` and `reason`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LoginEnded {
    pub code: u16,
    pub reason: &'static str,
}

/// A session closed; `channels` are those where its user's presence is announced (for `offline`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnected {
    pub conn: Uuid,
    pub user: Uuid,
    pub channels: Vec<Uuid>,
}

/// Start sending `channel`'s events to a session.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub conn: Uuid,
    pub user: Uuid,
    pub channel: Uuid,
    pub session: Addr<WsSession>,
    /// Where the channel actor queues frames directly while the session's lane is live.
    pub outbox: std::sync::Arc<crate::outbox::Outbox>,
}

/// Stop sending `channel`'s events to a session.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub conn: Uuid,
    pub channel: Uuid,
}

/// The socket writer took the session's outbox buffer: a read-back paused for room may go on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drained;

/// One channel frame for one session (when its lane is not live, or the frame is not the next).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Frame);

/// A frame for a session outside any channel log (user events).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Push(pub ByteString);

/// The channel actor has the session; `last_seq` is the newest event it has seen, so the session
/// can read back anything between its cursor and that.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Joined {
    pub channel: Uuid,
    pub last_seq: i64,
}

/// The session no longer receives `channel`'s live frames: the user's removal is its event `seq`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Left {
    pub channel: Uuid,
    pub seq: i64,
}

/// The user became a member of `channel` at `seq`: subscribe, reading back from just before it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MembershipGranted {
    pub channel: Uuid,
    pub seq: i64,
}

/// The session's outbound queue overflowed; close it as a slow consumer.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Overflowed;

/// The node is shutting down: close with 1012 so the client reconnects elsewhere.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseForRestart;

/// Ask the supervisor to close every session for a restart; answers how many there were.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Drain;

/// The latest committed seq of a channel, from a sweep of the database.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Observed {
    pub last_seq: i64,
}

/// Read back from the event log up to the newest committed event.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CatchUp;

/// Counts for stats and heartbeats.
#[derive(Message)]
#[rtype(result = "NodeCounts")]
pub struct Count;

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct NodeCounts {
    pub connections: usize,
    pub users: usize,
    pub channels: usize,
}
