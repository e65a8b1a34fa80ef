//! The v1 face of channel events: the WebSocket frame and the REST body (`GET
//! /channels/{id}/events`), rendered from the stored [`Change`] in one place, so a live frame, a
//! replayed frame and the REST list always agree. A node renders each event once, whatever the number
//! of recipients (the frame's text is shared).
//!
//! ```text
//! {"channel_id":"…","data":{"mentions":{…},"post":{…}},"event":"posted","seq":42}
//! ```

use rustchat_actors::Frame;
use rustchat_actors::frame::Effect;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{ChannelId, PostId, Timestamp};
use crate::store::change::{Change, ChannelEvent};

/// The `data` of a v1 event: the stored fields, except what v1 never carried.
struct Data<'a>(&'a Change);

impl Serialize for Data<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Deleted {
            post_id: PostId,
            root_id: Option<PostId>,
        }
        match self.0 {
            // v1 announced a deletion by ids only; the deleted post stays out of its frames.
            Change::PostDeleted { post_id, root_id, .. } => {
                Deleted { post_id: *post_id, root_id: *root_id }.serialize(s)
            }
            other => other.data().serialize(s),
        }
    }
}

/// A channel event on the v1 WebSocket.
#[derive(Serialize)]
struct FrameBody<'a> {
    channel_id: ChannelId,
    data: Data<'a>,
    event: &'static str,
    seq: i64,
}

/// A channel event in v1 REST.
#[derive(Serialize, ToSchema)]
pub struct EventBody {
    /// The event's name, e.g. `posted`.
    pub event: &'static str,
    pub channel_id: ChannelId,
    pub seq: i64,
    /// The event's fields, as the WebSocket frame carries them.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub created_at: Timestamp,
}

impl From<&ChannelEvent> for EventBody {
    fn from(e: &ChannelEvent) -> Self {
        EventBody {
            event: e.change.kind(),
            channel_id: e.channel_id,
            seq: e.seq,
            data: serde_json::to_value(Data(&e.change)).unwrap_or_default(),
            created_at: e.created_at,
        }
    }
}

/// Renders a committed event as the frame v1 clients receive, live or replayed: the same bytes either way.
pub fn frame(event: &ChannelEvent) -> Frame {
    let body = FrameBody {
        channel_id: event.channel_id,
        data: Data(&event.change),
        event: event.change.kind(),
        seq: event.seq,
    };
    // Serialising plain data cannot fail.
    let text = serde_json::to_string(&body).unwrap_or_default();
    let effect = match &event.change {
        Change::MemberAdded { user_id } => Effect::MemberAdded(user_id.0),
        Change::MemberRemoved { user_id } => Effect::MemberRemoved(user_id.0),
        _ => Effect::None,
    };
    Frame {
        channel: event.channel_id.0,
        seq: event.seq,
        effect,
        text: text.into(),
        arrived: std::time::Instant::now(),
        created: Some(event.created_at.inner().into()),
        source: Some(rustchat_actors::frame::Source::new(event.clone())),
    }
}

/// Renders a channel message received from the bus: an event in this release's encoding or a v1 frame
/// from a node of the previous release (both read as a [`ChannelEvent`]), or an ephemeral frame
/// (typing, presence), which is delivered as it came.
pub fn frame_from_bus(text: &str) -> Result<Frame, String> {
    match ChannelEvent::from_wire(text) {
        Ok(event) => Ok(frame(&event)),
        Err(not_an_event) => Frame::parse(text.to_string())
            .and_then(|frame| if frame.is_ephemeral() { Ok(frame) } else { Err(not_an_event) }),
    }
}

/// The v1 event a slash command's ephemeral answer is: sent on the caller's user topic only, so it
/// reaches their sockets on every node and nobody else's; never stored (it has no seq).
///
/// ```text
/// {"event":"ephemeral_message","channel_id":"…","data":{"id":"…","channel_id":"…","text":"…"}}
/// ```
pub fn ephemeral_message(channel: ChannelId, text: &str) -> serde_json::Value {
    // The id makes each answer unique: the node that publishes it drops the bus's echo by its text.
    let id = uuid::Uuid::now_v7();
    serde_json::json!({ "event": "ephemeral_message", "channel_id": channel, "data": { "id": id, "channel_id": channel, "text": text } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    #[test]
    fn a_v1_frame_from_a_node_of_the_previous_release_is_delivered_as_that_release_rendered_it() {
        let channel = uuid::Uuid::now_v7();
        let user = uuid::Uuid::now_v7();
        let old =
            format!(r#"{{"channel_id":"{channel}","data":{{"user_id":"{user}"}},"event":"member_added","seq":3}}"#);
        let frame = frame_from_bus(&old).unwrap();
        assert_eq!(&*frame.text, old.as_str());
        assert_eq!((frame.channel, frame.seq, frame.effect), (channel, 3, Effect::MemberAdded(user)));
    }

    #[test]
    fn an_event_of_this_release_renders_the_same_frame_on_every_node() {
        let event = ChannelEvent {
            channel_id: ChannelId(uuid::Uuid::now_v7()),
            seq: 9,
            created_at: Timestamp::now(),
            change: Change::MemberRemoved { user_id: UserId(uuid::Uuid::now_v7()) },
        };
        let here = frame(&event);
        let there = frame_from_bus(&event.to_wire()).unwrap();
        assert_eq!(here.text, there.text);
        assert_eq!(there.effect, Effect::MemberRemoved(event.change.member().unwrap().0));
    }

    #[test]
    fn ephemeral_frames_pass_and_a_malformed_event_is_refused() {
        let typing = rustchat_actors::frame::presence(uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), "online");
        assert_eq!(frame_from_bus(&typing.text).unwrap().text, typing.text);
        let channel = uuid::Uuid::now_v7();
        let bad = format!(r#"{{"v":2,"event":"posted","channel_id":"{channel}","seq":4,"data":{{}}}}"#);
        assert!(frame_from_bus(&bad).is_err());
    }
}
