//! Messages between actors. Commands are imperative (`Subscribe`, `Deliver`), notices past tense
//! (`Joined`, `Left`, `BusReconnected`). A session is reached through its [`SessionHandle`], made of
//! recipients of the messages it takes, so nothing here (nor the channel actors or the supervisor
//! that hold handles) depends on the session's type.

use std::sync::Arc;

use actix::{Message, Recipient};
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
/// once) and a recipient for each message it takes. Built once per session and shared.
pub struct SessionHandle {
    pub outbox: Arc<Outbox>,
    deliver: Recipient<Deliver>,
    push: Recipient<Push>,
    joined: Recipient<Joined>,
    left: Recipient<Left>,
    granted: Recipient<MembershipGranted>,
    overflowed: Recipient<Overflowed>,
    restart: Recipient<CloseForRestart>,
    login_ended: Recipient<LoginEnded>,
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

impl SessionHandle {
    pub fn new<A: SessionActor>(session: &actix::Addr<A>, outbox: Arc<Outbox>) -> Arc<SessionHandle> {
        Arc::new(SessionHandle {
            outbox,
            deliver: session.clone().recipient(),
            push: session.clone().recipient(),
            joined: session.clone().recipient(),
            left: session.clone().recipient(),
            granted: session.clone().recipient(),
            overflowed: session.clone().recipient(),
            restart: session.clone().recipient(),
            login_ended: session.clone().recipient(),
        })
    }

    /// Sends `message` whatever the mailbox holds (as `Addr::do_send`).
    pub fn do_send<M: ToSession>(&self, message: M) {
        M::recipient(self).do_send(message);
    }

    /// A sender of `Deliver` of its own: one that finds the mailbox full is parked (its `try_send`
    /// fails until the session catches up) without parking the other channel actors' senders.
    pub fn deliverer(&self) -> Recipient<Deliver> {
        self.deliver.clone()
    }
}

/// A message a [`SessionHandle`] carries to its session.
pub trait ToSession: Message<Result = ()> + Send + Sized + 'static {
    fn recipient(handle: &SessionHandle) -> &Recipient<Self>;
}

macro_rules! to_session {
    ($($message:ty => $field:ident),* $(,)?) => {$(
        impl ToSession for $message {
            fn recipient(handle: &SessionHandle) -> &Recipient<Self> {
                &handle.$field
            }
        }
    )*};
}

to_session! {
    Deliver => deliver, Push => push, Joined => joined, Left => left, MembershipGranted => granted,
    Overflowed => overflowed, CloseForRestart => restart, LoginEnded => login_ended,
}

/// Every live connection on this node, as (user, connection): what `Presence` renews.
#[derive(Message)]
#[rtype(result = "Vec<(Uuid, Uuid)>")]
pub struct LiveConnections;
