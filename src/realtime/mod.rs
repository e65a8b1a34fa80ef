//! The node's real-time side, as the HTTP layer sees it: starting the supervisor tree's children
//! (bus, router, heartbeat, presence) over the right bus, publishing committed events after a write,
//! and draining sockets on shutdown. The actors themselves live in the `rustchat-actors` crate.

pub mod actions;
pub mod log;
pub mod logins;
pub mod render;

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use bytestring::ByteString;
use rustchat_actors::heartbeat::{HEARTBEAT_INTERVAL, Peers};
use rustchat_actors::login::LoginsEnded;
use rustchat_actors::messages::{Count, Drain, NodeCounts, Publish};
use rustchat_actors::ports::{Bus, BusMessage, ClusterRegistry, Connections, Logins, NodeInfo};
use rustchat_actors::{Heartbeat, Presence, SessionConfig, Supervisor, Tree};
use serde_json::json;

use self::actions::ChatActions;
use self::log::StoreLog;
use self::logins::StoreLogins;
use rustchat_actors::session::SessionCounters;

use crate::auth::TokenKeys;
use crate::cluster::bus::{BusStats, LocalBus, RedisBus};
use crate::cluster::registry::{LocalRegistry, RedisRegistry};
use crate::cluster::slots::{LocalSlots, RedisSlots};
use crate::cluster::{Keys, RedisLink};
use crate::config::Settings;
use crate::domain::UserId;
use crate::store::Store;
use crate::store::change::{Change, ChannelEvent};

pub struct Realtime {
    /// Shared (not cloned) into every session: an actix address owns three allocations of its own.
    pub supervisor: Arc<Addr<Supervisor>>,
    pub bus: Arc<dyn Bus>,
    pub slots: Arc<dyn Connections>,
    pub log: Arc<StoreLog>,
    pub actions: Arc<ChatActions>,
    pub logins: Arc<dyn Logins>,
    pub session_config: Arc<SessionConfig>,
    /// Handshakes reading the database at once: half the pool, so a reconnect wave queues here instead
    /// of timing out on the pool and starving posts.
    pub admission: Arc<tokio::sync::Semaphore>,
    pub peers: Peers,
    heartbeat: Addr<Heartbeat>,
    /// Held so the tree can restart it: an actor nobody can reach again is left stopped.
    _presence: Addr<Presence>,
}

impl Realtime {
    /// Starts the tree's children on the current actix system.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        tree: &Tree,
        settings: &Settings,
        store: &Store,
        tokens: &TokenKeys,
        redis: Option<Arc<RedisLink>>,
        port: u16,
        counters: Arc<SessionCounters>,
        bus_stats: Arc<BusStats>,
        metrics: Arc<crate::telemetry::metrics::Metrics>,
        webhooks: Arc<crate::webhooks::Webhooks>,
    ) -> anyhow::Result<Realtime> {
        let keys = Keys::new(&settings.redis.prefix);
        let (bus, slots, registry): (Arc<dyn Bus>, Arc<dyn Connections>, Arc<dyn ClusterRegistry>) =
            match (&settings.redis.url, redis) {
                (Some(url), Some(link)) => (
                    Arc::new(RedisBus::start_on(
                        url.expose(),
                        settings.redis.cluster,
                        keys.clone(),
                        bus_stats,
                        render::frame_from_bus,
                        tree,
                    )?),
                    Arc::new(RedisSlots::new(link.clone(), keys.clone())),
                    Arc::new(RedisRegistry::new(link, keys)),
                ),
                _ => {
                    bus_stats.connected.store(true, std::sync::atomic::Ordering::Relaxed);
                    (Arc::new(LocalBus::new(bus_stats)), Arc::new(LocalSlots::default()), Arc::new(LocalRegistry))
                }
            };
        let presence_max_members = settings.ws.presence_max_members;
        let log = Arc::new(StoreLog { store: store.clone(), presence_max_members, channel_reads: None });
        let channel_log =
            Arc::new(StoreLog { store: store.clone(), presence_max_members, channel_reads: Some(counters.clone()) });
        let logins: Arc<dyn Logins> = Arc::new(StoreLogins { store: store.clone(), tokens: tokens.clone() });
        let supervisor = tree.start_actor(
            "router",
            Supervisor::new(tree.clone(), bus.clone(), channel_log, logins.clone(), slots.clone()),
        );
        tree.declare("channel");
        let presence = tree.start_actor("presence", Presence::new(supervisor.clone(), slots.clone()));
        let peers = Peers::default();
        let me = NodeInfo {
            node_id: settings.node_id.clone(),
            address: format!("{}:{port}", advertised_host(&settings.host)),
            version: env!("CARGO_PKG_VERSION").to_string(),
            connections: 0,
            started_at: crate::domain::Timestamp::now().unix_seconds(),
            last_seen: 0,
        };
        let heartbeat = tree.start_actor(
            "heartbeat",
            Heartbeat::new(me, registry, supervisor.clone(), peers.clone(), HEARTBEAT_INTERVAL),
        );
        #[cfg(debug_assertions)]
        arm_faults(tree, &supervisor, &heartbeat, &presence);

        let session_config = Arc::new(SessionConfig {
            node_id: settings.node_id.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            ping_interval: settings.ws.ping_interval,
            client_timeout: settings.ws.client_timeout,
            max_queued_frames: settings.ws.max_queued_frames,
            max_queued_bytes: settings.ws.max_queued_bytes,
            max_messages_per_second: 20,
            counters,
        });
        Ok(Realtime {
            supervisor: Arc::new(supervisor),
            bus,
            actions: Arc::new(ChatActions { store: store.clone(), presence: slots.clone(), metrics, webhooks }),
            slots,
            log,
            logins,
            session_config,
            admission: Arc::new(tokio::sync::Semaphore::new((settings.database.max_connections as usize / 2).max(1))),
            peers,
            heartbeat,
            _presence: presence,
        })
    }

    /// Publishes one committed event of a channel, as written by the transaction that made it.
    pub fn publish_event(&self, event: &ChannelEvent) {
        for message in publications(event) {
            self.supervisor.do_send(Publish(message));
        }
    }

    /// Closes the sockets of the logins `ended` names, on every node, before anything published after
    /// this reaches them. Call it after the change is committed (a node that misses the notice finds
    /// the change in the database at its next sweep).
    pub fn end_logins(&self, ended: LoginsEnded) {
        self.supervisor.do_send(Publish(BusMessage::LoginsEnded(ended)));
    }

    /// Sends a non-channel event to every session of `user`, on every node.
    pub fn publish_to_user(&self, user: UserId, value: serde_json::Value) {
        self.supervisor.do_send(Publish(BusMessage::User { user: user.0, text: ByteString::from(value.to_string()) }));
    }

    pub async fn counts(&self) -> NodeCounts {
        self.supervisor.send(Count).await.unwrap_or_default()
    }

    /// Closes every WebSocket with 1012 and waits (at most `timeout`) until they are gone.
    pub async fn drain(&self, timeout: Duration) {
        let open = self.supervisor.send(Drain).await.unwrap_or(0);
        if open > 0 {
            tracing::info!(connections = open, "closing WebSockets with 1012 (service restart)");
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while self.counts().await.connections > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops announcing this node (peers see it leave at once).
    pub fn leave_cluster(&self) {
        self.heartbeat.do_send(rustchat_actors::heartbeat::Leave);
    }
}

/// What publishing a committed event sends: the event on its channel's topic (this node's frame and the
/// bus encoding) and, for a member joining, a notice on that user's topic (their sessions elsewhere
/// subscribe to the channel). Every publisher of channel events (REST through [`Realtime::publish_event`],
/// the WebSocket's actions through their outcome) sends exactly this.
pub fn publications(event: &ChannelEvent) -> Vec<BusMessage> {
    let mut out = Vec::with_capacity(2);
    if let Change::MemberAdded { user_id } = event.change {
        let text = json!({ "event": "member_added", "channel_id": event.channel_id, "seq": event.seq, "data": { "user_id": user_id } });
        out.push(BusMessage::User { user: user_id.0, text: ByteString::from(text.to_string()) });
    }
    out.push(BusMessage::Channel { frame: render::frame(event), wire: event.to_wire().into() });
    out
}

/// How the test fault endpoint makes each actor child panic (the bus task arms itself).
#[cfg(debug_assertions)]
fn arm_faults(tree: &Tree, router: &Addr<Supervisor>, heartbeat: &Addr<Heartbeat>, presence: &Addr<Presence>) {
    use rustchat_actors::supervisor::CrashChannels;
    use rustchat_actors::tree::faults::Crash;
    let (r, h, p, c) = (router.clone(), heartbeat.clone(), presence.clone(), router.clone());
    tree.on_fault("router", move || r.do_send(Crash));
    tree.on_fault("heartbeat", move || h.do_send(Crash));
    tree.on_fault("presence", move || p.do_send(Crash));
    tree.on_fault("channel", move || c.do_send(CrashChannels));
}

fn advertised_host(host: &str) -> String {
    if host == "0.0.0.0" || host == "::" {
        gethostname::gethostname().to_string_lossy().into_owned()
    } else {
        host.to_string()
    }
}
