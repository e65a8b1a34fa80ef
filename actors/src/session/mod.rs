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
//! This file holds the socket's lifecycle (start, pings, close, the client's frames); channel
//! delivery is in [`delivery`] (the ordering itself in [`crate::cursor`]), the client protocol
//! (parsing and answering actions) in [`actions`].

mod actions;
mod delivery;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Message, ProtocolError};
use bytestring::ByteString;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::client::RequestId;
pub use crate::counters::SessionCounters;
use crate::cursor::Cursors;
use crate::frame::direct;
use crate::inbound::Inbound;
use crate::login::{CLOSE_TOKEN_EXPIRED, TOKEN_GRACE};
use crate::messages::{CloseForRestart, Connected, Disconnected, LoginEnded, Push, SessionHandle};
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
    /// Shared by the node's sessions: an actix address owns three allocations of its own.
    pub supervisor: Arc<Addr<Supervisor>>,
    pub log: Arc<dyn EventLog>,
    pub actions: Arc<dyn Actions>,
    pub logins: Arc<dyn Logins>,
    pub config: Arc<SessionConfig>,
    /// The `ws_handler` span the session's log lines belong to.
    pub span: tracing::Span,
    /// The user's channels, read before the upgrade (so a node too busy to read them refuses the
    /// handshake with 503 instead of closing an open socket).
    pub memberships: Vec<Membership>,
    /// Another protocol's client actions, translated to this one's (`None`: answered or dropped by
    /// the translator itself); see [`crate::outbox::Face`] for the other direction.
    pub translate: Option<Translate>,
    /// Actions run as if the client had sent them first (a resume decided at the handshake).
    pub initial: Vec<String>,
}

/// Translates a client frame of another protocol into this one's action text.
pub type Translate = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub struct WsSession {
    conn: Uuid,
    user: Uuid,
    login: Uuid,
    outbox: Arc<Outbox>,
    /// How the supervisor and channel actors reach this session.
    handle: Arc<SessionHandle>,
    supervisor: Arc<Addr<Supervisor>>,
    log: Arc<dyn EventLog>,
    actions: Arc<dyn Actions>,
    logins: Arc<dyn Logins>,
    config: Arc<SessionConfig>,
    span: tracing::Span,
    /// The session's one timer: it fires at the earlier of `next_ping` and `closes_at`.
    timer: Option<SpawnHandle>,
    /// When the access token's grace ends: the socket closes then unless a fresh token came.
    closes_at: Instant,
    next_ping: Instant,
    last_heard: Instant,
    /// Where the client is in each channel; they hold channel events until the client's first frame
    /// or [`RESUME_WINDOW`].
    cursors: Cursors,
    closing: bool,
    resume_announced: bool,
    /// Subscribed to when the actor starts.
    memberships: Vec<Membership>,
    /// Client messages counted in the current one-second window.
    window: (Instant, u32),
    typing_sent: HashMap<Uuid, Instant>,
    translate: Option<Translate>,
    initial: Vec<String>,
}

impl WsSession {
    /// Starts the actor, reading client frames from `stream`.
    pub fn start(parts: SessionParts, stream: Inbound) -> Addr<WsSession> {
        WsSession::create(move |ctx| {
            ctx.add_stream(stream);
            parts.outbox.attach(ctx.address().recipient().downgrade());
            let next_ping = Instant::now() + parts.config.ping_interval;
            WsSession {
                conn: parts.conn,
                user: parts.user,
                login: parts.login,
                handle: SessionHandle::new(&ctx.address(), parts.outbox.clone()),
                cursors: Cursors::new(parts.outbox.clone(), parts.user, parts.config.max_queued_frames),
                outbox: parts.outbox,
                supervisor: parts.supervisor,
                log: parts.log,
                actions: parts.actions,
                logins: parts.logins,
                config: parts.config,
                span: parts.span,
                timer: None,
                closes_at: closes_at(parts.token_expires_at),
                next_ping,
                last_heard: Instant::now(),
                closing: false,
                resume_announced: parts.resume_announced,
                memberships: parts.memberships,
                window: (Instant::now(), 0),
                typing_sent: HashMap::new(),
                translate: parts.translate,
                initial: parts.initial,
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

    /// Sets the session's one timer for the earlier of the next ping and the token's deadline, replacing
    /// the one set before. One timer rather than one per duty: each is a few hundred bytes of heap on
    /// every idle socket (issue #21).
    pub(super) fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        let due = self.next_ping.min(self.closes_at);
        self.timer = Some(ctx.run_later(due.saturating_duration_since(Instant::now()), |act, ctx| {
            act.timer = None;
            act.on_timer(ctx);
        }));
    }

    /// Closes the socket if its token's grace has passed, or if the client was silent past the
    /// timeout when a ping is due; pings it otherwise, when due.
    fn on_timer(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if now >= self.closes_at {
            let _entered = self.span.enter();
            tracing::info!(conn = %self.conn, user = %self.user, "closing WebSocket: access token expired");
            drop(_entered);
            let reason = "access token expired: refresh it, reconnect and resume";
            return self.close(ctx, CloseCode::Other(CLOSE_TOKEN_EXPIRED), reason, false);
        }
        if now >= self.next_ping {
            if self.last_heard.elapsed() > self.config.client_timeout {
                let _entered = self.span.enter();
                tracing::info!(conn = %self.conn, "closing idle WebSocket: no pong within the timeout");
                drop(_entered);
                return self.close(ctx, CloseCode::Away, "idle timeout", false);
            }
            self.outbox.ping();
            self.next_ping = now + self.config.ping_interval;
        }
        self.arm_timer(ctx);
    }

    /// Queues a close frame (after what is queued, or instead of it with `discard`) and stops.
    fn close(&mut self, ctx: &mut Context<Self>, code: CloseCode, reason: &str, discard: bool) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.cursors.stop();
        let description = (!reason.is_empty()).then(|| reason.to_string());
        self.outbox.close(CloseReason { code, description }, discard);
        ctx.stop();
    }
}

/// When a socket whose token expires at `expires_at` closes: [`TOKEN_GRACE`] later.
pub(super) fn closes_at(expires_at: SystemTime) -> Instant {
    Instant::now() + expires_at.duration_since(SystemTime::now()).unwrap_or_default() + TOKEN_GRACE
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.config.max_queued_frames.max(16));
        self.supervisor.do_send(Connected {
            conn: self.conn,
            user: self.user,
            login: self.login,
            session: self.handle.clone(),
        });
        self.arm_timer(ctx);
        // Subscribe to every channel of the user, then say hello: from then on nothing is missed (the
        // release below reads back whatever was committed since the memberships were read).
        for m in std::mem::take(&mut self.memberships) {
            self.subscribe(m.channel, m.last_seq, m.presence);
        }
        let initial = std::mem::take(&mut self.initial);
        for action in &initial {
            self.on_text(action, ctx);
        }
        if !initial.is_empty() {
            // The resume the client would have announced has been made: nothing to wait for.
            self.release(ctx);
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
                match &self.translate {
                    Some(translate) => {
                        if let Some(text) = translate(&text) {
                            self.on_text(&text, ctx);
                        }
                    }
                    None => self.on_text(&text, ctx),
                }
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

impl Handler<Push> for WsSession {
    type Result = ();
    fn handle(&mut self, Push(text): Push, ctx: &mut Context<Self>) {
        self.enqueue(text, ctx);
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
