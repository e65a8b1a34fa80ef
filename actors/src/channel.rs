//! `ChannelActor`: one per channel that has sessions on this node. It receives the channel's frames
//! (from this node's writes and from the bus), puts them in `seq` order, reads back from the event log
//! whatever the bus lost (a gap, a reconnect, a sweep showing the log ahead), and fans each frame out
//! to its sessions. A session whose mailbox is full is told it overflowed, never waited for.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use uuid::Uuid;

use crate::frame::{Effect, Frame};
use crate::messages::{
    CatchUp, Deliver, Joined, Left, Observed, Overflowed, SessionHandle, Subscribe, Unsent, Unsubscribe,
};
use crate::outbox::Refused;
use crate::ports::{Bus, EventLog, Topic};

/// Events read back from the log per query.
const BACKFILL_PAGE: u32 = 500;
/// Wait before retrying a failed read-back.
const RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct ChannelActor {
    channel: Uuid,
    log: Arc<dyn EventLog>,
    bus: Arc<dyn Bus>,
    /// The newest seq fanned out; `None` until the actor has subscribed and read the log's head.
    last_seq: Option<i64>,
    members: Members,
    /// Frames that arrived ahead of a gap (or before initialisation), by seq.
    pending: BTreeMap<i64, Frame>,
    backfilling: bool,
}

/// A channel's sessions on this node, by connection: what the channel actor fans out to, and what the
/// supervisor keeps for a quiet channel (one with no actor yet; see [`crate::supervisor`]).
#[derive(Default)]
pub struct Members(HashMap<Uuid, Member>);

struct Member {
    user: Uuid,
    session: Arc<SessionHandle>,
}

impl Members {
    pub fn insert(&mut self, conn: Uuid, user: Uuid, session: Arc<SessionHandle>) {
        self.0.insert(conn, Member { user, session });
    }

    pub fn remove(&mut self, conn: &Uuid) {
        self.0.remove(conn);
    }

    /// Tells every member the channel's head (they read back whatever they have not delivered).
    pub fn joined(&self, channel: Uuid, last_seq: i64) {
        for m in self.0.values() {
            m.session.do_send(Joined { channel, last_seq });
        }
    }

    /// Hands `frame` to every member: in step, straight into the socket's buffer; otherwise to the
    /// session, which orders it. A member whose queue is full is told it overflowed and dropped, as is
    /// one whose session has stopped; a member the frame removes from the channel leaves after it.
    pub fn fan_out(&mut self, channel: Uuid, frame: &Frame) {
        let mut gone = Vec::new();
        for (conn, m) in &self.0 {
            let full = match m.session.outbox.push_next(frame, true) {
                Ok(()) => false,
                Err(Refused::NotNext) => match m.session.try_deliver(Deliver(frame.clone())) {
                    Ok(()) => false,
                    Err(Unsent::Full) => true,
                    Err(Unsent::Closed) => {
                        gone.push(*conn);
                        false
                    }
                },
                Err(Refused::Full) => true,
                Err(Refused::Closed) => {
                    gone.push(*conn);
                    false
                }
            };
            if full {
                m.session.do_send(Overflowed);
                gone.push(*conn);
            }
        }
        for conn in gone {
            self.0.remove(&conn);
        }
        if let Effect::MemberRemoved(user) = frame.effect {
            // The removed member saw their removal above; from here on they receive nothing.
            let leaving: Vec<Uuid> = self.0.iter().filter(|(_, m)| m.user == user).map(|(c, _)| *c).collect();
            for conn in leaving {
                if let Some(m) = self.0.remove(&conn) {
                    m.session.do_send(Left { channel, seq: frame.seq });
                }
            }
        }
    }
}

/// Stop once the supervisor has no sessions left for the channel.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopChannel;

impl ChannelActor {
    pub fn new(channel: Uuid, log: Arc<dyn EventLog>, bus: Arc<dyn Bus>) -> Self {
        Self {
            channel,
            log,
            bus,
            last_seq: None,
            members: Members::default(),
            pending: BTreeMap::new(),
            backfilling: false,
        }
    }

    /// The actor of a channel that was quiet until now: the supervisor already subscribed to its topic
    /// and, with `head`, read its head and told `members` so.
    pub fn awake(
        channel: Uuid,
        log: Arc<dyn EventLog>,
        bus: Arc<dyn Bus>,
        head: Option<i64>,
        members: Members,
    ) -> Self {
        Self { last_seq: head, members, ..Self::new(channel, log, bus) }
    }

    fn initialise(&mut self, head: i64, ctx: &mut Context<Self>) {
        self.last_seq = Some(head);
        self.members.joined(self.channel, head);
        self.drain_pending(ctx);
    }

    /// Takes a persisted frame in order: duplicates dropped, gaps filled from the log.
    fn accept(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        let Some(last) = self.last_seq else {
            self.pending.insert(frame.seq, frame);
            return;
        };
        if frame.seq <= last {
            return;
        }
        if frame.seq == last + 1 {
            self.last_seq = Some(frame.seq);
            self.fan_out(&frame);
            self.drain_pending(ctx);
        } else {
            self.pending.insert(frame.seq, frame);
            self.backfill(ctx);
        }
    }

    fn drain_pending(&mut self, ctx: &mut Context<Self>) {
        while let Some(last) = self.last_seq {
            let Some(entry) = self.pending.first_entry() else { return };
            if *entry.key() <= last {
                entry.remove();
            } else if *entry.key() == last + 1 {
                let frame = entry.remove();
                self.last_seq = Some(frame.seq);
                self.fan_out(&frame);
            } else {
                self.backfill(ctx);
                return;
            }
        }
    }

    fn fan_out(&mut self, frame: &Frame) {
        self.members.fan_out(self.channel, frame);
    }

    /// Reads the log after `last_seq` and delivers what the bus did not bring.
    fn backfill(&mut self, ctx: &mut Context<Self>) {
        let Some(from) = self.last_seq else { return };
        if self.backfilling {
            return;
        }
        self.backfilling = true;
        let read = self.log.events_after(self.channel, from, BACKFILL_PAGE);
        ctx.spawn(read.into_actor(self).map(move |result, act, ctx| {
            act.backfilling = false;
            match result {
                Ok(frames) => {
                    let full_page = frames.len() == BACKFILL_PAGE as usize;
                    let advanced = !frames.is_empty();
                    for f in frames {
                        if act.last_seq.is_some_and(|last| f.seq == last + 1) {
                            act.last_seq = Some(f.seq);
                            act.fan_out(&f);
                        }
                    }
                    if full_page {
                        act.backfill(ctx);
                    } else if advanced {
                        act.drain_pending(ctx);
                    }
                    // A gap the log cannot fill yet (the writer's commit is not visible here yet):
                    // the next frame or the supervisor's sweep will bring us back.
                }
                Err(e) => {
                    tracing::warn!(channel = %act.channel, error = %e, "channel read-back failed; retrying");
                    ctx.run_later(RETRY_AFTER, |act, ctx| act.backfill(ctx));
                }
            }
        }));
    }
}

impl Actor for ChannelActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.last_seq.is_some() {
            // Woken by the supervisor, which subscribed and read the head already.
            return;
        }
        let channel = self.channel;
        let subscribed = self.bus.subscribe(Topic::Channel(channel));
        ctx.spawn(subscribed.into_actor(self).map(move |result, act, ctx| {
            if let Err(e) = result {
                // Not fatal: delivery continues locally, and the sweep reads back what peers wrote.
                tracing::warn!(%channel, error = %e, "cannot subscribe to the channel topic");
            }
            act.read_head(ctx);
        }));
    }
}

/// Restarted by the tree after a crash: it forgets its place in the log and learns it again, then
/// tells every member the head (`Joined`), so each session reads back whatever it has not delivered.
impl Supervised for ChannelActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.last_seq = None;
        self.pending.clear();
        self.backfilling = false;
    }
}

impl ChannelActor {
    /// Learns the log's newest seq (after subscribing, so nothing falls between the two).
    fn read_head(&mut self, ctx: &mut Context<Self>) {
        let read = self.log.last_seqs(vec![self.channel]);
        ctx.spawn(read.into_actor(self).map(|result, act, ctx| match result {
            Ok(heads) => {
                let head = heads.into_iter().find(|(c, _)| *c == act.channel).map_or(0, |(_, s)| s);
                act.initialise(head, ctx);
            }
            Err(e) => {
                tracing::warn!(channel = %act.channel, error = %e, "cannot read the channel's head; retrying");
                ctx.run_later(RETRY_AFTER, |act, ctx| act.read_head(ctx));
            }
        }));
    }
}

impl Handler<Deliver> for ChannelActor {
    type Result = ();

    fn handle(&mut self, Deliver(frame): Deliver, ctx: &mut Context<Self>) {
        if frame.is_ephemeral() {
            self.fan_out(&frame);
        } else {
            self.accept(frame, ctx);
        }
    }
}

impl Handler<Subscribe> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        if let Some(last) = self.last_seq {
            msg.session.do_send(Joined { channel: self.channel, last_seq: last });
        }
        self.members.insert(msg.conn, msg.user, msg.session);
    }
}

impl Handler<Unsubscribe> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        self.members.remove(&msg.conn);
    }
}

impl Handler<Observed> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Observed, ctx: &mut Context<Self>) {
        if self.last_seq.is_some_and(|last| msg.last_seq > last) {
            self.backfill(ctx);
        }
    }
}

impl Handler<CatchUp> for ChannelActor {
    type Result = ();

    fn handle(&mut self, _: CatchUp, ctx: &mut Context<Self>) {
        self.backfill(ctx);
    }
}

impl Handler<StopChannel> for ChannelActor {
    type Result = ();

    fn handle(&mut self, _: StopChannel, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests;

#[cfg(debug_assertions)]
crate::tree::faults::crash_on_request!(ChannelActor);
