//! The bus: Redis pub/sub between nodes ([`RedisBus`]) or nothing at all on a single node
//! ([`LocalBus`]: the supervisor already routes this node's events locally).
//!
//! One task owns the Redis pub/sub connection (RESP3, pushes delivered to a channel) and applies
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
use std::time::{Duration, Instant, SystemTime};

use actix::Recipient;
use redis::{PushInfo, PushKind, Value};
use rustchat_actors::Frame;
use rustchat_actors::counters::{Stage, StageObserver};
use rustchat_actors::login::LoginsEnded;
use rustchat_actors::messages::{BusReceived, BusReconnected};
use rustchat_actors::ports::{Bus, BusMessage, LocalFut, Topic};
use rustchat_actors::tree::Tree;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::Keys;
use super::echoes::Echoes;
use super::pubsub::{PubSub, PubSubTarget};

/// Commands of one kind sent in one round trip at most (publishes in one pipeline, topics in one
/// subscription).
const MAX_BATCH: usize = 512;

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
fn seconds_since(t: SystemTime) -> f64 {
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

enum Command {
    /// Topic, payload and, for a channel event, when it was handed to the router (the publish stage).
    Publish(String, String, Option<Instant>),
    Subscribe(String, oneshot::Sender<Result<(), String>>),
    Unsubscribe(String),
}

struct Targets {
    received: Recipient<BusReceived>,
    reconnected: Recipient<BusReconnected>,
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

fn same_kind(a: &Command, b: &Command) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// What a bus message carries, for the `kind` field of its spans.
fn kind_of(message: &BusMessage) -> &'static str {
    match message {
        BusMessage::Channel { .. } => "channel",
        BusMessage::User { .. } => "user",
        BusMessage::LoginsEnded(_) => "logins_ended",
    }
}

struct BusTask {
    client: PubSubTarget,
    keys: Keys,
    stats: Arc<BusStats>,
    targets: Arc<OnceLock<Targets>>,
    /// Topics this node wants, re-subscribed after every reconnect (and restart).
    desired: Arc<Mutex<HashSet<String>>>,
    render: RenderFrame,
    echoes: Echoes,
}

impl BusTask {
    fn desired(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.desired.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn connect(&self, pushes: mpsc::UnboundedSender<PushInfo>) -> PubSub {
        let mut logged = false;
        loop {
            match self.client.connect(pushes.clone()).await {
                Ok(manager) => return manager,
                Err(e) => {
                    if !logged {
                        tracing::warn!(error = %e, "Redis bus unreachable; delivering locally and retrying");
                        logged = true;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Serves `commands` until every sender is gone (`Ok`); an error asks the tree for a restart.
    async fn run(mut self, commands: &mut mpsc::UnboundedReceiver<Command>) -> Result<(), String> {
        let (push_tx, mut pushes) = mpsc::unbounded_channel::<PushInfo>();
        // Until the first connection, commands wait here; subscriptions are answered with an error so
        // callers carry on (the subscription is remembered and made once Redis answers).
        let mut manager = loop {
            tokio::select! {
                m = self.connect(push_tx.clone()) => break m,
                cmd = commands.recv() => match cmd {
                    None => return Ok(()),
                    Some(Command::Subscribe(topic, reply)) => {
                        self.desired().insert(topic);
                        let _ = reply.send(Err("Redis is unreachable".into()));
                    }
                    Some(Command::Unsubscribe(topic)) => { self.desired().remove(&topic); }
                    Some(Command::Publish(..)) => {}
                },
            }
        };
        self.on_connected(&mut manager, true).await;

        let mut probe = tokio::time::interval(Duration::from_millis(250));
        let mut lost = false;
        loop {
            tokio::select! {
                cmd = commands.recv() => {
                    let Some(cmd) = cmd else { return Ok(()) };
                    self.apply(&mut manager, cmd, commands).await;
                }
                push = pushes.recv() => {
                    let Some(push) = push else { return Err("the Redis push channel closed".into()) };
                    if push.kind == PushKind::Disconnection {
                        if !lost {
                            tracing::warn!("Redis bus connection lost; reconnecting");
                        }
                        lost = true;
                        self.stats.connected.store(false, Ordering::Relaxed);
                    } else {
                        self.deliver(push);
                    }
                }
                _ = probe.tick(), if lost => {
                    if manager.is_rebuilt_after_loss() {
                        // A fresh connection learns the slot map as it is now; it takes over only once
                        // every wanted topic is subscribed on it. Its pushes come on a channel of its
                        // own, so the old connection's farewells cannot mark the new one lost.
                        let (fresh_tx, fresh_pushes) = mpsc::unbounded_channel();
                        if let Ok(mut fresh) = self.client.connect(fresh_tx).await
                            && self.resubscribe(&mut fresh).await
                        {
                            manager = fresh;
                            pushes = fresh_pushes;
                            lost = false;
                            self.on_connected(&mut manager, false).await;
                        }
                    } else if manager.ping().await.is_ok() {
                        lost = false;
                        self.on_connected(&mut manager, false).await;
                    }
                }
            }
        }
    }

    /// Subscribes `manager` to every wanted topic; `false` when one failed.
    async fn resubscribe(&self, manager: &mut PubSub) -> bool {
        let topics: Vec<String> = self.desired().iter().cloned().collect();
        let mut all = true;
        for chunk in topics.chunks(MAX_BATCH) {
            for (topic, result) in chunk.iter().zip(manager.subscribe(chunk).await) {
                if let Err(e) = result {
                    tracing::warn!(%topic, error = %e, "re-subscribe failed");
                    all = false;
                }
            }
        }
        all
    }

    async fn on_connected(&mut self, manager: &mut PubSub, first: bool) {
        let topics: Vec<String> = self.desired().iter().cloned().collect();
        // A rebuilt cluster connection was subscribed before it took over.
        if first || !manager.is_rebuilt_after_loss() {
            self.resubscribe(manager).await;
        }
        self.stats.connected.store(true, Ordering::Relaxed);
        tracing::info!(topics = topics.len(), "Redis bus connected");
        if (!first || !topics.is_empty())
            && let Some(t) = self.targets.get()
        {
            t.reconnected.do_send(BusReconnected);
        }
    }

    /// Applies `cmd` together with the commands of its kind queued right behind it, as one batch (one
    /// round trip), then each following run of commands the same way until the queue is empty. Order
    /// is kept: a batch ends at the first command of another kind. After a connect burst thousands of
    /// subscriptions queue here, and publishes wait behind them.
    async fn apply(&mut self, manager: &mut PubSub, cmd: Command, rest: &mut mpsc::UnboundedReceiver<Command>) {
        let mut next = Some(cmd);
        while let Some(cmd) = next.take() {
            let mut batch = vec![cmd];
            while batch.len() < MAX_BATCH {
                match rest.try_recv() {
                    Ok(cmd) if same_kind(&cmd, &batch[0]) => batch.push(cmd),
                    Ok(other) => {
                        next = Some(other);
                        break;
                    }
                    Err(_) => break,
                }
            }
            match batch[0] {
                Command::Publish(..) => self.publish(manager, batch).await,
                Command::Subscribe(..) => self.subscribe(manager, batch).await,
                Command::Unsubscribe(..) => self.unsubscribe(manager, batch).await,
            }
        }
    }

    async fn publish(&mut self, manager: &mut PubSub, batch: Vec<Command>) {
        let mut messages = Vec::with_capacity(batch.len());
        let mut timed: Vec<Instant> = Vec::new();
        for cmd in batch {
            if let Command::Publish(topic, payload, handed) = cmd {
                messages.push((topic, payload));
                timed.extend(handed);
            }
        }
        {
            let desired = self.desired.lock().unwrap_or_else(|p| p.into_inner());
            for (topic, payload) in &messages {
                if desired.contains(topic) {
                    self.echoes.expect(topic, payload.clone());
                }
            }
        }
        let count = messages.len() as u64;
        let span = tracing::debug_span!("bus.send", count);
        match manager.publish(messages).instrument(span).await {
            Ok(()) => {
                self.stats.published.fetch_add(count, Ordering::Relaxed);
                for handed in timed {
                    self.stats.observe(Stage::Publish, handed.elapsed().as_secs_f64());
                }
            }
            // At-most-once: peers read the lost events back from the log after reconnecting.
            Err(e) => tracing::debug!(error = %e, "publish failed"),
        }
    }

    async fn subscribe(&mut self, manager: &mut PubSub, batch: Vec<Command>) {
        let mut topics = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for cmd in batch {
            if let Command::Subscribe(topic, reply) = cmd {
                topics.push(topic);
                replies.push(reply);
            }
        }
        self.desired().extend(topics.iter().cloned());
        for (reply, result) in replies.into_iter().zip(manager.subscribe(&topics).await) {
            let _ = reply.send(result.map_err(|e| e.to_string()));
        }
    }

    async fn unsubscribe(&mut self, manager: &mut PubSub, batch: Vec<Command>) {
        let mut topics = Vec::with_capacity(batch.len());
        for cmd in batch {
            if let Command::Unsubscribe(topic) = cmd {
                self.desired().remove(&topic);
                self.echoes.forget(&topic);
                topics.push(topic);
            }
        }
        if let Err(e) = manager.unsubscribe(&topics).await {
            tracing::debug!(topics = topics.len(), error = %e, "unsubscribe failed");
        }
    }

    fn deliver(&mut self, push: PushInfo) {
        // `smessage`: a sharded pub/sub message (a Redis Cluster).
        if push.kind != PushKind::Message && push.kind != PushKind::SMessage {
            return;
        }
        let [Value::BulkString(name), Value::BulkString(payload)] = push.data.as_slice() else { return };
        if std::str::from_utf8(name).is_ok_and(|topic| self.echoes.take(topic, payload)) {
            return;
        }
        let (Ok(name), Ok(payload)) = (std::str::from_utf8(name), String::from_utf8(payload.clone())) else { return };
        let span = tracing::debug_span!("bus.receive", topic = name, kind = tracing::field::Empty);
        let _entered = span.enter();
        let message = match self.keys.parse_topic(name) {
            Some(Topic::Channel(_)) => match (self.render)(&payload) {
                Ok(frame) => {
                    if let Some(created) = frame.created {
                        self.stats.observe(Stage::Transit, seconds_since(created));
                    }
                    BusMessage::Channel { frame, wire: payload.into() }
                }
                Err(e) => {
                    tracing::warn!(topic = name, error = %e, "ignoring a malformed bus message");
                    return;
                }
            },
            Some(Topic::User(user)) => match LoginsEnded::decode(&payload) {
                Some(notice) if notice.user == user => BusMessage::LoginsEnded(notice),
                Some(_) => return,
                None => BusMessage::User { user, text: payload.into() },
            },
            None => return,
        };
        span.record("kind", kind_of(&message));
        let Some(targets) = self.targets.get() else { return };
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        targets.received.do_send(BusReceived(message));
    }
}
