//! The task that owns the bus's Redis pub/sub connection: it connects (and reconnects), applies the
//! node's commands in the order they were issued, batching each run of one kind into one round trip,
//! and hands what other nodes published to the router.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use redis::{PushInfo, PushKind, Value};
use rustchat_actors::counters::Stage;
use rustchat_actors::login::LoginsEnded;
use rustchat_actors::messages::{BusReceived, BusReconnected};
use rustchat_actors::ports::{BusMessage, Topic};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::super::Keys;
use super::super::echoes::Echoes;
use super::super::pubsub::{PubSub, PubSubTarget};
use super::{BusStats, Command, RenderFrame, Targets, kind_of, seconds_since};

/// Commands of one kind sent in one round trip at most (publishes in one pipeline, topics in one
/// subscription).
const MAX_BATCH: usize = 512;

pub(super) struct BusTask {
    pub(super) client: PubSubTarget,
    pub(super) keys: Keys,
    pub(super) stats: Arc<BusStats>,
    pub(super) targets: Arc<OnceLock<Targets>>,
    /// Topics this node wants, re-subscribed after every reconnect (and restart).
    pub(super) desired: Arc<Mutex<HashSet<String>>>,
    pub(super) render: RenderFrame,
    pub(super) echoes: Echoes,
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
    pub(super) async fn run(mut self, commands: &mut mpsc::UnboundedReceiver<Command>) -> Result<(), String> {
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

fn same_kind(a: &Command, b: &Command) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}
