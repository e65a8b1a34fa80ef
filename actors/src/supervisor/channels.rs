//! The supervisor's registry of channels with local sessions: which connections follow each, whether it
//! is quiet (members kept here, no actor) or running its `ChannelActor`, and the one read of the log's
//! heads that serves both the quiet channels' first head and the sweep.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix::Addr;
use uuid::Uuid;

use crate::channel::{ChannelActor, Members, StopChannel};
use crate::frame::Frame;
use crate::messages::{CatchUp, Deliver, Joined, Observed, Subscribe, Unsubscribe};
use crate::ports::{Bus, EventLog, LocalFut, Topic};
use crate::tree::Tree;

pub(super) struct Channels {
    tree: Tree,
    bus: Arc<dyn Bus>,
    log: Arc<dyn EventLog>,
    entries: HashMap<Uuid, ChannelEntry>,
    /// Channels whose head is to be read (one read at a time, for all of them).
    heads_wanted: HashSet<Uuid>,
    reading_heads: bool,
    /// Channel entries made so far: names each entry, so a topic subscription that completes after its
    /// entry was dropped (and perhaps made again) is not taken for the new one's.
    entries_made: u64,
}

// One entry per channel with local sessions, so its shape is per-socket memory: a count where a set
// would allocate a table for one or two members (docs/benchmarks.md, #21).
struct ChannelEntry {
    runner: Runner,
    /// Which entry this is (see `Channels::entries_made`).
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

/// A channel's topic being subscribed: when `done` completes, tell [`Channels::subscribed`].
pub(super) struct Subscribing {
    pub channel: Uuid,
    pub made: u64,
    pub done: LocalFut<Result<(), String>>,
}

/// A read of the heads of `channels`: its result goes to [`Channels::heads_read`] or
/// [`Channels::head_read_failed`].
pub(super) struct HeadRead {
    pub channels: Vec<Uuid>,
    pub read: LocalFut<Result<Vec<(Uuid, i64)>, String>>,
}

impl Channels {
    pub fn new(tree: Tree, bus: Arc<dyn Bus>, log: Arc<dyn EventLog>) -> Self {
        Self {
            tree,
            bus,
            log,
            entries: HashMap::new(),
            heads_wanted: HashSet::new(),
            reading_heads: false,
            entries_made: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Routes a channel's frame: to its actor, to a quiet channel's members when ordering does not
    /// matter (ephemeral), or to the actor it wakes. A channel with no local sessions drops it.
    pub fn deliver(&mut self, frame: Frame) {
        let channel = frame.channel;
        match self.entries.get_mut(&channel).map(|e| &mut e.runner) {
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

    /// Adds a connection to a channel (`new`: it did not follow it yet). The first connection makes the
    /// channel's entry, whose topic the caller subscribes; then its head is read.
    pub fn join(&mut self, msg: Subscribe, new: bool) -> Option<Subscribing> {
        let channel = msg.channel;
        let mut subscribing = None;
        let entry = self.entries.entry(channel).or_insert_with(|| {
            self.entries_made += 1;
            let made = self.entries_made;
            // Subscribed first, then the head read, so no frame falls between the two.
            subscribing = Some(Subscribing { channel, made, done: self.bus.subscribe(Topic::Channel(channel)) });
            ChannelEntry { runner: Runner::Quiet(Quiet::default()), made, conns: 0 }
        });
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
        subscribing
    }

    /// The topic of `channel` is subscribed (or failed to be; the sweep covers that): its head is
    /// wanted, unless the entry was dropped meanwhile. True if a head read is now wanted.
    pub fn subscribed(&mut self, channel: Uuid, made: u64) -> bool {
        if self.entries.get(&channel).is_some_and(|e| e.made == made) {
            self.heads_wanted.insert(channel);
            return true;
        }
        false
    }

    /// Takes `conn` (which followed `channel`) out of it; the channel is forgotten after the last.
    pub fn leave(&mut self, conn: Uuid, channel: Uuid) {
        let Some(entry) = self.entries.get_mut(&channel) else { return };
        entry.conns = entry.conns.saturating_sub(1);
        match &mut entry.runner {
            Runner::Running(actor) => actor.do_send(Unsubscribe { conn, channel }),
            Runner::Quiet(quiet) => quiet.members.remove(&conn),
        }
        if entry.conns == 0
            && let Some(entry) = self.entries.remove(&channel)
        {
            // Unsubscribe now, before a later Subscribe could start a new actor for the channel:
            // the bus applies commands in order.
            self.bus.unsubscribe(Topic::Channel(channel));
            if let Runner::Running(actor) = entry.runner {
                actor.do_send(StopChannel);
            }
        }
    }

    /// The sweep: every channel's head is wanted, to catch frames the bus lost with nothing after them.
    pub fn want_every_head(&mut self) {
        self.heads_wanted.extend(self.entries.keys().copied());
    }

    /// The bus is back: running channels read back from their own position, quiet ones want their head.
    pub fn catch_up(&mut self) {
        for (channel, entry) in &self.entries {
            match &entry.runner {
                Runner::Running(actor) => actor.do_send(CatchUp),
                Runner::Quiet(_) => {
                    self.heads_wanted.insert(*channel);
                }
            }
        }
    }

    /// The read of the heads wanted so far, unless one is in flight (its end starts the next).
    pub fn next_head_read(&mut self) -> Option<HeadRead> {
        if self.reading_heads || self.heads_wanted.is_empty() {
            return None;
        }
        self.reading_heads = true;
        let channels: Vec<Uuid> = self.heads_wanted.drain().collect();
        let read = self.log.last_seqs(channels.clone());
        Some(HeadRead { channels, read })
    }

    /// What a read of the log says of the heads: a quiet channel learns its head (and tells its
    /// members), or wakes when the log is ahead of it (the bus lost a frame); an actor compares.
    pub fn heads_read(&mut self, heads: Vec<(Uuid, i64)>) {
        self.reading_heads = false;
        for (channel, head) in heads {
            self.head_read(channel, head);
        }
    }

    /// The read failed: its channels that are still here want their head again.
    pub fn head_read_failed(&mut self, channels: Vec<Uuid>) {
        self.reading_heads = false;
        self.heads_wanted.extend(channels.into_iter().filter(|c| self.entries.contains_key(c)));
    }

    fn head_read(&mut self, channel: Uuid, head: i64) {
        let Some(entry) = self.entries.get_mut(&channel) else { return };
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

    /// Starts the actor of a quiet channel, handing it the members and the head; its address.
    fn wake(&mut self, channel: Uuid) -> Option<Addr<ChannelActor>> {
        let entry = self.entries.get_mut(&channel)?;
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

    /// Test faults: every running channel actor panics.
    #[cfg(debug_assertions)]
    pub fn crash(&self) {
        for entry in self.entries.values() {
            if let Runner::Running(actor) = &entry.runner {
                actor.do_send(crate::tree::faults::Crash);
            }
        }
    }
}
