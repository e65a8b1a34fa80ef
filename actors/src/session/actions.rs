//! The client side of a session: each text frame is parsed into a [`ClientAction`] (see
//! [`crate::client`]) and answered with a `reply` carrying the frame's `id`. Nothing is relayed that
//! was not parsed first: `typing` publishes only the typed channel and thread ids.

use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use super::WsSession;
use crate::client::{self, ClientAction, PostAction, RequestId, Status};
use crate::frame::Frame;
use crate::login::Credential;
use crate::messages::{Publish, Reauthenticated};
use crate::ports::BusMessage;

/// At most one `typing` event per channel per connection in this long.
const TYPING_INTERVAL: Duration = Duration::from_secs(2);

impl WsSession {
    pub(super) fn reply_ok(&mut self, id: &RequestId, data: Value, ctx: &mut Context<Self>) {
        self.send_value(&json!({ "event": "reply", "id": id, "status": "ok", "data": data }), ctx);
    }

    pub(super) fn reply_error(&mut self, id: &RequestId, code: &str, message: &str, ctx: &mut Context<Self>) {
        self.send_value(
            &json!({ "event": "reply", "id": id, "status": "error", "error": { "code": code, "message": message } }),
            ctx,
        );
    }

    pub(super) fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        let (id, action) = match client::parse(text) {
            Ok(parsed) => parsed,
            Err(refusal) => return self.reply_error(&refusal.id, refusal.code, &refusal.message, ctx),
        };
        match action {
            ClientAction::Ping {} => self.send_value(&json!({ "event": "pong", "id": id }), ctx),
            ClientAction::Resume { since } => self.on_resume(&id, since, ctx),
            ClientAction::Typing { channel_id, root_id } => self.on_typing(&id, channel_id, root_id, ctx),
            ClientAction::Post(post) => self.on_post(id, post, ctx),
            ClientAction::Presence { status } => self.on_presence(&id, status, ctx),
            ClientAction::Authenticate { token } => self.on_authenticate(id, token, ctx),
        }
    }

    fn on_resume(&mut self, id: &RequestId, since: std::collections::HashMap<Uuid, u64>, ctx: &mut Context<Self>) {
        let mut resumed = Vec::new();
        let mut unknown = Vec::new();
        for (channel, seq) in since {
            let seq = i64::try_from(seq).unwrap_or(i64::MAX);
            if self.cursors.rewind(channel, seq) {
                resumed.push(channel);
            } else {
                // Not a member (any more): nothing to resume, and no hint whether the channel exists.
                unknown.push(channel);
            }
        }
        self.reply_ok(id, json!({ "resumed": resumed, "unknown": unknown }), ctx);
        for channel in resumed {
            self.catch_up(channel, ctx);
        }
    }

    fn on_typing(&mut self, id: &RequestId, channel: Uuid, root_id: Option<Uuid>, ctx: &mut Context<Self>) {
        if !self.cursors.contains(channel) {
            return self.reply_error(id, "not_found", "channel not found", ctx);
        }
        let now = Instant::now();
        let recent = self.typing_sent.get(&channel).is_some_and(|t| now.duration_since(*t) < TYPING_INTERVAL);
        if !recent {
            self.typing_sent.insert(channel, now);
            let data = json!({ "user_id": self.user, "root_id": root_id });
            self.supervisor.do_send(Publish(BusMessage::ephemeral(Frame::channel_event("typing", channel, 0, &data))));
        }
        if !id.is_none() {
            self.reply_ok(id, json!({}), ctx);
        }
    }

    fn on_post(&mut self, id: RequestId, post: PostAction, ctx: &mut Context<Self>) {
        let perform = self.actions.post(self.user, self.login, post);
        let supervisor = self.supervisor.clone();
        ctx.spawn(perform.into_actor(self).map(move |result, act, ctx| match result {
            Ok(outcome) => {
                for message in outcome.publish {
                    supervisor.do_send(Publish(message));
                }
                act.reply_ok(&id, outcome.reply, ctx);
            }
            Err(e) => act.reply_error(&id, &e.code, &e.message, ctx),
        }));
    }

    fn on_presence(&mut self, id: &RequestId, status: Status, ctx: &mut Context<Self>) {
        self.announce_presence(status.as_str());
        if !id.is_none() {
            self.reply_ok(id, json!({ "status": status.as_str() }), ctx);
        }
    }

    /// A fresh access token keeps the socket open past the first one's expiry. It must be the same
    /// user's; it may name another of their logins, which later actions then run in.
    fn on_authenticate(&mut self, id: RequestId, token: String, ctx: &mut Context<Self>) {
        let check = self.logins.authenticate(token);
        ctx.spawn(check.into_actor(self).map(move |result, act, ctx| match result {
            Ok(credential) if credential.user == act.user => {
                act.login = credential.login;
                act.supervisor.do_send(Reauthenticated { conn: act.conn, login: credential.login });
                act.expire_at(credential, ctx);
                act.reply_ok(&id, json!({ "expires_in": seconds_until(credential.expires_at) }), ctx);
            }
            Ok(_) => act.reply_error(&id, "forbidden", "the token belongs to another user", ctx),
            Err(e) => act.reply_error(&id, &e.code, &e.message, ctx),
        }));
    }

    /// Closes the socket [`TOKEN_GRACE`] after the credential's token expires (replacing any earlier
    /// deadline).
    pub(super) fn expire_at(&mut self, credential: Credential, ctx: &mut Context<Self>) {
        self.closes_at = super::closes_at(credential.expires_at);
        self.arm_timer(ctx);
    }

    /// Tells everyone who shares a small channel with this user how they are.
    pub(super) fn announce_presence(&self, status: &str) {
        for channel in self.presence_channels() {
            self.supervisor.do_send(Publish(BusMessage::ephemeral(crate::frame::presence(channel, self.user, status))));
        }
    }

    pub(super) fn presence_channels(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.cursors.presence_channels()
    }

    pub(super) fn over_rate(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.window.0) >= Duration::from_secs(1) {
            self.window = (now, 0);
        }
        self.window.1 += 1;
        self.window.1 > self.config.max_messages_per_second * 2
    }
}

fn seconds_until(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::now()).unwrap_or_default().as_secs()
}
