//! The bus's memory of its own publishes, so that Redis's echo of them is dropped unparsed.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a publish waits for its echo: Redis sends it back within milliseconds, unless the
/// subscription went away meanwhile (then it never comes).
const ECHO_WAIT: Duration = Duration::from_secs(5);

/// What this node published on topics it subscribes to, by topic, oldest first: Redis sends each back
/// to the publisher, and the supervisor already routed it here, so the echo is dropped before it is
/// parsed and rendered (that was half of what a node parsed off the bus).
#[derive(Default)]
pub(super) struct Echoes {
    pending: HashMap<String, VecDeque<(Instant, String)>>,
}

impl Echoes {
    pub(super) fn expect(&mut self, topic: &str, payload: String) {
        let now = Instant::now();
        let queue = self.pending.entry(topic.to_string()).or_default();
        while queue.front().is_some_and(|(at, _)| now.duration_since(*at) > ECHO_WAIT) {
            queue.pop_front();
        }
        queue.push_back((now, payload));
    }

    /// Whether `payload` on `topic` is the echo of a publish of ours (forgotten once seen). A peer's
    /// byte-identical message (the same user's typing on two nodes at once) may be taken for it: what
    /// it carried was delivered here already.
    pub(super) fn take(&mut self, topic: &str, payload: &[u8]) -> bool {
        let Some(queue) = self.pending.get_mut(topic) else { return false };
        let Some(at) = queue.iter().position(|(_, p)| p.as_bytes() == payload) else { return false };
        queue.remove(at);
        if queue.is_empty() {
            self.pending.remove(topic);
        }
        true
    }

    pub(super) fn forget(&mut self, topic: &str) {
        self.pending.remove(topic);
    }
}
