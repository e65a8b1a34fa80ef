//! The bus: Redis pub/sub between nodes ([`RedisBus`]) or nothing at all on a single node
//! ([`LocalBus`]: the supervisor already routes this node's events locally).
//!
//! One task ([`task`]) owns the Redis pub/sub connection (RESP3, pushes delivered to a channel) and applies
//! commands in the order they were issued: publishes are pipelined in batches; subscriptions are
//! remembered and re-issued after every reconnect. Pub/sub is at-most-once: when the connection drops,
//! the task tells the supervisor once it is back (`BusReconnected`), and channel actors read back the
//! event log. The task is the supervisor tree's child `bus`: the command queue and the wanted topics
//! outlive a crash, so a restarted task re-subscribes and sends what was queued meanwhile.
//!
//! On a Redis Cluster the same task speaks sharded pub/sub ([`super::pubsub`]); after a lost node it
//! builds a fresh connection, subscribes it to every wanted topic (now on the promoted replicas) and
//! only then tells the supervisor it is back.
//!
//! Each publish runs in a DEBUG span `bus.publish` (`kind`, `topic`), each pipelined write in
//! `bus.send` (`count`), each delivered message in `bus.receive` (`topic`, `kind`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime};

use actix::Recipient;
use rustchat_actors::Frame;
use rustchat_actors::counters::{Stage, StageObserver};
use rustchat_actors::messages::{BusReceived, BusReconnected};
use rustchat_actors::ports::{Bus, BusMessage, LocalFut, Topic};
use rustchat_actors::tree::Tree;
use tokio::sync::{mpsc, oneshot};

mod task;

use super::Keys;
use super::echoes::Echoes;
use super::pubsub::PubSubTarget;
use task::BusTask;

/// Counts the metrics read.
#[derive(Default)]
pub struct BusStats {
    pub published: std::sync::atomic::AtomicU64,
    pub received: std::sync::atomic::AtomicU64,
    pub connected: AtomicBool,
    /// Where the bus reports the stages it sees: `Commit` (every event this node publishes), `Publish`
    /// and `Transit`.
    pub stages: StageObserver,
}

impl BusStats {
    fn observe(&self, stage: Stage, seconds: f64) {
        if let Some(observe) = self.stages.get() {
            observe(stage, seconds);
        }
    }

    /// A channel event this node wrote is being published: its write took from its creation to now.
    fn committed(&self, message: &BusMessage) {
        if let BusMessage::Channel { frame, .. } = message
            && let Some(created) = frame.created
        {
            self.observe(Stage::Commit, seconds_since(created));
        }
    }
}

/// Wall-clock seconds since `t` (0 when the clock stepped back past it).
pub(super) fn seconds_since(t: SystemTime) -> f64 {
    SystemTime::now().duration_since(t).map_or(0.0, |d| d.as_secs_f64())
}

/// The single-node bus: no peers, nothing to carry.
pub struct LocalBus {
    stats: Arc<BusStats>,
}

impl LocalBus {
    pub fn new(stats: Arc<BusStats>) -> LocalBus {
        LocalBus { stats }
    }
}

impl Bus for LocalBus {
    fn attach(&self, _: Recipient<BusReceived>, _: Recipient<BusReconnected>) {}
    fn publish(&self, message: BusMessage) {
        self.stats.committed(&message);
    }
    fn subscribe(&self, _: Topic) -> LocalFut<Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn unsubscribe(&self, _: Topic) {}
    fn is_connected(&self) -> bool {
        true
    }
}

pub(super) enum Command {
    /// Topic, payload and, for a channel event, when it was handed to the router (the publish stage).
    Publish(String, String, Option<Instant>),
    Subscribe(String, oneshot::Sender<Result<(), String>>),
    Unsubscribe(String),
}

pub(super) struct Targets {
    pub(super) received: Recipient<BusReceived>,
    pub(super) reconnected: Recipient<BusReconnected>,
}

/// Renders a channel message received from another node as this node's frame.
pub type RenderFrame = fn(&str) -> Result<Frame, String>;

/// Redis pub/sub between nodes.
pub struct RedisBus {
    keys: Keys,
    commands: mpsc::UnboundedSender<Command>,
    stats: Arc<BusStats>,
    targets: Arc<OnceLock<Targets>>,
}

impl RedisBus {
    /// Starts the bus task as a child of `tree`, on the current arbiter. Redis need not be up yet.
    /// `render` turns a channel message from another node into this node's frame (the bus carries
    /// events in the server's neutral encoding; which face renders them is not the bus's business).
    pub fn start(
        url: &str,
        keys: Keys,
        stats: Arc<BusStats>,
        render: RenderFrame,
        tree: &Tree,
    ) -> anyhow::Result<RedisBus> {
        Self::start_on(url, false, keys, stats, render, tree)
    }

    /// Like [`RedisBus::start`]; `cluster` (`RUSTCHAT_REDIS_CLUSTER`) makes even one URL a cluster seed.
    pub fn start_on(
        url: &str,
        cluster: bool,
        keys: Keys,
        stats: Arc<BusStats>,
        render: RenderFrame,
        tree: &Tree,
    ) -> anyhow::Result<RedisBus> {
        let client = PubSubTarget::new(url, cluster)?;
        let (commands, rx) = mpsc::unbounded_channel();
        let targets: Arc<OnceLock<Targets>> = Arc::new(OnceLock::new());
        let queue = Arc::new(tokio::sync::Mutex::new(rx));
        let desired = Arc::new(Mutex::new(HashSet::new()));
        let (task_keys, task_stats, task_targets) = (keys.clone(), stats.clone(), targets.clone());
        tree.spawn_task("bus", move || {
            let task = BusTask {
                echoes: Echoes::default(),
                client: client.clone(),
                keys: task_keys.clone(),
                stats: task_stats.clone(),
                targets: task_targets.clone(),
                desired: desired.clone(),
                render,
            };
            let queue = queue.clone();
            async move { task.run(&mut *queue.lock_owned().await).await }
        });
        Ok(RedisBus { keys, commands, stats, targets })
    }
}

impl Bus for RedisBus {
    fn attach(&self, received: Recipient<BusReceived>, reconnected: Recipient<BusReconnected>) {
        let _ = self.targets.set(Targets { received, reconnected });
    }

    fn publish(&self, message: BusMessage) {
        let span = tracing::debug_span!("bus.publish", kind = kind_of(&message), topic = tracing::field::Empty);
        let _entered = span.enter();
        self.stats.committed(&message);
        let (topic, payload, handed) = match message {
            BusMessage::Channel { frame, wire } => {
                let handed = frame.created.is_some().then_some(frame.arrived);
                (self.keys.topic(Topic::Channel(frame.channel)), wire.to_string(), handed)
            }
            BusMessage::User { user, text } => (self.keys.topic(Topic::User(user)), text.to_string(), None),
            BusMessage::LoginsEnded(notice) => (self.keys.topic(Topic::User(notice.user)), notice.encode(), None),
        };
        span.record("topic", topic.as_str());
        let _ = self.commands.send(Command::Publish(topic, payload, handed));
    }

    fn subscribe(&self, topic: Topic) -> LocalFut<Result<(), String>> {
        let (tx, rx) = oneshot::channel();
        let sent = self.commands.send(Command::Subscribe(self.keys.topic(topic), tx));
        Box::pin(async move {
            sent.map_err(|_| "bus stopped".to_string())?;
            rx.await.map_err(|_| "bus stopped".to_string())?
        })
    }

    fn unsubscribe(&self, topic: Topic) {
        let _ = self.commands.send(Command::Unsubscribe(self.keys.topic(topic)));
    }

    fn is_connected(&self) -> bool {
        self.stats.connected.load(Ordering::Relaxed)
    }
}

/// What a bus message carries, for the `kind` field of its spans.
pub(super) fn kind_of(message: &BusMessage) -> &'static str {
    match message {
        BusMessage::Channel { .. } => "channel",
        BusMessage::User { .. } => "user",
        BusMessage::LoginsEnded(_) => "logins_ended",
    }
}
