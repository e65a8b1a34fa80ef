//! Messages between actors. Commands are imperative (`Subscribe`, `Deliver`), notices past tense
//! (`Joined`, `Left`, `BusReconnected`). A session is reached through its [`SessionHandle`], which
//! erases its type, so nothing here (nor the channel actors or the supervisor that hold handles)
//! depends on the session's type.

use std::sync::Arc;

use actix::Message;
use actix::prelude::SendError;
use bytestring::ByteString;
use uuid::Uuid;

use crate::frame::Frame;
pub use crate::outbox::Drained;
use crate::outbox::Outbox;
use crate::ports::BusMessage;
pub use crate::ports::{BusReceived, BusReconnected};

/// A committed (or ephemeral) event to send to every subscriber of its channel, on every node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub BusMessage);

/// A session opened on this node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connected {
    pub conn: Uuid,
    pub user: Uuid,
    /// The login it was opened with: the socket lives as long as it does.
    pub login: Uuid,
    /// Its outbox is closed at once when the login ends, before anything routed later can be queued.
    pub session: Arc<SessionHandle>,
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
    /// Its outbox is where the channel actor queues frames directly while the session's lane is live.
    pub session: Arc<SessionHandle>,
}

/// Stop sending `channel`'s events to a session.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub conn: Uuid,
    pub channel: Uuid,
}

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

/// A session as the other actors see it: its outbox (for frames in step, and to close the socket at
/// once) and its mailbox. Built once per session and shared by the supervisor and every channel actor
/// the session follows.
///
/// The mailbox is one address behind [`Mailbox`] rather than a `Recipient` per message type: each
/// actix sender owns three allocations (the box and two `Arc`s of its parking state), so eight
/// recipients, plus one per followed channel, cost an idle socket about a kilobyte (docs/benchmarks.md,
/// issue #21). A session whose mailbox is full is closed as a slow consumer whichever channel found it
/// full, so the senders need no parking state of their own.
pub struct SessionHandle<M: ?Sized + Mailbox = dyn Mailbox> {
    pub outbox: Arc<Outbox>,
    // Last and unsized: the handle's `Arc` holds the address itself, with no box of its own.
    mailbox: M,
}

/// What a session actor handles, so a handle can be built from its address.
pub trait SessionActor:
    actix::Actor<Context = actix::Context<Self>>
    + actix::Handler<Deliver>
    + actix::Handler<Push>
    + actix::Handler<Joined>
    + actix::Handler<Left>
    + actix::Handler<MembershipGranted>
    + actix::Handler<Overflowed>
    + actix::Handler<CloseForRestart>
    + actix::Handler<LoginEnded>
{
}

impl<A> SessionActor for A where
    A: actix::Actor<Context = actix::Context<A>>
        + actix::Handler<Deliver>
        + actix::Handler<Push>
        + actix::Handler<Joined>
        + actix::Handler<Left>
        + actix::Handler<MembershipGranted>
        + actix::Handler<Overflowed>
        + actix::Handler<CloseForRestart>
        + actix::Handler<LoginEnded>
{
}

/// A session's address with its type erased: one method per message it takes.
pub trait Mailbox: Send + Sync + 'static {
    /// Queues `message` unless the mailbox is full (or closed).
    fn try_deliver(&self, message: Deliver) -> Result<(), Unsent>;
    /// Queues `message` whatever the mailbox holds (as `Addr::do_send`).
    fn send(&self, message: SessionMessage);
}

/// Why a frame did not reach a session's mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsent {
    /// The mailbox is full: the session is too far behind.
    Full,
    /// The session has stopped.
    Closed,
}

/// Every message a [`SessionHandle`] carries, so one method sends them all.
pub enum SessionMessage {
    Deliver(Deliver),
    Push(Push),
    Joined(Joined),
    Left(Left),
    MembershipGranted(MembershipGranted),
    Overflowed(Overflowed),
    CloseForRestart(CloseForRestart),
    LoginEnded(LoginEnded),
}

impl<A: SessionActor> Mailbox for actix::Addr<A> {
    fn try_deliver(&self, message: Deliver) -> Result<(), Unsent> {
        self.try_send(message).map_err(|e| match e {
            SendError::Full(_) => Unsent::Full,
            SendError::Closed(_) => Unsent::Closed,
        })
    }

    fn send(&self, message: SessionMessage) {
        match message {
            SessionMessage::Deliver(m) => self.do_send(m),
            SessionMessage::Push(m) => self.do_send(m),
            SessionMessage::Joined(m) => self.do_send(m),
            SessionMessage::Left(m) => self.do_send(m),
            SessionMessage::MembershipGranted(m) => self.do_send(m),
            SessionMessage::Overflowed(m) => self.do_send(m),
            SessionMessage::CloseForRestart(m) => self.do_send(m),
            SessionMessage::LoginEnded(m) => self.do_send(m),
        }
    }
}

impl SessionHandle {
    pub fn new<A: SessionActor>(session: &actix::Addr<A>, outbox: Arc<Outbox>) -> Arc<SessionHandle> {
        Arc::new(SessionHandle { outbox, mailbox: session.clone() })
    }

    /// Sends `message` whatever the mailbox holds (as `Addr::do_send`).
    pub fn do_send<M: Into<SessionMessage>>(&self, message: M) {
        self.mailbox.send(message.into());
    }

    /// Sends a frame the session must order itself, unless its mailbox is full: the caller then
    /// treats the session as a slow consumer.
    pub fn try_deliver(&self, message: Deliver) -> Result<(), Unsent> {
        self.mailbox.try_deliver(message)
    }
}

macro_rules! to_session {
    ($($message:ident),* $(,)?) => {$(
        impl From<$message> for SessionMessage {
            fn from(message: $message) -> Self {
                SessionMessage::$message(message)
            }
        }
    )*};
}

to_session! { Deliver, Push, Joined, Left, MembershipGranted, Overflowed, CloseForRestart, LoginEnded }

/// Every live connection on this node, as (user, connection): what `Presence` renews.
#[derive(Message)]
#[rtype(result = "Vec<(Uuid, Uuid)>")]
pub struct LiveConnections;
