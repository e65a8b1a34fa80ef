//! Circuit breakers around the node's dependencies (PostgreSQL, Redis, the OIDC provider, file storage). Closed:
//! calls go through and failures are counted; after [`FAILURE_THRESHOLD`] failures in a row the breaker
//! opens and callers fail fast; after [`OPEN_COOLDOWN`] one probe call is let through (half-open) and
//! its outcome closes or reopens the breaker. Every transition is reported to an observer (which logs
//! `circuit breaker <name>: <from> -> <to>` and counts it).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Consecutive failures that open a breaker.
pub const FAILURE_THRESHOLD: u32 = 5;
/// How long an open breaker refuses calls before it lets a probe through.
pub const OPEN_COOLDOWN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

/// Called on every state change: (breaker, from, to).
pub type Observer = Arc<dyn Fn(&str, State, State) + Send + Sync>;

/// A breaker's state as stats report it.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub state: State,
    pub consecutive_failures: u32,
    pub total_failures: u64,
    /// Unix seconds of the last transition, if any.
    pub last_change: Option<i64>,
}

struct Inner {
    state: State,
    consecutive_failures: u32,
    total_failures: u64,
    opened_at: Option<Instant>,
    probing: bool,
    last_change: Option<i64>,
}

pub struct Breaker {
    name: &'static str,
    inner: Mutex<Inner>,
    observer: Observer,
}

impl Breaker {
    pub fn new(name: &'static str, observer: Observer) -> Self {
        let inner = Inner {
            state: State::Closed,
            consecutive_failures: 0,
            total_failures: 0,
            opened_at: None,
            probing: false,
            last_change: None,
        };
        Self { name, inner: Mutex::new(inner), observer }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn move_to(&self, inner: &mut Inner, to: State) -> Option<(State, State)> {
        let from = inner.state;
        if from == to {
            return None;
        }
        inner.state = to;
        inner.last_change = Some(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0));
        Some((from, to))
    }

    fn notify(&self, change: Option<(State, State)>) {
        if let Some((from, to)) = change {
            (self.observer)(self.name, from, to);
        }
    }

    /// Whether a call may go ahead now. An open breaker past its cooldown admits one probe.
    pub fn admit(&self) -> bool {
        let mut inner = self.lock();
        match inner.state {
            State::Closed => true,
            State::HalfOpen => {
                if inner.probing {
                    false
                } else {
                    inner.probing = true;
                    true
                }
            }
            State::Open => {
                if inner.opened_at.is_some_and(|t| t.elapsed() >= OPEN_COOLDOWN) {
                    inner.probing = true;
                    let change = self.move_to(&mut inner, State::HalfOpen);
                    drop(inner);
                    self.notify(change);
                    true
                } else {
                    false
                }
            }
        }
    }

    pub fn record_success(&self) {
        let mut inner = self.lock();
        inner.consecutive_failures = 0;
        inner.probing = false;
        inner.opened_at = None;
        let change = self.move_to(&mut inner, State::Closed);
        drop(inner);
        self.notify(change);
    }

    pub fn record_failure(&self) {
        let mut inner = self.lock();
        inner.consecutive_failures += 1;
        inner.total_failures += 1;
        inner.probing = false;
        let reopen = inner.state == State::HalfOpen;
        let change = if reopen || (inner.state == State::Closed && inner.consecutive_failures >= FAILURE_THRESHOLD) {
            inner.opened_at = Some(Instant::now());
            self.move_to(&mut inner, State::Open)
        } else {
            None
        };
        drop(inner);
        self.notify(change);
    }

    pub fn state(&self) -> State {
        self.lock().state
    }

    pub fn snapshot(&self) -> Snapshot {
        let inner = self.lock();
        Snapshot {
            state: inner.state,
            consecutive_failures: inner.consecutive_failures,
            total_failures: inner.total_failures,
            last_change: inner.last_change,
        }
    }
}

/// The node's breakers, by name.
#[derive(Clone)]
pub struct Breakers {
    pub database: Arc<Breaker>,
    pub redis: Arc<Breaker>,
    pub oidc: Arc<Breaker>,
    /// File storage (a directory or an S3-compatible bucket).
    pub storage: Arc<Breaker>,
}

impl Breakers {
    pub fn new(observer: Observer) -> Self {
        Self {
            database: Arc::new(Breaker::new("database", observer.clone())),
            redis: Arc::new(Breaker::new("redis", observer.clone())),
            oidc: Arc::new(Breaker::new("oidc", observer.clone())),
            storage: Arc::new(Breaker::new("storage", observer)),
        }
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, Snapshot> {
        [&self.database, &self.redis, &self.oidc, &self.storage].iter().map(|b| (b.name(), b.snapshot())).collect()
    }
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Breaker({}: {:?})", self.name, self.state())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> (Observer, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let observer: Observer = Arc::new(move |name, from, to| {
            sink.lock().unwrap().push(format!("{name}:{}->{}", from.as_str(), to.as_str()));
        });
        (observer, seen)
    }

    #[test]
    fn opens_after_repeated_failures_and_a_success_closes_it() {
        let (observer, seen) = recorder();
        let b = Breaker::new("redis", observer);
        for _ in 0..FAILURE_THRESHOLD - 1 {
            b.record_failure();
        }
        assert_eq!(b.state(), State::Closed);
        b.record_failure();
        assert_eq!(b.state(), State::Open);
        assert!(!b.admit(), "an open breaker fails fast");
        b.record_success();
        assert_eq!(b.state(), State::Closed);
        assert_eq!(*seen.lock().unwrap(), ["redis:closed->open", "redis:open->closed"]);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let (observer, _) = recorder();
        let b = Breaker::new("database", observer);
        for _ in 0..FAILURE_THRESHOLD - 1 {
            b.record_failure();
        }
        b.record_success();
        b.record_failure();
        assert_eq!(b.state(), State::Closed);
    }
}
