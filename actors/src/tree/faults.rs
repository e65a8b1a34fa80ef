//! Fault injection, compiled into debug builds only, so tests can make each child of the tree panic
//! and watch it come back. Nothing here runs unless the server mounts its test endpoint (it does so
//! only when `RUSTCHAT_TEST_FAULTS=1`, and refuses that variable in a release build or production).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use actix::Message;
use tokio::sync::Notify;

use super::Tree;

/// Panic in the handler, as a bug would.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

type Trigger = Arc<dyn Fn() + Send + Sync>;

/// How to make each child panic, by child name.
#[derive(Default)]
pub struct Faults {
    triggers: Mutex<BTreeMap<&'static str, Trigger>>,
}

impl Faults {
    fn set(&self, name: &'static str, trigger: Trigger) {
        self.triggers.lock().unwrap_or_else(|p| p.into_inner()).insert(name, trigger);
    }

    /// Wraps one run of a task so that the child's trigger panics inside it.
    pub(crate) fn crashable<Fut>(&self, name: &'static str, task: Fut) -> impl Future<Output = Fut::Output> + use<Fut>
    where
        Fut: Future,
    {
        let crash = Arc::new(Notify::new());
        let fire = crash.clone();
        self.set(name, Arc::new(move || fire.notify_one()));
        async move {
            tokio::select! {
                out = task => out,
                _ = crash.notified() => panic!("fault injected into {name}"),
            }
        }
    }
}

impl Tree {
    /// Makes `trigger` the way to crash child `name` (an actor: send it [`Crash`]).
    pub fn on_fault(&self, name: &'static str, trigger: impl Fn() + Send + Sync + 'static) {
        self.faults().set(name, Arc::new(trigger));
    }

    /// Makes child `name` panic; `false` when there is no such child.
    pub fn inject_fault(&self, name: &str) -> bool {
        let trigger = self.faults().triggers.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned();
        match trigger {
            Some(trigger) => {
                tracing::warn!(actor = name, "test fault: making {name} panic");
                trigger();
                true
            }
            None => false,
        }
    }

    /// The children that can be made to panic.
    pub fn fault_names(&self) -> Vec<&'static str> {
        self.faults().triggers.lock().unwrap_or_else(|p| p.into_inner()).keys().copied().collect()
    }
}

/// Makes each listed actor panic on [`Crash`]. Each actor invokes it in its own module, so the tree
/// knows none of its children's types.
macro_rules! crash_on_request {
    ($($actor:ty),* $(,)?) => {$(
        impl actix::Handler<$crate::tree::faults::Crash> for $actor {
            type Result = ();
            fn handle(&mut self, _: $crate::tree::faults::Crash, _: &mut <Self as actix::Actor>::Context) {
                panic!("fault injected into {}", stringify!($actor));
            }
        }
    )*};
}
pub(crate) use crash_on_request;
