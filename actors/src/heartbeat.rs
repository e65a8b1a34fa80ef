//! `Heartbeat`: announces this node to the cluster registry every few seconds (id, address, version,
//! connection count) and learns its peers. Peers joining, leaving or going silent are logged with
//! `cluster heartbeat`, the phrase the runbook greps for; the current peer list is shared for stats.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;

use crate::messages::Count;
use crate::ports::{ClusterRegistry, NodeInfo};
use crate::supervisor::Supervisor;

pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// The latest view of the cluster, readable from anywhere.
pub type Peers = Arc<RwLock<Vec<NodeInfo>>>;

pub struct Heartbeat {
    me: NodeInfo,
    registry: Arc<dyn ClusterRegistry>,
    supervisor: Addr<Supervisor>,
    peers: Peers,
    known: BTreeSet<String>,
    failing: bool,
    interval: Duration,
}

impl Heartbeat {
    pub fn new(
        me: NodeInfo,
        registry: Arc<dyn ClusterRegistry>,
        supervisor: Addr<Supervisor>,
        peers: Peers,
        interval: Duration,
    ) -> Self {
        Self { me, registry, supervisor, peers, known: BTreeSet::new(), failing: false, interval }
    }

    fn beat(&mut self, ctx: &mut Context<Self>) {
        let count = self.supervisor.send(Count);
        let registry = self.registry.clone();
        let mut me = self.me.clone();
        let announce = async move {
            me.connections = count.await.map(|c| c.connections as u64).unwrap_or(0);
            me.last_seen = unix_now();
            registry.announce(me).await
        };
        ctx.spawn(announce.into_actor(self).map(|result, act, _| match result {
            Ok(nodes) => {
                if act.failing {
                    tracing::info!(node_id = %act.me.node_id, "cluster heartbeat restored");
                    act.failing = false;
                }
                let seen: BTreeSet<String> = nodes.iter().map(|n| n.node_id.clone()).collect();
                for joined in seen.difference(&act.known) {
                    if *joined != act.me.node_id {
                        tracing::info!(peer = %joined, node_id = %act.me.node_id, "cluster heartbeat: peer joined");
                    }
                }
                for left in act.known.difference(&seen) {
                    tracing::warn!(peer = %left, node_id = %act.me.node_id, "cluster heartbeat: peer left or went silent");
                }
                act.known = seen;
                if let Ok(mut peers) = act.peers.write() {
                    *peers = nodes;
                }
            }
            Err(e) => {
                if !act.failing {
                    tracing::warn!(node_id = %act.me.node_id, error = %e, "cluster heartbeat failed");
                    act.failing = true;
                }
            }
        }));
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Actor for Heartbeat {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.beat(ctx);
        ctx.run_interval(self.interval, |act, ctx| act.beat(ctx));
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        let withdraw = self.registry.withdraw(self.me.node_id.clone());
        actix::spawn(withdraw);
        Running::Stop
    }
}

/// Keeps what it knows of its peers (a peer is not "joined" again); the next beat comes at once.
impl Supervised for Heartbeat {}

/// Stop announcing this node and withdraw it from the registry (graceful shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave;

impl Handler<Leave> for Heartbeat {
    type Result = ();
    fn handle(&mut self, _: Leave, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(debug_assertions)]
crate::tree::faults::crash_on_request!(Heartbeat);
