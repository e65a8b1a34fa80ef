//! `Presence`: keeps this node's users present in the cluster. Each connection holds a slot in the
//! cluster-wide count, which expires unless renewed (so a crashed node's users go offline by
//! themselves); this child renews the slots of every connection the router knows.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::messages::LiveConnections;
use crate::ports::Connections;
use crate::supervisor::Supervisor;

/// How often this node's connection slots are renewed in the cluster-wide count.
pub const SLOT_REFRESH_INTERVAL: Duration = Duration::from_secs(20);

pub struct Presence {
    router: Addr<Supervisor>,
    connections: Arc<dyn Connections>,
}

impl Presence {
    pub fn new(router: Addr<Supervisor>, connections: Arc<dyn Connections>) -> Self {
        Self { router, connections }
    }

    fn refresh(&mut self, ctx: &mut Context<Self>) {
        let live = self.router.send(LiveConnections);
        let connections = self.connections.clone();
        ctx.spawn(
            async move {
                match live.await {
                    Ok(live) if !live.is_empty() => connections.refresh(live),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot list connections to renew their slots"),
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for Presence {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(SLOT_REFRESH_INTERVAL, |act, ctx| act.refresh(ctx));
    }
}

/// Nothing to reset: the next interval renews every slot.
impl Supervised for Presence {}

#[cfg(debug_assertions)]
crate::tree::faults::crash_on_request!(Presence);
