//! `Supervisor`: one per node. It owns the bus, keeps the registry of channel actors (one per channel
//! with local sessions, stopped when the last one leaves) and of connections per user, routes every
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

use crate::channel::{ChannelActor, Members, StopChannel};
use crate::login::{CLOSE_LOGIN_ENDED, EndReason, LoginsEnded};
use crate::messages::{
    BusReceived, BusReconnected, CatchUp, CloseForRestart, Connected, Count, Deliver, Disconnected, Drain, Joined,
    LiveConnections, LoginEnded, MembershipGranted, NodeCounts, Observed, Publish, Push, Reauthenticated,
    SessionHandle, Subscribe, Unsubscribe,
};
use crate::ports::{Bus, BusMessage, Connections, EventLog, Logins, Topic};
use crate::tree::Tree;

/// How often the supervisor checks that its sockets' logins are still live, then compares its
/// channels with the log (catches messages the bus lost with no later message to reveal the gap).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

pub struct Supervisor {
    tree: Tree,
    bus: Arc<dyn Bus>,
    log: Arc<dyn EventLog>,
    logins: Arc<dyn Logins>,
    connections: Arc<dyn Connections>,
    channels: HashMap<Uuid, ChannelEntry>,
    /// Quiet channels whose head is to be read (one read at a time, for all of them).
    heads_wanted: HashSet<Uuid>,
    reading_heads: bool,
    /// Channel entries made so far: names each entry, so a topic subscription that completes after its
    /// entry was dropped (and perhaps made again) is not taken for the new one's.
    entries_made: u64,
    conns: HashMap<Uuid, ConnEntry>,
    /// A user's connections on this node: a few at most (the per-user limit), so a list.
    users: HashMap<Uuid, Vec<Uuid>>,
}

// The registries hold one entry per socket and per channel, so their shape is per-socket memory: lists
// and counts where a set would allocate a table for one or two members (docs/benchmarks.md, #21).
struct ChannelEntry {
    runner: Runner,
    /// Which entry this is (see `Supervisor::entries_made`).
    made: u64,
    /// How many of this node's connections follow the channel (each connection's own list says which).
    conns: usize,
}

/// A channel starts quiet: its members are kept here and an ephemeral frame (typing, presence) is
/// fanned out to them by the supervisor itself. Its actor starts with its first persisted frame (or
/// when the log shows it ahead), which needs ordering and read-back; until then an idle channel costs
/// its member list, not an actor (about a kilobyte: task, context, mailbox, address; issue #21).
enum Runner {
    Quiet(Quiet),
    Running(Addr<ChannelActor>),
}

#[derive(Default)]
struct Quiet {
    /// The log's head, once read (after the topic was subscribed, so nothing falls between the two).
    head: Option<i64>,
    members: Members,
}

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
            tree,
            bus,
            log,
            logins,
            connections,
            channels: HashMap::new(),
            heads_wanted: HashSet::new(),
            reading_heads: false,
            entries_made: 0,
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
            BusMessage::Channel { frame, .. } => {
                let channel = frame.channel;
                match self.channels.get_mut(&channel).map(|e| &mut e.runner) {
                    None => {}
                    Some(Runner::Running(actor)) => actor.do_send(Deliver(frame)),
                    Some(Runner::Quiet(quiet)) if frame.is_ephemeral() => quiet.members.fan_out(channel, &frame),
                    Some(Runner::Quiet(_)) => {
                        if let Some(actor) = self.wake(channel) {
                            actor.do_send(Deliver(frame));
                        }
                    }
                }
            }
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

    /// Takes `conn` (which followed `channel`) out of the channel's actor, stopping it after the last.
    fn drop_subscription(&mut self, conn: Uuid, channel: Uuid) {
        let Some(entry) = self.channels.get_mut(&channel) else { return };
        entry.conns = entry.conns.saturating_sub(1);
        match &mut entry.runner {
            Runner::Running(actor) => actor.do_send(Unsubscribe { conn, channel }),
            Runner::Quiet(quiet) => quiet.members.remove(&conn),
        }
        if entry.conns == 0
            && let Some(entry) = self.channels.remove(&channel)
        {
            // Unsubscribe now, before a later Subscribe could start a new actor for the channel:
            // the bus applies commands in order.
            self.bus.unsubscribe(Topic::Channel(channel));
            if let Runner::Running(actor) = entry.runner {
                actor.do_send(StopChannel);
            }
        }
    }

    /// Starts the actor of a quiet channel, handing it the members and the head; its address.
    fn wake(&mut self, channel: Uuid) -> Option<Addr<ChannelActor>> {
        let entry = self.channels.get_mut(&channel)?;
        if let Runner::Quiet(quiet) = &mut entry.runner {
            let Quiet { head, members } = std::mem::take(quiet);
            let actor = ChannelActor::awake(channel, self.log.clone(), self.bus.clone(), head, members);
            entry.runner = Runner::Running(self.tree.start_actor("channel", actor));
        }
        match &entry.runner {
            Runner::Running(actor) => Some(actor.clone()),
            Runner::Quiet(_) => None,
        }
    }

    /// What a read of the log says of `channel`'s head: a quiet channel learns it (and tells its
    /// members), or wakes when the log is ahead of it (the bus lost a frame); an actor compares.
    fn head_read(&mut self, channel: Uuid, head: i64) {
        let Some(entry) = self.channels.get_mut(&channel) else { return };
        match &mut entry.runner {
            Runner::Running(actor) => actor.do_send(Observed { last_seq: head }),
            Runner::Quiet(quiet) => match quiet.head {
                None => {
                    quiet.head = Some(head);
                    quiet.members.joined(channel, head);
                }
                Some(known) if head > known => {
                    if let Some(actor) = self.wake(channel) {
                        actor.do_send(Observed { last_seq: head });
                    }
                }
                Some(_) => {}
            },
        }
    }

    /// Reads the heads of the quiet channels that want one, in one query; again for those wanted
    /// meanwhile, and after a pause if the read failed.
    fn read_wanted_heads(&mut self, ctx: &mut Context<Self>) {
        if self.reading_heads || self.heads_wanted.is_empty() {
            return;
        }
        self.reading_heads = true;
        let ids: Vec<Uuid> = self.heads_wanted.drain().collect();
        let read = self.log.last_seqs(ids.clone());
        ctx.spawn(read.into_actor(self).map(move |result, act, ctx| {
            act.reading_heads = false;
            match result {
                Ok(heads) => {
                    for (channel, head) in heads {
                        act.head_read(channel, head);
                    }
                    act.read_wanted_heads(ctx);
                }
                Err(e) => {
                    tracing::warn!(error = %e, channels = ids.len(), "cannot read the channels' heads; retrying");
                    act.heads_wanted.extend(ids.into_iter().filter(|c| act.channels.contains_key(c)));
                    ctx.run_later(Duration::from_secs(1), |act, ctx| act.read_wanted_heads(ctx));
                }
            }
        }));
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        self.check_logins(ctx, |act, ctx| act.read_heads(ctx));
    }

    /// Renews the cluster-wide slot of every connection of this node.
    fn renew_slots(&self) {
        let live: Vec<(Uuid, Uuid)> = self.conns.iter().map(|(conn, e)| (e.user, *conn)).collect();
        if !live.is_empty() {
            self.connections.refresh(live);
        }
    }

    fn read_heads(&mut self, ctx: &mut Context<Self>) {
        if self.channels.is_empty() {
            return;
        }
        let ids: Vec<Uuid> = self.channels.keys().copied().collect();
        let read = self.log.last_seqs(ids);
        ctx.spawn(read.into_actor(self).map(|result, act, _| match result {
            Ok(heads) => {
                for (channel, last_seq) in heads {
                    act.head_read(channel, last_seq);
                }
            }
            Err(e) => tracing::warn!(error = %e, "event-log sweep failed"),
        }));
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
            for (channel, entry) in &act.channels {
                match &entry.runner {
                    Runner::Running(actor) => actor.do_send(CatchUp),
                    // A quiet channel wakes if its head moved while the bus was away.
                    Runner::Quiet(_) => {
                        act.heads_wanted.insert(*channel);
                    }
                }
            }
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
            self.drop_subscription(msg.conn, channel);
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
        let channel = msg.channel;
        if let std::collections::hash_map::Entry::Vacant(vacant) = self.channels.entry(channel) {
            self.entries_made += 1;
            let made = self.entries_made;
            vacant.insert(ChannelEntry { runner: Runner::Quiet(Quiet::default()), made, conns: 0 });
            // Subscribed first, then the head read, so no frame falls between the two.
            let subscribed = self.bus.subscribe(Topic::Channel(channel));
            ctx.spawn(subscribed.into_actor(self).map(move |result, act, ctx| {
                if let Err(e) = result {
                    // Not fatal: delivery continues locally, and the sweep reads back what peers wrote.
                    tracing::warn!(%channel, error = %e, "cannot subscribe to the channel topic");
                }
                // Dropped meanwhile (and perhaps made again, with a subscription of its own coming).
                if act.channels.get(&channel).is_some_and(|e| e.made == made) {
                    act.heads_wanted.insert(channel);
                    act.read_wanted_heads(ctx);
                }
            }));
        }
        let Some(entry) = self.channels.get_mut(&channel) else { return };
        if new {
            entry.conns += 1;
        }
        match &mut entry.runner {
            Runner::Running(actor) => actor.do_send(msg),
            Runner::Quiet(quiet) => {
                if let Some(head) = quiet.head {
                    msg.session.do_send(Joined { channel, last_seq: head });
                }
                quiet.members.insert(msg.conn, msg.user, msg.session);
            }
        }
    }
}

impl Handler<Unsubscribe> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        if self.conns.get_mut(&msg.conn).is_some_and(|conn| conn.unfollow(msg.channel)) {
            self.drop_subscription(msg.conn, msg.channel);
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
        for entry in self.channels.values() {
            if let Runner::Running(actor) = &entry.runner {
                actor.do_send(crate::tree::faults::Crash);
            }
        }
    }
}

#[cfg(debug_assertions)]
crate::tree::faults::crash_on_request!(Supervisor);

#[cfg(test)]
mod tests;
