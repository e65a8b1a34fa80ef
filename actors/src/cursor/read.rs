//! Reading a channel's log back for a session: one page at a time, one read at a time per channel,
//! only as far as the outbound queue has room (half its bounds, so live frames always fit), and never
//! from a position the client has since moved (each resume bumps the cursor's generation).

use uuid::Uuid;

use super::{CATCH_UP_PAGE, Command, Cursors, Read};
use crate::frame::Frame;

impl Cursors {
    /// Asks for a page of the log after the position, unless one is being read or the window holds.
    pub(super) fn start_read(&mut self, channel: Uuid) {
        if self.holding {
            // `release` reads back every channel once the client's position is known.
            return;
        }
        let room = self.outbox.has_room_or_notify();
        let Some(after) = self.delivered(channel) else { return };
        let Some(cursor) = self.channels.get_mut(&channel) else { return };
        if cursor.read != Read::Idle {
            return;
        }
        self.outbox.set_live(channel, false);
        if !room {
            cursor.read = Read::Paused;
            cursor.waiting_for_room = true;
            return;
        }
        cursor.read = Read::Reading;
        self.commands.push(Command::ReadBack { channel, after, generation: cursor.generation });
    }

    pub(super) fn on_read_back(&mut self, channel: Uuid, generation: u64, frames: Result<Vec<Frame>, String>) {
        let Some(cursor) = self.channels.get_mut(&channel) else { return };
        cursor.read = Read::Idle;
        if cursor.generation != generation {
            // The client moved the position meanwhile (resume); read again from the new one.
            return self.start_read(channel);
        }
        let frames = match frames {
            Ok(frames) => frames,
            Err(error) => return self.commands.push(Command::RetryReadBack { channel, error }),
        };
        let full_page = frames.len() == CATCH_UP_PAGE as usize;
        let mut frames = frames.into_iter();
        while let Some(frame) = frames.next() {
            if self.stopped {
                return;
            }
            let room = self.outbox.has_room_or_notify();
            let Some(delivered) = self.delivered(channel) else { return };
            let Some(cursor) = self.channels.get_mut(&channel) else { return };
            if !room {
                // Park the rest until the socket drains; they are contiguous, so pending holds them.
                cursor.pending.insert(frame.seq, frame);
                cursor.pending.extend(frames.map(|f| (f.seq, f)));
                cursor.waiting_for_room = true;
                cursor.more_in_log = full_page;
                return;
            }
            if frame.seq == delivered + 1 {
                // Reaching the user's removal closes the lane: nothing after it is theirs.
                self.push(&frame);
            }
        }
        if full_page { self.start_read(channel) } else { self.drain_pending(channel) }
    }

    pub(super) fn resume_paused(&mut self, channel: Uuid) {
        let Some(cursor) = self.channels.get_mut(&channel) else { return };
        cursor.waiting_for_room = false;
        let more = cursor.more_in_log;
        if cursor.read == Read::Paused {
            cursor.read = Read::Idle;
            return self.start_read(channel);
        }
        self.drain_pending(channel);
        let Some(cursor) = self.channels.get_mut(&channel) else { return };
        if cursor.pending.is_empty() && !cursor.waiting_for_room {
            cursor.more_in_log = false;
            if more {
                self.start_read(channel);
            }
        }
    }
}
