//! Channel delivery for a session: the messages channel actors and the supervisor send it, handed to
//! its [`Cursors`](crate::cursor::Cursors), and the cursors' commands carried out (log reads, the
//! slow-consumer close, unsubscribing).

use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::prelude::*;
use actix_http::ws::CloseCode;
use uuid::Uuid;

use super::{CLOSE_SLOW_CONSUMER, WsSession};
use crate::cursor::{CATCH_UP_PAGE, Command};
use crate::frame::Frame;
use crate::messages::{Deliver, Drained, Joined, Left, MembershipGranted, Overflowed, Subscribe, Unsubscribe};

/// Wait before retrying a failed read-back.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl WsSession {
    /// Follows `channel` from `delivered` and asks the supervisor for its frames.
    pub(super) fn subscribe(&mut self, channel: Uuid, delivered: i64, presence: bool) {
        self.cursors.open(channel, delivered, presence);
        self.supervisor.do_send(Subscribe { conn: self.conn, user: self.user, channel, session: self.handle.clone() });
    }

    /// Ends the resume window (the client's first frame came, or the window passed).
    pub(super) fn release(&mut self, ctx: &mut Context<Self>) {
        let commands = self.cursors.release();
        self.run(commands, ctx);
    }

    fn run(&mut self, commands: Vec<Command>, ctx: &mut Context<Self>) {
        for command in commands {
            match command {
                Command::ReadBack { channel, after, generation } => {
                    self.config.counters.read_backs.fetch_add(1, Ordering::Relaxed);
                    let read = self.log.events_after(channel, after, CATCH_UP_PAGE);
                    ctx.spawn(read.into_actor(self).map(move |frames, act, ctx| {
                        let commands = act.cursors.read_back(channel, generation, frames);
                        act.run(commands, ctx);
                    }));
                }
                Command::RetryReadBack { channel, error } => {
                    let _entered = self.span.enter();
                    tracing::warn!(conn = %self.conn, %channel, %error, "read-back failed; retrying");
                    drop(_entered);
                    ctx.run_later(RETRY_AFTER, move |act, ctx| act.catch_up(channel, ctx));
                }
                Command::CloseSlow(why) => self.overflow(ctx, why),
                Command::Unsubscribe(channel) => {
                    self.supervisor.do_send(Unsubscribe { conn: self.conn, channel });
                }
            }
        }
    }

    pub(super) fn catch_up(&mut self, channel: Uuid, ctx: &mut Context<Self>) {
        let commands = self.cursors.catch_up(channel);
        self.run(commands, ctx);
    }

    fn deliver(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        let commands = self.cursors.deliver(frame);
        self.run(commands, ctx);
    }

    /// Closes the session as a slow consumer; `why` says which bound it passed, for the log.
    pub(super) fn overflow(&mut self, ctx: &mut Context<Self>, why: &'static str) {
        if self.closing {
            return;
        }
        self.config.counters.slow.fetch_add(1, Ordering::Relaxed);
        let queued = self.outbox.queued();
        let _entered = self.span.enter();
        tracing::warn!(
            conn = %self.conn, user = %self.user, why, queued_frames = queued.frames, queued_bytes = queued.bytes,
            writer_due = queued.writer_due, held_frames = self.cursors.held(),
            "closing slow consumer: too far behind"
        );
        drop(_entered);
        self.close(ctx, CloseCode::Other(CLOSE_SLOW_CONSUMER), "slow consumer: resume with your last seq", true);
    }
}

impl Handler<Deliver> for WsSession {
    type Result = ();
    fn handle(&mut self, Deliver(frame): Deliver, ctx: &mut Context<Self>) {
        self.deliver(frame, ctx);
    }
}

impl Handler<Joined> for WsSession {
    type Result = ();
    fn handle(&mut self, msg: Joined, ctx: &mut Context<Self>) {
        let commands = self.cursors.joined(msg.channel, msg.last_seq);
        self.run(commands, ctx);
    }
}

impl Handler<Left> for WsSession {
    type Result = ();
    fn handle(&mut self, msg: Left, ctx: &mut Context<Self>) {
        let commands = self.cursors.left(msg.channel, msg.seq);
        self.run(commands, ctx);
    }
}

impl Handler<MembershipGranted> for WsSession {
    type Result = ();
    fn handle(&mut self, msg: MembershipGranted, ctx: &mut Context<Self>) {
        if !self.cursors.contains(msg.channel) {
            // A channel joined while connected announces presence until the next connect, which
            // decides by its size.
            self.subscribe(msg.channel, msg.seq - 1, true);
            self.catch_up(msg.channel, ctx);
        }
    }
}

impl Handler<Overflowed> for WsSession {
    type Result = ();
    fn handle(&mut self, _: Overflowed, ctx: &mut Context<Self>) {
        self.overflow(ctx, "live frame refused by the channel's direct path");
    }
}

impl Handler<Drained> for WsSession {
    type Result = ();
    fn handle(&mut self, _: Drained, ctx: &mut Context<Self>) {
        let commands = self.cursors.drained();
        self.run(commands, ctx);
    }
}
