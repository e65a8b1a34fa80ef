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
    /// Called with the seconds from a channel frame's arrival on this node to its socket write queue.
    pub fanout_latency: OnceLock<Box<dyn Fn(f64) + Send + Sync>>,
}

impl std::fmt::Debug for SessionCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCounters").field("received", &self.received).field("sent", &self.sent).finish()
    }
}
