//! Circuit breakers around the node's dependencies (PostgreSQL, Redis, the OIDC provider, file storage). Closed:
//! calls go through and failures are counted; after [`FAILURE_THRESHOLD`] failures in a row the breaker
//! opens and callers fail fast; after [`OPEN_COOLDOWN`] one probe call is let through (half-open) and
//! its outcome closes or reopens the breaker. Every transition is reported to an observer (which logs
//! `circuit breaker <name>: <from> -> <to>` and counts it).
//!
//! A probe that never reports back must not hold the breaker half-open: a caller whose future is
//! dropped mid-call (the client hung up) would otherwise leave every later call refused until the node
//! restarts. [`Breaker::permit`] hands out a [`Permit`] that gives the probe back when it is dropped
//! unsettled; calls that admit with the plain [`Breaker::admit`] hold the probe for [`PROBE_LEASE`] at
//! most, after which the next call probes instead.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Consecutive failures that open a breaker.
pub const FAILURE_THRESHOLD: u32 = 5;
/// How long an open breaker refuses calls before it lets a probe through.
pub const OPEN_COOLDOWN: Duration = Duration::from_secs(5);
/// How long a probe admitted without a [`Permit`] may go without an outcome before another call may
/// probe (longer than any call's own timeout).
pub const PROBE_LEASE: Duration = Duration::from_secs(15);

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
    /// When the current probe was let through, while one is out.
    probing: Option<Instant>,
    last_change: Option<i64>,
}

pub struct Breaker {
    name: String,
    inner: Mutex<Inner>,
    observer: Observer,
    cooldown: Duration,
    lease: Duration,
}

/// Leave to make one call through a breaker. Settle it with [`Permit::succeeded`] or
/// [`Permit::failed`]; dropped unsettled (the call was cancelled), it gives back the probe it held, so
/// the next call probes instead of the breaker staying half-open.
#[must_use = "a permit reports the call's outcome"]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
}

impl Permit<'_> {
    /// Whether this call is the half-open breaker's probe (its outcome closes or reopens it).
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    pub fn succeeded(self) {
        self.breaker.record_success();
        std::mem::forget(self);
    }

    pub fn failed(self) {
        self.breaker.record_failure();
        std::mem::forget(self);
    }

    /// The call ended without saying anything about the dependency (say, the caller's own input was
    /// refused): a probe is given back, a closed breaker is left as it is.
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.breaker.give_back_probe();
        }
    }
}

impl Breaker {
    pub fn new(name: impl Into<String>, observer: Observer) -> Self {
        Self::with_timing(name, observer, OPEN_COOLDOWN, PROBE_LEASE)
    }

    /// A breaker with its own cooldown and probe lease (tests use short ones).
    pub fn with_timing(name: impl Into<String>, observer: Observer, cooldown: Duration, lease: Duration) -> Self {
        let inner = Inner {
            state: State::Closed,
            consecutive_failures: 0,
            total_failures: 0,
            opened_at: None,
            probing: None,
            last_change: None,
        };
        Self { name: name.into(), inner: Mutex::new(inner), observer, cooldown, lease }
    }

    pub fn name(&self) -> &str {
        &self.name
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
            (self.observer)(&self.name, from, to);
        }
    }

    /// Whether a call may go ahead now, and whether it is the probe. An open breaker past its
    /// cooldown admits one probe; a probe out longer than the lease is taken to be lost.
    fn enter(&self) -> Option<bool> {
        let mut inner = self.lock();
        match inner.state {
            State::Closed => Some(false),
            State::HalfOpen => match inner.probing {
                Some(since) if since.elapsed() < self.lease => None,
                _ => {
                    inner.probing = Some(Instant::now());
                    Some(true)
                }
            },
            State::Open => {
                if inner.opened_at.is_some_and(|t| t.elapsed() >= self.cooldown) {
                    inner.probing = Some(Instant::now());
                    let change = self.move_to(&mut inner, State::HalfOpen);
                    drop(inner);
                    self.notify(change);
                    Some(true)
                } else {
                    None
                }
            }
        }
    }

    /// Whether a call may go ahead now. The caller reports the outcome with `record_success` or
    /// `record_failure`; a probe it never reports is held for [`PROBE_LEASE`]. Prefer [`Breaker::permit`].
    pub fn admit(&self) -> bool {
        self.enter().is_some()
    }

    /// A permit for one call, or `None` while the breaker refuses calls.
    pub fn permit(&self) -> Option<Permit<'_>> {
        self.enter().map(|probe| Permit { breaker: self, probe })
    }

    /// A probe ended without an outcome: the next call probes.
    fn give_back_probe(&self) {
        let mut inner = self.lock();
        if inner.state == State::HalfOpen {
            inner.probing = None;
        }
    }

    pub fn record_success(&self) {
        let mut inner = self.lock();
        inner.consecutive_failures = 0;
        inner.probing = None;
        inner.opened_at = None;
        let change = self.move_to(&mut inner, State::Closed);
        drop(inner);
        self.notify(change);
    }

    pub fn record_failure(&self) {
        let mut inner = self.lock();
        inner.consecutive_failures += 1;
        inner.total_failures += 1;
        inner.probing = None;
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

/// One breaker per target of one kind (each identity provider): a broken target does not refuse
/// calls to the others. Each is named `<kind>:<target>`; the observer hears a new one announced as a
/// change from closed to closed, so its metrics can exist before its first transition.
pub struct BreakerSet {
    kind: &'static str,
    observer: Observer,
    each: Mutex<BTreeMap<String, Arc<Breaker>>>,
}

impl BreakerSet {
    pub fn new(kind: &'static str, observer: Observer) -> Self {
        Self { kind, observer, each: Mutex::new(BTreeMap::new()) }
    }

    /// The breaker of `target`, made on first use.
    pub fn get(&self, target: &str) -> Arc<Breaker> {
        let mut each = self.each.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = each.get(target) {
            return b.clone();
        }
        let name = format!("{}:{target}", self.kind);
        let b = Arc::new(Breaker::new(name.clone(), self.observer.clone()));
        each.insert(target.to_string(), b.clone());
        drop(each);
        (self.observer)(&name, State::Closed, State::Closed);
        b
    }

    /// Every target's breaker, by name.
    pub fn snapshots(&self) -> Vec<(String, Snapshot)> {
        let each = self.each.lock().unwrap_or_else(|p| p.into_inner());
        each.values().map(|b| (b.name().to_string(), b.snapshot())).collect()
    }

    /// The kind as one breaker: its worst state, most consecutive failures, all failures, last change.
    pub fn summary(&self) -> Snapshot {
        let rank = |s: State| match s {
            State::Closed => 0,
            State::HalfOpen => 1,
            State::Open => 2,
        };
        let all = self.snapshots();
        Snapshot {
            state: all.iter().map(|(_, s)| s.state).max_by_key(|s| rank(*s)).unwrap_or(State::Closed),
            consecutive_failures: all.iter().map(|(_, s)| s.consecutive_failures).max().unwrap_or(0),
            total_failures: all.iter().map(|(_, s)| s.total_failures).sum(),
            last_change: all.iter().filter_map(|(_, s)| s.last_change).max(),
        }
    }
}

/// The node's breakers, by name.
#[derive(Clone)]
pub struct Breakers {
    pub database: Arc<Breaker>,
    pub redis: Arc<Breaker>,
    /// One per identity provider.
    pub oidc: Arc<BreakerSet>,
    /// File storage (a directory or an S3-compatible bucket).
    pub storage: Arc<Breaker>,
}

impl Breakers {
    pub fn new(observer: Observer) -> Self {
        Self {
            database: Arc::new(Breaker::new("database", observer.clone())),
            redis: Arc::new(Breaker::new("redis", observer.clone())),
            oidc: Arc::new(BreakerSet::new("oidc", observer.clone())),
            storage: Arc::new(Breaker::new("storage", observer)),
        }
    }

    /// Every breaker by name; `oidc` sums up the providers' (`oidc:<id>` each).
    pub fn snapshot(&self) -> BTreeMap<String, Snapshot> {
        let mut all: BTreeMap<String, Snapshot> =
            [&self.database, &self.redis, &self.storage].iter().map(|b| (b.name().to_string(), b.snapshot())).collect();
        all.insert("oidc".into(), self.oidc.summary());
        all.extend(self.oidc.snapshots());
        all
    }

    /// The names of the node's own breakers (not the per-target ones, which come and go with targets).
    pub fn names(&self) -> [&str; 3] {
        [self.database.name(), self.redis.name(), self.storage.name()]
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

    fn opened(lease: Duration) -> Breaker {
        let (observer, _) = recorder();
        let b = Breaker::with_timing("oidc", observer, Duration::ZERO, lease);
        for _ in 0..FAILURE_THRESHOLD {
            b.record_failure();
        }
        b
    }

    #[test]
    fn a_dropped_probe_permit_lets_the_next_call_probe() {
        let b = opened(Duration::from_secs(3600));
        let probe = b.permit().expect("past the cooldown one probe goes through");
        assert_eq!(b.state(), State::HalfOpen);
        assert!(b.permit().is_none(), "one probe at a time");
        drop(probe); // the caller's future was dropped mid-call
        let next = b.permit().expect("the probe was given back");
        next.succeeded();
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn a_settled_probe_decides_and_a_released_one_does_not() {
        let b = opened(Duration::from_secs(3600));
        b.permit().unwrap().failed();
        assert_eq!(b.state(), State::Open, "a failed probe reopens");
        let probe = b.permit().unwrap();
        probe.release();
        assert_eq!(b.state(), State::HalfOpen, "a released probe decides nothing");
        assert!(b.permit().is_some(), "and the next call probes");
    }

    #[test]
    fn a_probe_admitted_without_a_permit_is_held_only_for_the_lease() {
        let b = opened(Duration::from_millis(50));
        assert!(b.admit(), "the probe");
        assert!(!b.admit(), "held while it may still answer");
        std::thread::sleep(Duration::from_millis(80));
        assert!(b.admit(), "a probe that never reported is taken to be lost");
        b.record_success();
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn permits_of_a_closed_breaker_change_nothing_when_dropped() {
        let (observer, seen) = recorder();
        let b = Breaker::new("database", observer);
        drop(b.permit().unwrap());
        b.permit().unwrap().release();
        assert_eq!((b.state(), seen.lock().unwrap().len()), (State::Closed, 0));
    }

    #[test]
    fn each_target_has_its_own_breaker_and_the_kind_sums_them_up() {
        let (observer, seen) = recorder();
        let set = BreakerSet::new("oidc", observer);
        let broken = set.get("broken");
        for _ in 0..FAILURE_THRESHOLD {
            broken.record_failure();
        }
        assert_eq!(set.get("healthy").state(), State::Closed, "the healthy provider still takes calls");
        assert!(Arc::ptr_eq(&broken, &set.get("broken")));
        assert_eq!(set.summary().state, State::Open);
        assert_eq!(set.summary().total_failures, u64::from(FAILURE_THRESHOLD));
        assert_eq!(
            *seen.lock().unwrap(),
            ["oidc:broken:closed->closed", "oidc:broken:closed->open", "oidc:healthy:closed->closed"]
        );
    }
}
