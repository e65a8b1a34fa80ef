//! One v4 connection's face over the session machinery (`rustchat_actors::outbox::Face`): frames are
//! numbered with the connection's `seq` as they are queued (so the client sees 0, 1, 2… with no gap),
//! each stored event's v4 text comes from the per-node rendering cached on the frame, and v1 replies
//! become `{"status","seq_reply"}`. Client actions go the other way through [`translate`].

use std::sync::{Arc, Mutex};

use bytestring::ByteString;
use rustchat_actors::Frame;
use rustchat_actors::outbox::Face;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;
use uuid::Uuid;

use super::directory::Directory;
use super::render;
use crate::mattermost::ids::{decode, encode};
use crate::mattermost::system::version_id;
use crate::store::change::ChannelEvent;

/// Where the numbers a connection sends are recorded: each `seq` with the stored event it carried.
pub type Sent = UnboundedSender<(i64, Option<(Uuid, i64)>)>;

pub struct MmFace {
    dir: Arc<Directory>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    user: Uuid,
    connection_id: String,
    next: i64,
    /// Send a `hello` (a new connection) or not (a resumed one).
    hello: bool,
    /// Where each number sent is recorded (set once the connection is authenticated).
    sent: Option<Sent>,
}

impl MmFace {
    /// A face for a socket not yet authenticated: it passes replies through and nothing else.
    pub fn new(dir: Arc<Directory>) -> MmFace {
        MmFace { dir, state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The socket is `user`'s connection `connection_id`; the next frame is numbered `next`.
    pub fn begin(&self, user: Uuid, connection_id: String, next: i64, hello: bool, sent: Sent) {
        *self.lock() = State { user, connection_id, next, hello, sent: Some(sent) };
    }

    /// Numbers `prefix` (an event's text up to its `seq`) with the next seq.
    fn number(&self, prefix: &str, event: Option<(Uuid, i64)>) -> Option<ByteString> {
        let mut st = self.lock();
        let sent = st.sent.as_ref()?;
        let seq = st.next;
        let _ = sent.send((seq, event));
        st.next += 1;
        Some(ByteString::from(format!("{prefix}{seq}}}")))
    }

    fn user(&self) -> Uuid {
        self.lock().user
    }
}

impl Face for MmFace {
    fn channel(&self, frame: &Frame) -> Option<ByteString> {
        if frame.is_ephemeral() {
            return render::ephemeral(&frame.text, self.user()).and_then(|p| self.number(&p, None));
        }
        let source = frame.source.as_ref()?;
        let prefix = source.rendered.get_or_init(|| {
            let event = source.event.downcast_ref::<ChannelEvent>()?;
            render::channel_event(event, &self.dir).map(ByteString::from)
        });
        let prefix = prefix.as_ref()?;
        self.number(prefix, Some((frame.channel, frame.seq)))
    }

    fn direct(&self, text: ByteString) -> Option<ByteString> {
        if text.starts_with("{\"status\"") {
            return Some(text);
        }
        let v: Value = serde_json::from_str(&text).ok()?;
        let seq_reply = v["id"].as_i64();
        match v["event"].as_str()? {
            "hello" => {
                let mut st = self.lock();
                if !std::mem::take(&mut st.hello) {
                    return None;
                }
                st.next = 1;
                if let Some(sent) = &st.sent {
                    let _ = sent.send((0, None));
                }
                let hello = json!({
                    "event": "hello",
                    "data": { "connection_id": st.connection_id, "server_version": version_id(),
                              "server_hostname": v["data"]["node_id"] },
                    "broadcast": { "omit_users": null, "user_id": encode(st.user), "channel_id": "", "team_id": "",
                                   "connection_id": "", "omit_connection_id": "" },
                    "seq": 0,
                });
                Some(ByteString::from(hello.to_string()))
            }
            "pong" => {
                let data = json!({ "text": "pong", "version": version_id(), "node_id": "",
                                   "server_time": crate::mattermost::models::millis(crate::domain::Timestamp::now()) });
                Some(reply(seq_reply?, "OK", Some(data), None))
            }
            "reply" => {
                let seq = seq_reply?;
                if v["status"] == "ok" {
                    Some(reply(seq, "OK", None, None))
                } else {
                    let error = json!({ "id": "api.web_socket_router.bad_action.app_error",
                                        "message": v["error"]["message"], "status_code": 400 });
                    Some(reply(seq, "FAIL", None, Some(error)))
                }
            }
            "channel_viewed" => {
                let channel: Uuid = v["channel_id"].as_str()?.parse().ok()?;
                let b = json!({ "omit_users": null, "user_id": encode(self.user()), "channel_id": "", "team_id": "",
                                "connection_id": "", "omit_connection_id": "" });
                self.number(&render::prefix("channel_viewed", json!({ "channel_id": encode(channel) }), b), None)
            }
            _ => None,
        }
    }
}

/// A reply to a client action: `{"status","seq_reply","data"?,"error"?}`, with no `seq` of its own.
pub fn reply(seq: i64, status: &str, data: Option<Value>, error: Option<Value>) -> ByteString {
    let mut r = json!({ "status": status, "seq_reply": seq });
    if let Some(d) = data {
        r["data"] = d;
    }
    if let Some(e) = error {
        r["error"] = e;
    }
    ByteString::from(r.to_string())
}

/// A v4 client action as the session's own action (the reply comes back through [`MmFace::direct`]
/// by the action's `seq`); an action with no counterpart is refused with a `FAIL` reply.
pub fn translate(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    let seq = v["seq"].as_i64().filter(|s| *s > 0)?;
    let data = &v["data"];
    let action = match v["action"].as_str()? {
        "ping" => json!({ "action": "ping", "id": seq }),
        "user_typing" => {
            let channel = data["channel_id"].as_str().and_then(decode)?;
            let root = data["parent_id"].as_str().and_then(decode);
            json!({ "action": "typing", "id": seq, "channel_id": channel, "root_id": root })
        }
        "authentication_challenge" => json!({ "action": "authenticate", "id": seq, "token": data["token"] }),
        // Not one of ours: the session refuses it, and the refusal goes back as FAIL.
        _ => json!({ "action": "unsupported", "id": seq }),
    };
    Some(action.to_string())
}
