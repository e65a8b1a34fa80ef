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
        let v: Value = serde_json::from_str(&text).ok()?;
        if v.get("seq_reply").is_some() {
            // Already a v4 reply (the handshake's own, before the session started).
            return Some(text);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChannelId, Mentions, PostId, Timestamp, UserId};
    use crate::store::change::Change;
    use crate::store::models::Post;

    type Numbers = tokio::sync::mpsc::UnboundedReceiver<(i64, Option<(Uuid, i64)>)>;

    fn face(user: Uuid) -> (MmFace, Numbers) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let f = MmFace::new(Arc::default());
        f.begin(user, "c".repeat(26), 0, true, tx);
        (f, rx)
    }

    fn posted(channel: ChannelId, seq: i64) -> Frame {
        let post = Post {
            id: PostId::new(),
            channel_id: channel,
            user_id: UserId::new(),
            root_id: None,
            message: "hi".into(),
            created_at: Timestamp::now(),
            edited_at: None,
            deleted_at: None,
            reply_count: 0,
            last_reply_at: None,
            is_pinned: false,
            from_bot: false,
            reactions: Vec::new(),
            files: Vec::new(),
            props: None,
        };
        let event = ChannelEvent {
            channel_id: channel,
            seq,
            created_at: Timestamp::now(),
            change: Change::Posted { post, mentions: Mentions::parse("hi") },
        };
        crate::realtime::render::frame(&event)
    }

    #[test]
    fn an_event_is_rendered_once_per_node_and_numbered_per_connection() {
        let channel = ChannelId::new();
        let frame = posted(channel, 7);
        let (a, mut a_sent) = face(Uuid::now_v7());
        let (b, _) = face(Uuid::now_v7());
        // Each connection has had its hello (seq 0) and one event (seq 1) already on b.
        a.direct(ByteString::from(r#"{"event":"hello","data":{}}"#)).unwrap();
        b.direct(ByteString::from(r#"{"event":"hello","data":{}}"#)).unwrap();
        b.channel(&posted(channel, 6)).unwrap();
        let on_a = a.channel(&frame).unwrap();
        let rendered = frame.source.as_ref().unwrap().rendered.get().cloned().flatten().unwrap();
        let on_b = b.channel(&frame).unwrap();
        // One rendering, shared: the texts differ only by each connection's number.
        assert_eq!(&*on_a, format!("{rendered}1}}"));
        assert_eq!(&*on_b, format!("{rendered}2}}"));
        let v: Value = serde_json::from_str(&on_a).unwrap();
        assert_eq!(v["event"], "posted");
        assert!(v["data"]["post"].is_string());
        assert_eq!(v["broadcast"]["channel_id"], encode(channel.0));
        assert_eq!(a_sent.try_recv().unwrap(), (0, None));
        assert_eq!(a_sent.try_recv().unwrap(), (1, Some((channel.0, 7))));
    }

    #[test]
    fn replies_answer_the_action_seq_and_resumed_connections_get_no_hello() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let f = MmFace::new(Arc::default());
        f.begin(Uuid::now_v7(), "c".repeat(26), 12, false, tx);
        assert!(f.direct(ByteString::from(r#"{"event":"hello","data":{}}"#)).is_none());
        let pong: Value =
            serde_json::from_str(&f.direct(ByteString::from(r#"{"event":"pong","id":3}"#)).unwrap()).unwrap();
        assert_eq!((pong["status"].as_str(), pong["seq_reply"].as_i64()), (Some("OK"), Some(3)));
        assert_eq!(pong["data"]["text"], "pong");
        assert!(pong.get("seq").is_none());
        let fail = r#"{"event":"reply","id":4,"status":"error","error":{"code":"x","message":"no"}}"#;
        let fail: Value = serde_json::from_str(&f.direct(ByteString::from(fail)).unwrap()).unwrap();
        assert_eq!((fail["status"].as_str(), fail["seq_reply"].as_i64()), (Some("FAIL"), Some(4)));
    }

    #[test]
    fn client_actions_translate_and_need_a_positive_seq() {
        let channel = Uuid::now_v7();
        let typing = format!(
            r#"{{"seq":2,"action":"user_typing","data":{{"channel_id":"{}","parent_id":""}}}}"#,
            encode(channel)
        );
        let v: Value = serde_json::from_str(&translate(&typing).unwrap()).unwrap();
        assert_eq!((v["action"].as_str(), v["id"].as_i64()), (Some("typing"), Some(2)));
        assert_eq!(v["channel_id"], channel.to_string());
        assert!(translate(r#"{"seq":0,"action":"ping"}"#).is_none());
        let other: Value = serde_json::from_str(&translate(r#"{"seq":5,"action":"get_statuses"}"#).unwrap()).unwrap();
        assert_eq!(other["action"], "unsupported");
    }
}
