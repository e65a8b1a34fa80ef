//! `Cursors`: where one session is in each of its channels' logs, and how it gets the client every
//! channel event exactly once and in `seq` order — through resumes, gaps, read-backs, a full socket and
//! its own removal. A plain type with no actor in it: it queues frames through the session's
//! [`Outbox`] (whose lanes hold each channel's `delivered` position, under the lock the channel actors'
//! direct path uses too) and answers with [`Command`]s the session actor carries out (read the log,
//! close as a slow consumer, unsubscribe), so every ordering case is tested without a socket or a clock.
//!
//! A channel's lane is *live* (channel actors queue its frames directly) only while nothing is held,
//! pending or being read back for it; otherwise frames come here and wait in `pending` for their turn.

use std::collections::BTreeMap;

use crate::channel_map::ChannelMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::frame::{Effect, Frame};
use crate::outbox::{Outbox, Refused};

mod read;
#[cfg(test)]
mod tests;

/// Events read back per query while catching up.
pub const CATCH_UP_PAGE: u32 = 200;

/// What the session must do for its cursors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Read `channel`'s log after `after` (at most [`CATCH_UP_PAGE`] events) and hand the result to
    /// [`Cursors::read_back`] with `generation`.
    ReadBack { channel: Uuid, after: i64, generation: u64 },
    /// A read-back failed: log `error`, and call [`Cursors::catch_up`] again a little later.
    RetryReadBack { channel: Uuid, error: String },
    /// The client is too far behind: close the socket as a slow consumer (`why` is for the log).
    CloseSlow(&'static str),
    /// The user's removal from `channel` has been queued: nothing after it is theirs.
    Unsubscribe(Uuid),
}

/// Where a read-back of one channel is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Read {
    #[default]
    Idle,
    /// Wanted, but the outbound queue had no room: starts when it drains.
    Paused,
    /// A page is being read.
    Reading,
}

/// One channel, beyond the position its outbox lane keeps.
#[derive(Default)]
struct Cursor {
    read: Read,
    /// Bumped whenever the client moves the position (resume), so a read-back from before is ignored.
    generation: u64,
    /// Frames wait in `pending` until the outbound queue drains.
    waiting_for_room: bool,
    /// The parked read-back page was full: the log may hold more after `pending`.
    more_in_log: bool,
    /// Frames ahead of the position, by seq: held during the resume window, behind a gap, during a
    /// read-back, or parked from a read-back page while the socket is full.
    pending: BTreeMap<i64, Frame>,
    /// Status changes of this user are announced in the channel (it is small enough).
    presence: bool,
    /// The channel actor's newest seq when it took this session on; every later frame reaches the
    /// session from the actor, so a position at or past it has nothing to read back.
    joined_at: Option<i64>,
}

/// A session's cursors, one per subscribed channel.
pub struct Cursors {
    outbox: Arc<Outbox>,
    /// The session's user: their own `member_removed` is the last frame of a channel they get.
    user: Uuid,
    /// Frames held behind a gap or read-back beyond which the client is too far behind.
    max_held: usize,
    channels: ChannelMap<Cursor>,
    /// Channel events are held until the client's position is known (see [`Cursors::release`]).
    holding: bool,
    /// The session is closing: nothing more is queued or read.
    stopped: bool,
    commands: Vec<Command>,
}

impl Cursors {
    /// Cursors that hold every channel event until [`Cursors::release`]. `max_queued_frames` is the
    /// outbox's frame bound: up to four times that (plus a read-back page) may wait behind a gap.
    pub fn new(outbox: Arc<Outbox>, user: Uuid, max_queued_frames: usize) -> Cursors {
        Cursors {
            outbox,
            user,
            max_held: max_queued_frames * 4 + CATCH_UP_PAGE as usize,
            channels: ChannelMap::new(),
            holding: true,
            stopped: false,
            commands: Vec::new(),
        }
    }

    // ---- what the session knows --------------------------------------------------------------

    /// Starts following `channel` from `delivered` (its lane opens, not live).
    pub fn open(&mut self, channel: Uuid, delivered: i64, presence: bool) {
        self.channels.insert(channel, Cursor { presence, ..Cursor::default() });
        self.outbox.open_lane(channel, delivered);
    }

    pub fn contains(&self, channel: Uuid) -> bool {
        self.channels.contains_key(&channel)
    }

    pub fn len(&self) -> usize {
        self.channels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// The channels where this user's presence is announced.
    pub fn presence_channels(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.channels.iter().filter(|(_, c)| c.presence).map(|(id, _)| *id)
    }

    /// Frames waiting in every channel (for the slow-consumer log line).
    pub fn held(&self) -> usize {
        self.channels.values().map(|c| c.pending.len()).sum()
    }

    /// The newest seq queued to the client in `channel`.
    pub fn delivered(&self, channel: Uuid) -> Option<i64> {
        self.outbox.lane(channel).map(|l| l.delivered)
    }

    /// The session is closing: from now on nothing is queued, held or read back.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    // ---- events ------------------------------------------------------------------------------

    /// A frame for one of the session's channels that the outbox did not take directly.
    pub fn deliver(&mut self, frame: Frame) -> Vec<Command> {
        self.on_frame(frame);
        self.take()
    }

    /// The channel actor took the session on; `head` is the newest seq it had seen.
    pub fn joined(&mut self, channel: Uuid, head: i64) -> Vec<Command> {
        if let Some(cursor) = self.channels.get_mut(&channel) {
            cursor.joined_at = Some(head);
        }
        if self.delivered(channel).is_some_and(|d| head > d) {
            self.start_read(channel);
        }
        self.take()
    }

    /// The channel actor stopped sending `channel`'s frames: the user's removal is its event `seq`.
    pub fn left(&mut self, channel: Uuid, seq: i64) -> Vec<Command> {
        if self.delivered(channel).is_some_and(|d| d >= seq) {
            self.leave(channel);
        } else {
            // The removal is still ahead of this socket (held in the resume window, pending behind a
            // gap, or in the log): the session leaves once it has delivered it.
            self.drain_pending(channel);
        }
        self.take()
    }

    /// The client's position in `channel` is `seq` (a resume): frames after it are sent again, those
    /// at or before it not at all. `false` if the session does not follow `channel`.
    pub fn rewind(&mut self, channel: Uuid, seq: i64) -> bool {
        let Some(cursor) = self.channels.get_mut(&channel) else { return false };
        self.outbox.rewind(channel, seq);
        cursor.generation += 1;
        cursor.pending.retain(|s, _| *s > seq);
        true
    }

    /// Reads `channel`'s log after its position (unless a read is already under way).
    pub fn catch_up(&mut self, channel: Uuid) -> Vec<Command> {
        self.start_read(channel);
        self.take()
    }

    /// Ends the resume window: from here on, channel events flow, starting with whatever the log holds
    /// past each position.
    pub fn release(&mut self) -> Vec<Command> {
        if self.holding {
            self.holding = false;
            let channels: Vec<Uuid> = self.channels.keys().copied().collect();
            for channel in channels {
                let joined_at = self.channels.get(&channel).and_then(|c| c.joined_at);
                match (joined_at, self.delivered(channel)) {
                    // What was held since arrives in order from `pending`; a gap there still reads back.
                    (Some(head), Some(delivered)) if head <= delivered => self.drain_pending(channel),
                    _ => self.start_read(channel),
                }
            }
        }
        self.take()
    }

    /// The answer to a [`Command::ReadBack`].
    pub fn read_back(&mut self, channel: Uuid, generation: u64, frames: Result<Vec<Frame>, String>) -> Vec<Command> {
        self.on_read_back(channel, generation, frames);
        self.take()
    }

    /// The outbound queue drained: reads and frames paused for room go on.
    pub fn drained(&mut self) -> Vec<Command> {
        if self.outbox.has_room_or_notify() {
            let paused: Vec<Uuid> =
                self.channels.iter().filter(|(_, c)| c.waiting_for_room).map(|(id, _)| *id).collect();
            for channel in paused {
                self.resume_paused(channel);
            }
        }
        self.take()
    }

    // ---- the machine -------------------------------------------------------------------------

    fn take(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    fn close_slow(&mut self, why: &'static str) {
        if !std::mem::replace(&mut self.stopped, true) {
            self.commands.push(Command::CloseSlow(why));
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        if self.stopped {
            return;
        }
        if frame.is_ephemeral() {
            if let Err(Refused::Full) = self.outbox.push_next(&frame, false) {
                self.close_slow("ephemeral frame refused");
            }
            return;
        }
        let channel = frame.channel;
        let Some(delivered) = self.delivered(channel) else { return };
        let Some(cursor) = self.channels.get_mut(&channel) else { return };
        if self.holding {
            // Kept even at or below the position read at the handshake: the client's resume may move
            // the position back, and `release` reads nothing back when the channel actor's head at the
            // join is at or below the position, so a frame dropped here would be lost.
            cursor.pending.insert(frame.seq, frame);
            return;
        }
        if frame.seq <= delivered {
            return;
        }
        let in_turn = cursor.read == Read::Idle && frame.seq == delivered + 1;
        if !in_turn || !self.push(&frame) {
            if self.stopped {
                return;
            }
            if let Some(cursor) = self.channels.get_mut(&channel) {
                cursor.pending.insert(frame.seq, frame);
            }
            self.outbox.set_live(channel, false);
        }
        self.drain_pending(channel);
    }

    /// Queues the channel's next frame; the user's own removal is the last one it gets. `false` if the
    /// outbox did not take it.
    fn push(&mut self, frame: &Frame) -> bool {
        match self.outbox.push_next(frame, false) {
            Ok(()) => {
                if matches!(frame.effect, Effect::MemberRemoved(u) if u == self.user) {
                    self.leave(frame.channel);
                }
                true
            }
            Err(Refused::Full) => {
                self.close_slow("channel frame refused");
                false
            }
            Err(Refused::NotNext | Refused::Closed) => false,
        }
    }

    fn leave(&mut self, channel: Uuid) {
        self.outbox.close_lane(channel);
        if self.channels.remove(&channel).is_some() {
            self.commands.push(Command::Unsubscribe(channel));
        }
    }

    /// Lets channel actors queue `channel`'s frames directly again, if nothing is held, pending or
    /// being read back for it.
    fn settle(&self, channel: Uuid) {
        let live = !self.holding
            && !self.stopped
            && self
                .channels
                .get(&channel)
                .is_some_and(|c| c.read == Read::Idle && !c.waiting_for_room && c.pending.is_empty());
        self.outbox.set_live(channel, live);
    }

    /// Sends what is pending in turn; a gap reads back, a full socket pauses.
    fn drain_pending(&mut self, channel: Uuid) {
        if self.holding {
            return;
        }
        loop {
            if self.stopped {
                return;
            }
            let Some(delivered) = self.delivered(channel) else { return };
            let Some(cursor) = self.channels.get_mut(&channel) else { return };
            // Parked read-back pages plus live frames behind them; beyond this the client is too far
            // behind. A writer that is due to run (this node is busy) gets the outbox's grace here too.
            if cursor.pending.len() > self.max_held && !self.outbox.queued().writer_due {
                return self.close_slow("too many frames held behind a gap or read-back");
            }
            let Some(entry) = cursor.pending.first_entry() else {
                if cursor.read == Read::Idle {
                    self.settle(channel);
                }
                return;
            };
            let seq = *entry.key();
            if seq <= delivered {
                entry.remove();
                continue;
            }
            if seq != delivered + 1 {
                return self.start_read(channel);
            }
            // A read-back fills the outbox only to half its bounds, so live events always fit.
            if !self.outbox.has_room_or_notify() {
                if let Some(cursor) = self.channels.get_mut(&channel) {
                    cursor.waiting_for_room = true;
                }
                return;
            }
            let Some(frame) = self.channels.get_mut(&channel).and_then(|c| c.pending.remove(&seq)) else { return };
            self.push(&frame);
        }
    }
}
