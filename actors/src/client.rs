//! What a client may send over its socket: a closed set of actions, each with typed fields, parsed
//! before the session does anything with it. Unknown actions, unknown fields and wrong types are
//! answered with an error reply, so nothing a client sends is acted on or relayed unparsed.
//!
//! ```text
//! {"action":"typing","id":"t1","channel_id":"…","root_id":null}
//! {"action":"post","id":7,"channel_id":"…","message":"hello","root_id":"…"}
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Longest `id` a client may ask to have echoed.
pub const MAX_ID_CHARS: usize = 64;

/// The `id` a client attaches to an action, echoed in the reply.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(untagged)]
pub enum RequestId {
    #[default]
    None,
    Number(i64),
    Text(String),
}

impl RequestId {
    pub fn is_none(&self) -> bool {
        matches!(self, RequestId::None)
    }

    fn parse(value: Option<Value>) -> Result<RequestId, String> {
        match value {
            None | Some(Value::Null) => Ok(RequestId::None),
            Some(Value::Number(n)) => {
                n.as_i64().map(RequestId::Number).ok_or_else(|| "\"id\" must be an integer".into())
            }
            Some(Value::String(s)) if s.chars().count() <= MAX_ID_CHARS => Ok(RequestId::Text(s)),
            Some(Value::String(_)) => Err(format!("\"id\" is longer than {MAX_ID_CHARS} characters")),
            Some(_) => Err("\"id\" must be a string or an integer".into()),
        }
    }
}

/// A status a client may announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Online,
    Away,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Away => "away",
        }
    }
}

/// `post`: a message in a channel, in the name of the socket's login.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostAction {
    pub channel_id: Uuid,
    pub message: String,
    #[serde(default)]
    pub root_id: Option<Uuid>,
}

/// One client action.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientAction {
    Ping {},
    /// The last seq the client has of each channel.
    Resume {
        since: HashMap<Uuid, u64>,
    },
    Typing {
        channel_id: Uuid,
        #[serde(default)]
        root_id: Option<Uuid>,
    },
    Post(PostAction),
    Presence {
        status: Status,
    },
    /// A fresh access token for the socket (before the one it was opened with expires).
    Authenticate {
        token: String,
    },
}

const ACTIONS: [&str; 6] = ["ping", "resume", "typing", "post", "presence", "authenticate"];

/// Why a frame is not an action, as the error reply says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub id: RequestId,
    pub code: &'static str,
    pub message: String,
}

/// Parses one text frame into its `id` and action.
pub fn parse(text: &str) -> Result<(RequestId, ClientAction), Refusal> {
    let refuse = |id: &RequestId, code: &'static str, message: String| Refusal { id: id.clone(), code, message };
    let mut object: Map<String, Value> = match serde_json::from_str(text) {
        Ok(Value::Object(o)) => o,
        _ => {
            return Err(refuse(
                &RequestId::None,
                "invalid_json",
                "frames must be JSON objects with an \"action\"".into(),
            ));
        }
    };
    let id = RequestId::parse(object.remove("id")).map_err(|m| refuse(&RequestId::None, "validation_failed", m))?;
    match object.get("action") {
        None => return Err(refuse(&id, "validation_failed", "missing \"action\"".into())),
        Some(Value::String(a)) if !ACTIONS.contains(&a.as_str()) => {
            let shown: String = a.chars().take(MAX_ID_CHARS).collect();
            return Err(refuse(&id, "unknown_action", format!("unknown action '{shown}'")));
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err(refuse(&id, "validation_failed", "\"action\" must be a string".into())),
    }
    match ClientAction::deserialize(Value::Object(object)) {
        Ok(action) => Ok((id, action)),
        Err(e) => Err(refuse(&id, "validation_failed", clipped(e.to_string()))),
    }
}

/// Error texts may quote what the client sent; the reply never carries more than a glimpse of it.
fn clipped(mut message: String) -> String {
    const MAX: usize = 200;
    if message.len() > MAX {
        let mut end = MAX;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_action_parses_with_its_fields() {
        let c = Uuid::now_v7();
        let cases = [
            (json!({"action":"ping","id":1}), RequestId::Number(1), ClientAction::Ping {}),
            (
                json!({"action":"resume","id":"r","since":{c.to_string():4}}),
                RequestId::Text("r".into()),
                ClientAction::Resume { since: HashMap::from([(c, 4)]) },
            ),
            (
                json!({"action":"typing","channel_id":c}),
                RequestId::None,
                ClientAction::Typing { channel_id: c, root_id: None },
            ),
            (
                json!({"action":"post","channel_id":c,"message":"hi","root_id":c}),
                RequestId::None,
                ClientAction::Post(PostAction { channel_id: c, message: "hi".into(), root_id: Some(c) }),
            ),
            (
                json!({"action":"presence","status":"away"}),
                RequestId::None,
                ClientAction::Presence { status: Status::Away },
            ),
            (
                json!({"action":"authenticate","token":"t"}),
                RequestId::None,
                ClientAction::Authenticate { token: "t".into() },
            ),
        ];
        for (frame, id, action) in cases {
            assert_eq!(parse(&frame.to_string()), Ok((id, action)), "{frame}");
        }
    }

    #[test]
    fn junk_is_refused_with_the_reason() {
        let c = Uuid::now_v7();
        let big = "x".repeat(50_000);
        let cases = [
            (json!([1]), "invalid_json", "JSON objects"),
            (json!({"id":1}), "validation_failed", "missing \"action\""),
            (json!({"action":7}), "validation_failed", "must be a string"),
            (json!({"action":"shout"}), "unknown_action", "unknown action 'shout'"),
            (json!({"action":"typing","channel_id":c,"root_id":{"junk":big}}), "validation_failed", "UUID"),
            (json!({"action":"typing","channel_id":c,"extra":1}), "validation_failed", "unknown field `extra`"),
            (json!({"action":"ping","extra":1}), "validation_failed", "unknown field `extra`"),
            (json!({"action":"post","channel_id":c,"message":"hi","pinned":true}), "validation_failed", "pinned"),
            (json!({"action":"post","channel_id":c}), "validation_failed", "missing field `message`"),
            (json!({"action":"resume","since":{"not-a-uuid":1}}), "validation_failed", "UUID"),
            (json!({"action":"resume","since":{c.to_string():-1}}), "validation_failed", "-1"),
            (json!({"action":"presence","status":"dnd"}), "validation_failed", "unknown variant"),
            (json!({"action":"presence","status":big}), "validation_failed", "unknown variant"),
            (json!({"action":"ping","id":{"a":1}}), "validation_failed", "\"id\""),
            (json!({"action":"ping","id":big}), "validation_failed", "longer than"),
        ];
        for (frame, code, needle) in cases {
            let refusal = parse(&frame.to_string()).expect_err(&frame.to_string());
            assert_eq!(refusal.code, code, "{frame}");
            assert!(refusal.message.contains(needle), "{frame}: {}", refusal.message);
            assert!(refusal.message.len() < 300, "the reply does not echo junk: {}", refusal.message);
        }
    }
}
