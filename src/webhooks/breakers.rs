//! One circuit breaker per target host (the same [`Breaker`] the node's dependencies use): a host that
//! keeps failing is left alone for a while instead of tying up the outbox. Bounded: past
//! [`MAX_HOSTS`], closed breakers (which hold nothing worth keeping) are dropped first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rustchat_actors::breaker::{Breaker, State};

use crate::telemetry::metrics::Metrics;

/// Most hosts whose breaker is remembered.
pub const MAX_HOSTS: usize = 1024;

pub struct HostBreakers {
    hosts: Mutex<HashMap<String, Arc<Breaker>>>,
    metrics: Arc<Metrics>,
}

impl HostBreakers {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        metrics.declare_breaker("webhook");
        Self { hosts: Mutex::new(HashMap::new()), metrics }
    }

    /// The breaker of `host`, made closed on first use.
    pub fn of(&self, host: &str) -> Arc<Breaker> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = hosts.get(host) {
            return b.clone();
        }
        if hosts.len() >= MAX_HOSTS {
            hosts.retain(|_, b| b.state() != State::Closed);
        }
        let metrics = self.metrics.clone();
        let name = host.to_string();
        let breaker = Arc::new(Breaker::new(
            "webhook",
            Arc::new(move |breaker: &str, from: State, to: State| {
                let (from, to) = (from.as_str(), to.as_str());
                tracing::warn!(breaker, host = %name, from, to, "circuit breaker {breaker} ({name}): {from} -> {to}");
                metrics.record_breaker_change(breaker, from, to);
            }),
        ));
        if hosts.len() < MAX_HOSTS {
            hosts.insert(host.to_string(), breaker.clone());
        }
        breaker
    }
}
