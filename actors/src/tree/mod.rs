//! The node's supervisor tree. [`Tree`] is its root: it owns the circuit breakers (the store, the
//! Redis link, the bus and OIDC ask it for theirs) and starts the node's long-lived children — actors
//! ([`Tree::start_actor`]) and tasks ([`Tree::spawn_task`]). A child that panics or stops is started
//! again after a [`backoff`], logged with its name and restart count, and counted through
//! [`Restarts`] (`rustchat_actor_restarts_total{actor}`). A restarted actor keeps its address and
//! mailbox, so whoever holds it never notices beyond the delay.
//!
//! The children: `router` (the [`Supervisor`](crate::Supervisor), with its connection and channel
//! registries), `heartbeat`, `presence`, every `channel` actor (started by the router through the
//! tree) and, with Redis, the `bus` task. The breakers are plain shared state and the Redis command
//! link reconnects on its next use, so neither has a task to restart; the tree holds the one and the
//! link is built with the tree's breaker.
//!
//! Why not `actix::Supervisor`: it restarts an actor whose context stops, but a panic in a handler
//! unwinds through it and the actor is gone (tokio catches the panic and drops the task, mailbox
//! and all). Here every poll of a child runs under `catch_unwind`.

pub mod backoff;
mod child;
#[cfg(debug_assertions)]
pub mod faults;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::{Actor, Addr, Context, Supervised};

use crate::breaker::{Breakers, Observer};

/// Where restarts are counted (the server's metrics).
pub trait Restarts: Send + Sync + 'static {
    /// `child` joined the tree: its count exists from now on, at 0.
    fn declare(&self, child: &'static str);
    /// `child` is being started again.
    fn record(&self, child: &'static str);
}

/// A handle on the root of the tree; clones share it.
#[derive(Clone)]
pub struct Tree {
    inner: Arc<Inner>,
}

struct Inner {
    breakers: Breakers,
    restarts: Arc<dyn Restarts>,
    /// Set once the node shuts down: children that stop then stay stopped.
    stopping: AtomicBool,
    #[cfg(debug_assertions)]
    faults: faults::Faults,
}

/// Why a child ended.
#[derive(Debug)]
pub(crate) enum Exit {
    Panicked(String),
    /// An actor's context stopped while others still hold its address.
    Stopped,
    /// A task ended with an error.
    Failed(String),
}

impl Tree {
    /// `breaker_changes` sees every breaker transition (it logs and counts them).
    pub fn new(breaker_changes: Observer, restarts: Arc<dyn Restarts>) -> Tree {
        Tree {
            inner: Arc::new(Inner {
                breakers: Breakers::new(breaker_changes),
                restarts,
                stopping: AtomicBool::new(false),
                #[cfg(debug_assertions)]
                faults: faults::Faults::default(),
            }),
        }
    }

    /// The node's circuit breakers.
    pub fn breakers(&self) -> &Breakers {
        &self.inner.breakers
    }

    /// Starts `actor` on the current arbiter as a child named `name`. When it panics or stops while
    /// someone still holds its address, it is restarted in place (`Supervised::restarting`, then
    /// `started` again) after a backoff; messages sent meanwhile wait in its mailbox.
    pub fn start_actor<A>(&self, name: &'static str, actor: A) -> Addr<A>
    where
        A: Actor<Context = Context<A>> + Supervised,
    {
        self.declare(name);
        child::start_actor(self.clone(), name, actor)
    }

    /// Runs the task `run` makes, on the current arbiter, as a child named `name`: when it panics or
    /// ends with an error, `run` makes a new one after a backoff. `Ok(())` ends it for good (its
    /// input is gone).
    pub fn spawn_task<F, Fut>(&self, name: &'static str, run: F)
    where
        F: FnMut() -> Fut + 'static,
        Fut: Future<Output = Result<(), String>> + 'static,
    {
        self.declare(name);
        child::spawn_task(self.clone(), name, run)
    }

    /// Counts `name` as a child (at 0) without starting anything: for children started per need,
    /// such as channel actors, whose count should exist before the first one crashes.
    pub fn declare(&self, name: &'static str) {
        self.inner.restarts.declare(name);
    }

    /// The node is shutting down: from now on a child that stops stays stopped.
    pub fn shut_down(&self) {
        self.inner.stopping.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::Relaxed)
    }

    /// Logs and counts the restart of `name` (its `restarts`-th) in `delay`.
    pub(crate) fn restarting(&self, name: &'static str, restarts: u64, delay: Duration, exit: &Exit) {
        let delay_ms = delay.as_millis() as u64;
        match exit {
            Exit::Panicked(cause) => tracing::error!(
                actor = name,
                restarts,
                delay_ms,
                cause = %cause,
                "actor {name} panicked; restarting in {delay_ms} ms (restart {restarts})"
            ),
            Exit::Stopped => tracing::warn!(
                actor = name,
                restarts,
                delay_ms,
                "actor {name} stopped; restarting in {delay_ms} ms (restart {restarts})"
            ),
            Exit::Failed(error) => tracing::warn!(
                actor = name,
                restarts,
                delay_ms,
                error = %error,
                "actor {name} failed; restarting in {delay_ms} ms (restart {restarts})"
            ),
        }
        self.inner.restarts.record(name);
    }

    #[cfg(debug_assertions)]
    pub(crate) fn faults(&self) -> &faults::Faults {
        &self.inner.faults
    }
}

/// The text of a caught panic.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

#[cfg(test)]
mod tests;
