//! `WsSession`: one per WebSocket. It keeps a cursor per channel so the client gets every event exactly
//! once and in order, reads back from the event log when it is behind (resume, gaps, joins), answers
//! client actions, and keeps the connection alive with pings. Its socket's outbound side is an
//! [`Outbox`]: while a channel is in step, channel actors queue its frames there directly; the session
//! takes over a channel (its lane stops being live) whenever it must hold, reorder or read back.
//!
//! Close codes: 1000 normal; 1001 idle timeout; 1008 policy (frame too large, too many messages);
//! 1011 server error; 1012 service restart (reconnect elsewhere and resume); 4001 access token
//! expired (refresh, reconnect and resume); 4003 login ended (log in again); 4008 slow consumer
//! (the outbound queue overflowed: reconnect and resume with your last seq per channel).
//!
//! The client protocol (parsing and answering actions) is in [`actions`].

mod actions;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Message, ProtocolError};
use bytestring::ByteString;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::client::RequestId;
use crate::frame::{Frame, direct};
use crate::inbound::Inbound;
use crate::login::Credential;
use crate::messages::{
    CloseForRestart, Connected, Deliver, Disconnected, Drained, Joined, Left, LoginEnded, MembershipGranted,
    Overflowed, Push, Subscribe, Unsubscribe,
};
use crate::outbox::{Outbox, Refused};
use crate::ports::{Actions, EventLog, Logins, Membership};
use crate::supervisor::Supervisor;

/// Close code for a client that cannot keep up.
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;
/// After `hello`, channel events wait this long for the client's first frame (normally `resume`), so a
/// resuming client's position is known before anything is delivered: in order, nothing twice.
pub const RESUME_WINDOW: Duration = Duration::from_secs(1);
/// For a client that announced its resume (`?resume=true`): events wait for its first frame, however
/// busy the node is, up to this long (a client that announced a resume and sent nothing is broken).
pub const ANNOUNCED_RESUME_WINDOW: Duration = Duration::from_secs(30);
/// Events read back per query while catching up.
const CATCH_UP_PAGE: u32 = 200;

/// Counters every session of a node adds to (read by the metrics).
#[derive(Default)]
pub struct SessionCounters {
    pub received: std::sync::atomic::AtomicU64,
    pub sent: std::sync::atomic::AtomicU64,
    pub slow: std::sync::atomic::AtomicU64,
    /// Event-log reads by sessions catching up (resumes, gaps, joins): what reconnect waves cost the database.
    pub read_backs: std::sync::atomic::AtomicU64,
    /// Called with the seconds from a channel frame's arrival on this node to its socket write queue.
    pub fanout_latency: std::sync::OnceLock<Box<dyn Fn(f64) + Send + Sync>>,
}

impl std::fmt::Debug for SessionCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCounters").field("received", &self.received).field("sent", &self.sent).finish()
    }
}

/// Limits and identity shared by every session of a node.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub node_id: String,
    pub version: String,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// A client silent this long is disconnected.
    pub client_timeout: Duration,
    /// Outbound queue bounds; past either the session closes as a slow consumer.
    pub max_queued_frames: usize,
    pub max_queued_bytes: usize,
    /// Client messages allowed per second (a burst of twice this is tolerated).
    pub max_messages_per_second: u32,
    pub counters: Arc<SessionCounters>,
}

/// Everything a session is built from.
pub struct SessionParts {
    pub conn: Uuid,
    pub user: Uuid,
    /// The login session the socket was authenticated with; actions are taken in its name.
    pub login: Uuid,
    /// When the access token the socket was opened with expires.
    pub token_expires_at: SystemTime,
    pub outbox: Arc<Outbox>,
    /// The client said in the handshake that its first frame is a `resume`: hold until it comes.
    pub resume_announced: bool,
    pub supervisor: Addr<Supervisor>,
    pub log: Arc<dyn EventLog>,
    pub actions: Arc<dyn Actions>,
    pub logins: Arc<dyn Logins>,
    pub config: Arc<SessionConfig>,
    /// The `ws_handler` span the session's log lines belong to.
    pub span: tracing::Span,
    /// The user's channels, read before the upgrade (so a node too busy to read them refuses the
    /// handshake with 503 instead of closing an open socket).
    pub memberships: Vec<Membership>,
}

pub struct WsSession {
    conn: Uuid,
    user: Uuid,
    login: Uuid,
    outbox: Arc<Outbox>,
    supervisor: Addr<Supervisor>,
    log: Arc<dyn EventLog>,
    actions: Arc<dyn Actions>,
    logins: Arc<dyn Logins>,
    config: Arc<SessionConfig>,
    span: tracing::Span,
    /// Closes the socket when its access token has expired (and the grace after it has passed).
    expiry: Option<SpawnHandle>,
    token_expires_at: SystemTime,
    last_heard: Instant,
    cursors: HashMap<Uuid, Cursor>,
    closing: bool,
    /// Channel events are held (not delivered) until the client's first frame or [`RESUME_WINDOW`].
    holding: bool,
    resume_announced: bool,
    /// Subscribed to when the actor starts.
    memberships: Vec<Membership>,
    /// Client messages counted in the current one-second window.
    window: (Instant, u32),
    typing_sent: HashMap<Uuid, Instant>,
}

/// Where a session is in one channel's log, beyond the position its outbox lane keeps.
#[derive(Default)]
struct Cursor {
    catching_up: bool,
    /// Bumped whenever `delivered` is moved by the client, so stale read-backs are ignored.
    generation: u64,
    /// Read-back paused until the outbound queue drains.
    waiting_for_room: bool,
    /// The paused read-back stopped at a full page: the log may hold more after `pending`.
    more_in_log: bool,
    pending: BTreeMap<i64, Frame>,
    /// Status changes of this user are announced in the channel (it is small enough).
    presence: bool,
    /// The channel actor's newest seq when it took this session on; every later frame reaches the
    /// session from the actor, so a position at or past it has nothing to read back.
    joined_at: Option<i64>,
}

impl WsSession {
    /// Starts the actor, reading client frames from `stream`.
    pub fn start(parts: SessionParts, stream: Inbound) -> Addr<WsSession> {
        WsSession::create(move |ctx| {
            ctx.add_stream(stream);
            parts.outbox.attach(ctx.address().downgrade());
            WsSession {
                conn: parts.conn,
                user: parts.user,
                login: parts.login,
                outbox: parts.outbox,
                supervisor: parts.supervisor,
                log: parts.log,
                actions: parts.actions,
                logins: parts.logins,
                config: parts.config,
                span: parts.span,
                expiry: None,
                token_expires_at: parts.token_expires_at,
                last_heard: Instant::now(),
                cursors: HashMap::new(),
                closing: false,
                holding: true,
                resume_announced: parts.resume_announced,
                memberships: parts.memberships,
                window: (Instant::now(), 0),
                typing_sent: HashMap::new(),
            }
        })
    }

    fn send_value(&mut self, value: &Value, ctx: &mut Context<Self>) {
        self.enqueue(direct(value), ctx);
    }

    fn enqueue(&mut self, text: ByteString, ctx: &mut Context<Self>) {
        if let Err(Refused::Full) = self.outbox.push_direct(text) {
            self.overflow(ctx, "direct frame refused");
        }
    }

    /// Queues a channel frame if it is its lane's next; `false` if it is not (or the socket is closing).
    /// Queues the channel's next frame; the user's own removal is the last one it gets.
    fn push_frame(&mut self, frame: &Frame, ctx: &mut Context<Self>) -> bool {
        match self.outbox.push_next(frame, false) {
            Ok(()) => {
                if matches!(frame.effect, crate::frame::Effect::MemberRemoved(u) if u == self.user) {
                    self.leave(frame.channel);
                }
                true
            }
            Err(Refused::Full) => {
                self.overflow(ctx, "channel frame refused");
                false
            }
            Err(Refused::NotNext | Refused::Closed) => false,
        }
    }

    /// Read-back fills the outbox only to half its bounds, so live events always fit.
    fn has_room(&self) -> bool {
        self.outbox.has_room_or_notify()
    }

    fn delivered(&self, channel: Uuid) -> Option<i64> {
        self.outbox.lane(channel).map(|l| l.delivered)
    }

    /// Lets channel actors queue `channel`'s frames directly again, if nothing is held, pending or
    /// being read back for it.
    fn settle(&self, channel: Uuid) {
        let live = !self.holding
            && !self.closing
            && self
                .cursors
                .get(&channel)
                .is_some_and(|c| !c.catching_up && !c.waiting_for_room && c.pending.is_empty());
        self.outbox.set_live(channel, live);
    }

    /// Queues a close frame (after what is queued, or instead of it with `discard`) and stops.
    fn close(&mut self, ctx: &mut Context<Self>, code: CloseCode, reason: &str, discard: bool) {
        if self.closing {
            return;
        }
        self.closing = true;
        let description = (!reason.is_empty()).then(|| reason.to_string());
        self.outbox.close(CloseReason { code, description }, discard);
        ctx.stop();
    }

    // ---- channel delivery -------------------------------------------------------------------

    fn deliver(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        if frame.is_ephemeral() {
            if let Err(Refused::Full) = self.outbox.push_next(&frame, false) {
                self.overflow(ctx, "ephemeral frame refused");
            }
            return;
        }
        let channel = frame.channel;
        let Some(delivered) = self.delivered(channel) else { return };
        let Some(cursor) = self.cursors.get_mut(&channel) else { return };
        if self.holding {
            // Kept even at or below the position read at the handshake: the client's resume may move
            // the cursor back, and `release` reads nothing back when the channel actor's head at the
            // join is at or below the cursor, so a frame dropped here would be lost.
            cursor.pending.insert(frame.seq, frame);
            return;
        }
        if frame.seq <= delivered {
            return;
        }
        if cursor.catching_up || frame.seq != delivered + 1 || !self.push_frame(&frame, ctx) {
            if self.closing {
                return;
            }
            if let Some(cursor) = self.cursors.get_mut(&channel) {
                cursor.pending.insert(frame.seq, frame);
            }
            self.outbox.set_live(channel, false);
            self.drain_pending(channel, ctx);
            return;
        }
        self.drain_pending(channel, ctx);
    }

    fn drain_pending(&mut self, channel: Uuid, ctx: &mut Context<Self>) {
        if self.holding {
            return;
        }
        loop {
            if self.closing {
                return;
            }
            let Some(delivered) = self.delivered(channel) else { return };
            let Some(cursor) = self.cursors.get_mut(&channel) else { return };
            // Parked read-back pages plus live frames behind them; beyond this the client is too far behind.
            // A writer that is due to run (this node is busy) gets the outbox's grace here too.
            if cursor.pending.len() > self.config.max_queued_frames * 4 + CATCH_UP_PAGE as usize
                && !self.outbox.queued().writer_due
            {
                return self.overflow(ctx, "too many frames held behind a gap or read-back");
            }
            let Some(entry) = cursor.pending.first_entry() else {
                if !cursor.catching_up {
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
                self.catch_up(channel, ctx);
                return;
            }
            if !self.has_room() {
                if let Some(cursor) = self.cursors.get_mut(&channel) {
                    cursor.waiting_for_room = true;
                }
                return;
            }
            let Some(frame) = self.cursors.get_mut(&channel).and_then(|c| c.pending.remove(&seq)) else { return };
            self.push_frame(&frame, ctx);
        }
    }

    /// Reads the log after the cursor, a page at a time, pausing while the outbound queue is full.
    fn catch_up(&mut self, channel: Uuid, ctx: &mut Context<Self>) {
        if self.holding {
            // `release` reads back every channel once the client's position is known.
            return;
        }
        let room = self.has_room();
        let Some(from) = self.delivered(channel) else { return };
        let Some(cursor) = self.cursors.get_mut(&channel) else { return };
        if cursor.catching_up {
            return;
        }
        cursor.catching_up = true;
        self.outbox.set_live(channel, false);
        if !room {
            cursor.waiting_for_room = true;
            return;
        }
        let generation = cursor.generation;
        self.config.counters.read_backs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let read = self.log.events_after(channel, from, CATCH_UP_PAGE);
        ctx.spawn(read.into_actor(self).map(move |result, act, ctx| act.caught_up(channel, generation, result, ctx)));
    }

    fn caught_up(
        &mut self,
        channel: Uuid,
        generation: u64,
        result: Result<Vec<Frame>, String>,
        ctx: &mut Context<Self>,
    ) {
        let Some(cursor) = self.cursors.get_mut(&channel) else { return };
        cursor.catching_up = false;
        if cursor.generation != generation {
            // The client moved the cursor meanwhile (resume); read again from the new position.
            self.catch_up(channel, ctx);
            return;
        }
        let frames = match result {
            Ok(frames) => frames,
            Err(e) => {
                let _entered = self.span.enter();
                tracing::warn!(conn = %self.conn, %channel, error = %e, "read-back failed; retrying");
                drop(_entered);
                ctx.run_later(Duration::from_secs(1), move |act, ctx| act.catch_up(channel, ctx));
                return;
            }
        };
        let full_page = frames.len() == CATCH_UP_PAGE as usize;
        let mut frames = frames.into_iter();
        while let Some(frame) = frames.next() {
            if self.closing {
                return;
            }
            let room = self.has_room();
            let Some(delivered) = self.delivered(channel) else { return };
            let Some(cursor) = self.cursors.get_mut(&channel) else { return };
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
                self.push_frame(&frame, ctx);
            }
        }
        if full_page {
            self.catch_up(channel, ctx);
        } else {
            self.drain_pending(channel, ctx);
        }
    }

    /// Closes the session as a slow consumer; `why` says which bound it passed, for the log.
    fn overflow(&mut self, ctx: &mut Context<Self>, why: &'static str) {
        self.config.counters.slow.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let queued = self.outbox.queued();
        let held: usize = self.cursors.values().map(|c| c.pending.len()).sum();
        let _entered = self.span.enter();
        tracing::warn!(
            conn = %self.conn, user = %self.user, why, queued_frames = queued.frames, queued_bytes = queued.bytes,
            writer_due = queued.writer_due, held_frames = held,
            "closing slow consumer: too far behind"
        );
        drop(_entered);
        self.close(ctx, CloseCode::Other(CLOSE_SLOW_CONSUMER), "slow consumer: resume with your last seq", true);
    }

    fn resume_paused_catch_ups(&mut self, ctx: &mut Context<Self>) {
        if !self.has_room() {
            return;
        }
        let paused: Vec<Uuid> = self.cursors.iter().filter(|(_, c)| c.waiting_for_room).map(|(id, _)| *id).collect();
        for channel in paused {
            let Some(c) = self.cursors.get_mut(&channel) else { continue };
            c.waiting_for_room = false;
            let more = c.more_in_log;
            if c.catching_up {
                // Paused before its first read: start it now.
                c.catching_up = false;
                self.catch_up(channel, ctx);
                continue;
            }
            self.drain_pending(channel, ctx);
            let Some(c) = self.cursors.get_mut(&channel) else { continue };
            if c.pending.is_empty() && !c.waiting_for_room {
                c.more_in_log = false;
                if more {
                    self.catch_up(channel, ctx);
                }
            }
        }
    }

    /// Ends the resume window: from here on, channel events flow, starting with whatever the log holds
    /// past each cursor.
    fn release(&mut self, ctx: &mut Context<Self>) {
        if !self.holding {
            return;
        }
        self.holding = false;
        let channels: Vec<Uuid> = self.cursors.keys().copied().collect();
        for channel in channels {
            let joined_at = self.cursors.get(&channel).and_then(|c| c.joined_at);
            match (joined_at, self.delivered(channel)) {
                // What was held since arrives in order from `pending`; a gap there still reads back.
                (Some(head), Some(delivered)) if head <= delivered => self.drain_pending(channel, ctx),
                _ => self.catch_up(channel, ctx),
            }
        }
    }

    fn subscribe(&mut self, channel: Uuid, delivered: i64, presence: bool, ctx: &mut Context<Self>) {
        self.cursors.insert(channel, Cursor { presence, ..Cursor::default() });
        self.outbox.open_lane(channel, delivered);
        self.supervisor.do_send(Subscribe {
            conn: self.conn,
            user: self.user,
            channel,
            session: ctx.address(),
            outbox: self.outbox.clone(),
        });
    }

    fn leave(&mut self, channel: Uuid) {
        self.outbox.close_lane(channel);
        if self.cursors.remove(&channel).is_some() {
            self.supervisor.do_send(Unsubscribe { conn: self.conn, channel });
        }
    }
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.config.max_queued_frames.max(16));
        self.supervisor.do_send(Connected {
            conn: self.conn,
            user: self.user,
            login: self.login,
            session: ctx.address(),
            outbox: self.outbox.clone(),
        });
        let opened_with = Credential { user: self.user, login: self.login, expires_at: self.token_expires_at };
        self.expire_at(opened_with, ctx);
        ctx.run_interval(self.config.ping_interval, |act, ctx| {
            if act.last_heard.elapsed() > act.config.client_timeout {
                let _entered = act.span.enter();
                tracing::info!(conn = %act.conn, "closing idle WebSocket: no pong within the timeout");
                drop(_entered);
                act.close(ctx, CloseCode::Away, "idle timeout", false);
                return;
            }
            act.outbox.ping();
        });
        // Subscribe to every channel of the user, then say hello: from then on nothing is missed (the
        // release below reads back whatever was committed since the memberships were read).
        for m in std::mem::take(&mut self.memberships) {
            self.subscribe(m.channel, m.last_seq, m.presence, ctx);
        }
        let window = if self.resume_announced { ANNOUNCED_RESUME_WINDOW } else { RESUME_WINDOW };
        ctx.run_later(window, |act, ctx| act.release(ctx));
        let hello = json!({ "event": "hello", "data": {
            "connection_id": self.conn, "node_id": self.config.node_id, "server_version": self.config.version,
            "user_id": self.user, "channels": self.cursors.len(),
        }});
        self.send_value(&hello, ctx);
        self.announce_presence("online");
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // However the session ended, the socket's writer ends too (a no-op if a close is queued).
        self.outbox.close(CloseReason { code: CloseCode::Normal, description: None }, false);
        let channels = self.presence_channels().collect();
        self.supervisor.do_send(Disconnected { conn: self.conn, user: self.user, channels });
        let _entered = self.span.enter();
        tracing::debug!(conn = %self.conn, user = %self.user, "WebSocket session ended");
    }
}

impl StreamHandler<Result<Message, ProtocolError>> for WsSession {
    fn handle(&mut self, item: Result<Message, ProtocolError>, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        let message = match item {
            Ok(m) => m,
            Err(e) => {
                let _entered = self.span.enter();
                tracing::info!(conn = %self.conn, error = %e, "WebSocket protocol error; closing");
                drop(_entered);
                return self.close(ctx, CloseCode::Policy, "protocol error or frame too large", false);
            }
        };
        if matches!(message, Message::Text(_) | Message::Binary(_)) && self.over_rate() {
            return self.close(ctx, CloseCode::Policy, "too many messages", false);
        }
        if matches!(message, Message::Text(_) | Message::Binary(_)) {
            self.config.counters.received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        match message {
            Message::Text(text) => {
                self.on_text(&text, ctx);
                self.release(ctx);
            }
            Message::Binary(_) => {
                self.reply_error(&RequestId::None, "unsupported", "binary frames are not supported", ctx)
            }
            Message::Ping(bytes) => self.outbox.pong(bytes),
            Message::Close(reason) => {
                // Answer with a close frame echoing the client's code (RFC 6455 §5.5.1), then end.
                let code = reason.map_or(CloseCode::Normal, |r| r.code);
                self.close(ctx, code, "", false);
            }
            Message::Pong(_) | Message::Continuation(_) | Message::Nop => {}
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Deliver> for WsSession {
    type Result = ();
    fn handle(&mut self, Deliver(frame): Deliver, ctx: &mut Context<Self>) {
        self.deliver(frame, ctx);
    }
}

impl Handler<Push> for WsSession {
    type Result = ();
    fn handle(&mut self, Push(text): Push, ctx: &mut Context<Self>) {
        self.enqueue(text, ctx);
    }
}

impl Handler<Joined> for WsSession {
    type Result = ();
    fn handle(&mut self, msg: Joined, ctx: &mut Context<Self>) {
        if let Some(cursor) = self.cursors.get_mut(&msg.channel) {
            cursor.joined_at = Some(msg.last_seq);
        }
        if self.delivered(msg.channel).is_some_and(|d| msg.last_seq > d) {
            self.catch_up(msg.channel, ctx);
        }
    }
}

impl Handler<Left> for WsSession {
    type Result = ();
    fn handle(&mut self, msg: Left, ctx: &mut Context<Self>) {
        if self.delivered(msg.channel).is_some_and(|d| d >= msg.seq) {
            self.leave(msg.channel);
        } else {
            // The removal is still ahead of this socket (held in the resume window, pending behind a
            // gap, or in the log): the session leaves once it has delivered it.
            self.drain_pending(msg.channel, ctx);
        }
    }
}

impl Handler<MembershipGranted> for WsSession {
    type Result = ();
    fn handle(&mut self, msg: MembershipGranted, ctx: &mut Context<Self>) {
        if !self.cursors.contains_key(&msg.channel) {
            // A channel joined while connected announces presence until the next connect, which
            // decides by its size.
            self.subscribe(msg.channel, msg.seq - 1, true, ctx);
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

impl Handler<CloseForRestart> for WsSession {
    type Result = ();
    fn handle(&mut self, _: CloseForRestart, ctx: &mut Context<Self>) {
        self.close(ctx, CloseCode::Restart, "service restart: reconnect and resume", false);
    }
}

impl Handler<LoginEnded> for WsSession {
    type Result = ();
    fn handle(&mut self, msg: LoginEnded, ctx: &mut Context<Self>) {
        self.close(ctx, CloseCode::Other(msg.code), msg.reason, true);
    }
}

impl Handler<Drained> for WsSession {
    type Result = ();
    fn handle(&mut self, _: Drained, ctx: &mut Context<Self>) {
        self.resume_paused_catch_ups(ctx);
    }
}
