//! `Supervisor`: one per node. It owns the bus, keeps the registry of channels with local sessions
//! (`channels`: quiet, or running their actor until the last session leaves) and of connections per
//! user, routes every
//! frame — from this node's writes and from the bus — to the right channel actor or user's sessions,
//! sweeps the event log so nothing the bus lost stays lost, ends the sockets of logins that ended
//! (told by the bus, or found by a check of the database before every sweep), and closes every
//! session on shutdown. It is the tree's child `router`; the channel actors it starts are the tree's
//! children `channel`, restarted in place when they crash.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason};
use uuid::Uuid;

use crate::login::{CLOSE_LOGIN_ENDED, EndReason, LoginsEnded};
use crate::messages::{
    BusReceived, BusReconnected, CloseForRestart, Connected, Count, Disconnected, Drain, LiveConnections, LoginEnded,
    MembershipGranted, NodeCounts, Publish, Push, Reauthenticated, SessionHandle, Subscribe, Unsubscribe,
};
use crate::ports::{Bus, BusMessage, Connections, EventLog, Logins, Topic};
use crate::tree::Tree;

mod channels;
use channels::{Channels, HeadRead, Subscribing};

/// How often the supervisor checks that its sockets' logins are still live, then compares its
/// channels with the log (catches messages the bus lost with no later message to reveal the gap).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

pub struct Supervisor {
    bus: Arc<dyn Bus>,
    logins: Arc<dyn Logins>,
    connections: Arc<dyn Connections>,
    channels: Channels,
    conns: HashMap<Uuid, ConnEntry>,
    /// A user's connections on this node: a few at most (the per-user limit), so a list.
    users: HashMap<Uuid, Vec<Uuid>>,
}

// The registries hold one entry per socket, so their shape is per-socket memory: lists where a set
// would allocate a table for one or two members (docs/benchmarks.md, #21).
struct ConnEntry {
    user: Uuid,
    login: Uuid,
    session: Arc<SessionHandle>,
    /// The channels it follows, each once.
    channels: Vec<Uuid>,
    /// Its login ended; the session is stopping.
    ended: bool,
}

impl ConnEntry {
    /// Follows `channel`; false if it already did.
    fn follow(&mut self, channel: Uuid) -> bool {
        if self.channels.contains(&channel) {
            return false;
        }
        self.channels.push(channel);
        true
    }

    /// Stops following `channel`; false if it did not.
    fn unfollow(&mut self, channel: Uuid) -> bool {
        let Some(at) = self.channels.iter().position(|c| *c == channel) else { return false };
        self.channels.swap_remove(at);
        true
    }

    /// Closes the socket now (queued frames are dropped, nothing more is accepted), then stops the
    /// session: whatever is routed after this never reaches the client.
    fn end(&mut self, conn: Uuid, reason: EndReason) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let description = reason.describe();
        self.session.outbox.close(
            CloseReason { code: CloseCode::Other(CLOSE_LOGIN_ENDED), description: Some(description.to_string()) },
            true,
        );
        self.session.do_send(LoginEnded { code: CLOSE_LOGIN_ENDED, reason: description });
        tracing::info!(%conn, user = %self.user, login = %self.login, reason = description, "closing WebSocket: login ended");
    }
}

impl Supervisor {
    pub fn new(
        tree: Tree,
        bus: Arc<dyn Bus>,
        log: Arc<dyn EventLog>,
        logins: Arc<dyn Logins>,
        connections: Arc<dyn Connections>,
    ) -> Self {
        Self {
            channels: Channels::new(tree, bus.clone(), log),
            bus,
            logins,
            connections,
            conns: HashMap::new(),
            users: HashMap::new(),
        }
    }

    /// Ends the sockets of the logins a notice names, before anything routed after it.
    fn end_logins(&mut self, notice: LoginsEnded) {
        let Some(conns) = self.users.get(&notice.user) else { return };
        for conn in conns {
            if let Some(entry) = self.conns.get_mut(conn).filter(|e| notice.scope.covers(e.login)) {
                entry.end(*conn, notice.reason);
            }
        }
    }

    /// Asks the log which of this node's logins are still live and ends the sockets of the others;
    /// only then runs `then`, so nothing it reads back can reach a socket whose login ended while a
    /// notice was lost. A failed check skips `then` (the next sweep comes soon).
    fn check_logins(&mut self, ctx: &mut Context<Self>, then: impl FnOnce(&mut Self, &mut Context<Self>) + 'static) {
        if self.conns.is_empty() {
            return then(self, ctx);
        }
        let asked: HashSet<Uuid> = self.conns.values().map(|e| e.login).collect();
        let check = self.logins.live(asked.iter().copied().collect());
        ctx.spawn(check.into_actor(self).map(move |result, act, ctx| match result {
            Ok(live) => {
                // Sockets opened (or re-authenticated) during the check were not asked about.
                for (conn, entry) in &mut act.conns {
                    if asked.contains(&entry.login) && !live.contains(&entry.login) {
                        entry.end(*conn, EndReason::NoLongerValid);
                    }
                }
                then(act, ctx);
            }
            Err(e) => tracing::warn!(error = %e, "cannot check the sockets' logins; retrying at the next sweep"),
        }));
    }

    fn route(&mut self, message: BusMessage) {
        match message {
            BusMessage::Channel { frame, .. } => self.channels.deliver(frame),
            BusMessage::User { user, text } => {
                let Some(conns) = self.users.get(&user) else { return };
                let granted = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| {
                    if v["event"] != "member_added" {
                        return None;
                    }
                    Some((v["channel_id"].as_str()?.parse::<Uuid>().ok()?, v["seq"].as_i64()?))
                });
                for conn in conns {
                    let Some(entry) = self.conns.get(conn) else { continue };
                    match granted {
                        Some((channel, seq)) => entry.session.do_send(MembershipGranted { channel, seq }),
                        None => entry.session.do_send(Push(text.clone())),
                    }
                }
            }
            BusMessage::LoginsEnded(notice) => self.end_logins(notice),
        }
    }

    /// Reads the heads wanted so far in one query; again for those wanted meanwhile, and after a
    /// pause if the read failed.
    fn read_wanted_heads(&mut self, ctx: &mut Context<Self>) {
        let Some(HeadRead { channels, read }) = self.channels.next_head_read() else { return };
        ctx.spawn(read.into_actor(self).map(move |result, act, ctx| match result {
            Ok(heads) => {
                act.channels.heads_read(heads);
                act.read_wanted_heads(ctx);
            }
            Err(e) => {
                tracing::warn!(error = %e, channels = channels.len(), "cannot read the channels' heads; retrying");
                act.channels.head_read_failed(channels);
                ctx.run_later(Duration::from_secs(1), |act, ctx| act.read_wanted_heads(ctx));
            }
        }));
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        self.check_logins(ctx, |act, ctx| {
            act.channels.want_every_head();
            act.read_wanted_heads(ctx);
        });
    }

    /// Renews the cluster-wide slot of every connection of this node.
    fn renew_slots(&self) {
        let live: Vec<(Uuid, Uuid)> = self.conns.iter().map(|(conn, e)| (e.user, *conn)).collect();
        if !live.is_empty() {
            self.connections.refresh(live);
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let me = ctx.address();
        self.bus.attach(me.clone().recipient(), me.recipient());
        ctx.run_interval(SWEEP_INTERVAL, |act, ctx| act.sweep(ctx));
    }
}

/// Restarted in place after a crash: its registries stay (the sessions and channel actors they name
/// are alive), `started` re-attaches to the bus, and a sweep soon reads back anything lost.
impl Supervised for Supervisor {}

impl Handler<Publish> for Supervisor {
    type Result = ();
    /// Routed here at once; the bus drops the echo Redis sends back to the publisher (a user message
    /// would otherwise reach the sockets twice).
    fn handle(&mut self, Publish(message): Publish, _: &mut Context<Self>) {
        self.bus.publish(message.clone());
        self.route(message);
    }
}

impl Handler<BusReceived> for Supervisor {
    type Result = ();
    fn handle(&mut self, BusReceived(message): BusReceived, _: &mut Context<Self>) {
        self.route(message);
    }
}

impl Handler<BusReconnected> for Supervisor {
    type Result = ();
    fn handle(&mut self, _: BusReconnected, ctx: &mut Context<Self>) {
        tracing::info!(channels = self.channels.len(), "bus reconnected: reading back what it may have lost");
        // Redis may have come back empty (a restart without persistence): renew this node's connection
        // slots now rather than at the presence's next round, up to `SLOT_REFRESH_INTERVAL` away, so the
        // per-user limit and presence are whole again at once. The command link can still be behind
        // its breaker's cooldown when the bus is back, so once more after it.
        self.renew_slots();
        ctx.run_later(crate::breaker::OPEN_COOLDOWN + Duration::from_secs(1), |act, _| act.renew_slots());
        // Notices of ended logins may have been lost too: check before reading anything back.
        self.check_logins(ctx, |act, ctx| {
            act.channels.catch_up();
            act.read_wanted_heads(ctx);
        });
    }
}

impl Handler<Connected> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Connected, _: &mut Context<Self>) {
        let entry =
            ConnEntry { user: msg.user, login: msg.login, session: msg.session, channels: Vec::new(), ended: false };
        self.conns.insert(msg.conn, entry);
        let conns = self.users.entry(msg.user).or_default();
        if !conns.contains(&msg.conn) {
            conns.push(msg.conn);
        }
        if conns.len() == 1 {
            // The subscription settles in the background; membership changes before it are caught by
            // the session's own read-back when it joins.
            let subscribed = self.bus.subscribe(Topic::User(msg.user));
            actix::spawn(async move {
                if let Err(e) = subscribed.await {
                    tracing::warn!(error = %e, "cannot subscribe to the user topic");
                }
            });
        }
    }
}

impl Handler<Reauthenticated> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Reauthenticated, _: &mut Context<Self>) {
        if let Some(entry) = self.conns.get_mut(&msg.conn) {
            entry.login = msg.login;
        }
    }
}

impl Handler<Disconnected> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Disconnected, ctx: &mut Context<Self>) {
        let Some(entry) = self.conns.remove(&msg.conn) else { return };
        for channel in entry.channels {
            self.channels.leave(msg.conn, channel);
        }
        if let Some(conns) = self.users.get_mut(&msg.user) {
            conns.retain(|c| *c != msg.conn);
            if conns.is_empty() {
                self.users.remove(&msg.user);
                self.bus.unsubscribe(Topic::User(msg.user));
            }
        }
        // Offline when the user's last connection anywhere in the cluster is gone.
        let released = self.connections.release(msg.user, msg.conn);
        let count = self.connections.clone();
        let me = ctx.address();
        let (user, channels) = (msg.user, msg.channels);
        actix::spawn(async move {
            released.await;
            if let Ok(0) = count.count(user).await {
                for channel in channels {
                    me.do_send(Publish(BusMessage::ephemeral(crate::frame::presence(channel, user, "offline"))));
                }
            }
        });
    }
}

impl Handler<Subscribe> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) {
        let Some(conn) = self.conns.get_mut(&msg.conn) else { return };
        let new = conn.follow(msg.channel);
        let Some(Subscribing { channel, made, done }) = self.channels.join(msg, new) else { return };
        // Awaited on a task of its own, not in this actor's context: actix polls every future a
        // context holds whenever the actor wakes, and during a connect burst thousands of
        // subscriptions wait on Redis at once, which made every message the router handled cost
        // thousands of polls.
        let me = ctx.address();
        actix::spawn(async move {
            let result = done.await;
            me.do_send(Subscribed { channel, made, result });
        });
    }
}

/// A channel's topic subscription ended, made or not.
#[derive(Message)]
#[rtype(result = "()")]
struct Subscribed {
    channel: Uuid,
    made: u64,
    result: Result<(), String>,
}

impl Handler<Subscribed> for Supervisor {
    type Result = ();
    fn handle(&mut self, Subscribed { channel, made, result }: Subscribed, ctx: &mut Context<Self>) {
        if let Err(e) = result {
            // Not fatal: delivery continues locally, and the sweep reads back what peers wrote.
            tracing::warn!(%channel, error = %e, "cannot subscribe to the channel topic");
        }
        if self.channels.subscribed(channel, made) {
            self.read_wanted_heads(ctx);
        }
    }
}

impl Handler<Unsubscribe> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        if self.conns.get_mut(&msg.conn).is_some_and(|conn| conn.unfollow(msg.channel)) {
            self.channels.leave(msg.conn, msg.channel);
        }
    }
}

impl Handler<Drain> for Supervisor {
    type Result = usize;
    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> usize {
        for entry in self.conns.values() {
            entry.session.do_send(CloseForRestart);
        }
        self.conns.len()
    }
}

impl Handler<Count> for Supervisor {
    type Result = MessageResult<Count>;
    fn handle(&mut self, _: Count, _: &mut Context<Self>) -> Self::Result {
        MessageResult(NodeCounts {
            connections: self.conns.len(),
            users: self.users.len(),
            channels: self.channels.len(),
        })
    }
}

impl Handler<LiveConnections> for Supervisor {
    type Result = MessageResult<LiveConnections>;
    fn handle(&mut self, _: LiveConnections, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.conns.iter().map(|(conn, e)| (e.user, *conn)).collect())
    }
}

/// Test faults: makes every channel actor panic (see `tree::faults`).
#[cfg(debug_assertions)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct CrashChannels;

#[cfg(debug_assertions)]
impl Handler<CrashChannels> for Supervisor {
    type Result = ();
    fn handle(&mut self, _: CrashChannels, _: &mut Context<Self>) {
        self.channels.crash();
    }
}

#[cfg(debug_assertions)]
crate::tree::faults::crash_on_request!(Supervisor);

#[cfg(test)]
mod tests;
