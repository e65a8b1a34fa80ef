//! `SessionCounters`: what every session of a node adds to, read by the metrics. It sits below the
//! outbox and the session so both can count without importing each other.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

/// Counters every session of a node adds to (read by the metrics).
#[derive(Default)]
pub struct SessionCounters {
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub slow: AtomicU64,
    /// Event-log reads by sessions catching up (resumes, gaps, joins): what reconnect waves cost the database.
    pub read_backs: AtomicU64,
    /// Event-log reads by channel actors (a sweep or a bus reconnect showed the log ahead of what the
    /// bus brought, or a frame came after a gap): what a lossy or lagging bus costs the database.
    pub channel_read_backs: AtomicU64,
    /// Called with the seconds from a channel frame's arrival on this node to its socket write queue.
    pub fanout_latency: OnceLock<Box<dyn Fn(f64) + Send + Sync>>,
    /// Called for the stages the sessions time (`Stage::Write`).
    pub stages: StageObserver,
}

/// The stages of a channel event's path that a node times, besides the fan-out itself (arrival on the
/// node → a socket's write queue, `fanout_latency`): where a post's latency goes, stage by stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Created by this node's write (the statement's start) → committed and handed to the router:
    /// the pool wait, the statement and the commit.
    Commit,
    /// Handed to the router → Redis acknowledged the publish.
    Publish,
    /// Created on its origin node → received from Redis on this one. Two nodes' wall clocks: their skew
    /// adds in.
    Transit,
    /// Queued on a socket → taken by the socket's writer, for the oldest frame of each write: how long
    /// woken socket tasks wait for the thread.
    Write,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Commit, Stage::Publish, Stage::Transit, Stage::Write];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Commit => "commit",
            Stage::Publish => "publish",
            Stage::Transit => "transit",
            Stage::Write => "write",
        }
    }
}

/// Where timed stages are reported (the metrics set it once at start).
pub type StageObserver = OnceLock<Box<dyn Fn(Stage, f64) + Send + Sync>>;

impl std::fmt::Debug for SessionCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCounters").field("received", &self.received).field("sent", &self.sent).finish()
    }
}
