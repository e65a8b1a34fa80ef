//! A server→client frame. Channel events carry the channel and its `seq` (0 for ephemeral events
//! such as typing and presence, which are never stored or replayed). The JSON text is built once and
//! shared (`ByteString` clones are reference-counted), whatever the number of recipients.
//!
//! ```text
//! {"event":"posted","channel_id":"…","seq":42,"data":{"post":{…},"mentions":{…}}}
//! {"event":"typing","channel_id":"…","seq":0,"data":{"user_id":"…"}}
//! ```

use bytestring::ByteString;
use serde::Deserialize;
use uuid::Uuid;

/// What a frame means to the actors that route it (they never look further into the JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond delivery.
    None,
    /// The user joined the channel: their sessions should start receiving it.
    MemberAdded(Uuid),
    /// The user left or was removed: their sessions stop receiving it after this frame.
    MemberRemoved(Uuid),
}

/// What a frame was rendered from, for a second face of the protocol (the Mattermost API's WebSocket):
/// the server's typed event, and that face's rendering of it, made once per node by its first
/// recipient and shared by every other (never once per connection).
pub struct Source {
    pub event: Box<dyn std::any::Any + Send + Sync>,
    pub rendered: std::sync::OnceLock<Option<ByteString>>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Source")
    }
}

impl Source {
    pub fn new(event: impl std::any::Any + Send + Sync) -> std::sync::Arc<Source> {
        std::sync::Arc::new(Source { event: Box::new(event), rendered: std::sync::OnceLock::new() })
    }
}

#[derive(Debug, Clone)]
pub struct Frame {
    pub channel: Uuid,
    pub seq: i64,
    pub effect: Effect,
    pub text: ByteString,
    /// When the frame reached this node (published here, received from the bus, or read back): the
    /// start of the fan-out latency the metrics report.
    pub arrived: std::time::Instant,
    /// When the event was created on the node that wrote it (wall clock), for the stage metrics; `None`
    /// for frames that carry no time (ephemeral frames, a previous release's frames).
    pub created: Option<std::time::SystemTime>,
    /// The typed event behind a stored channel event, when the server attached it.
    pub source: Option<std::sync::Arc<Source>>,
}

#[derive(Deserialize)]
struct Head {
    event: String,
    channel_id: Uuid,
    #[serde(default)]
    seq: i64,
    #[serde(default)]
    data: HeadData,
}

#[derive(Deserialize, Default)]
struct HeadData {
    user_id: Option<Uuid>,
}

impl Frame {
    /// Reads the routing head of a channel frame's JSON.
    pub fn parse(text: impl Into<ByteString>) -> Result<Frame, String> {
        let text = text.into();
        let head: Head = serde_json::from_str(&text).map_err(|e| format!("not a channel frame: {e}"))?;
        let effect = match (head.event.as_str(), head.data.user_id) {
            ("member_added", Some(u)) => Effect::MemberAdded(u),
            ("member_removed", Some(u)) => Effect::MemberRemoved(u),
            _ => Effect::None,
        };
        Ok(Frame {
            channel: head.channel_id,
            seq: head.seq,
            effect,
            text,
            arrived: std::time::Instant::now(),
            created: None,
            source: None,
        })
    }

    /// Builds a channel frame from its parts.
    pub fn channel_event(event: &str, channel: Uuid, seq: i64, data: &serde_json::Value) -> Frame {
        let text = serde_json::json!({ "event": event, "channel_id": channel, "seq": seq, "data": data }).to_string();
        let effect = match (event, data.get("user_id").and_then(|u| u.as_str()).and_then(|u| u.parse().ok())) {
            ("member_added", Some(u)) => Effect::MemberAdded(u),
            ("member_removed", Some(u)) => Effect::MemberRemoved(u),
            _ => Effect::None,
        };
        Frame {
            channel,
            seq,
            effect,
            text: text.into(),
            arrived: std::time::Instant::now(),
            created: None,
            source: None,
        }
    }

    pub fn is_ephemeral(&self) -> bool {
        self.seq == 0
    }
}

/// An ephemeral `presence` frame for one channel.
pub fn presence(channel: Uuid, user: Uuid, status: &str) -> Frame {
    Frame::channel_event("presence", channel, 0, &serde_json::json!({ "user_id": user, "status": status }))
}

/// A frame for one connection that belongs to no channel log (`hello`, replies, `pong`, user events).
pub fn direct(value: &serde_json::Value) -> ByteString {
    value.to_string().into()
}
