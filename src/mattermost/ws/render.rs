//! Channel events in the shape of Mattermost's WebSocket (`model/websocket_message.go`,
//! `app/notification.go`): `{"event","data","broadcast","seq"}` with `post` as a JSON string. Each
//! event is rendered once per node, without its `seq` (counted per connection): the text ends with
//! `"seq":`, and a connection appends its number and the closing brace.

use serde_json::{Value, json};
use uuid::Uuid;

use super::directory::Directory;
use crate::mattermost::ids::encode;
use crate::mattermost::models;
use crate::store::change::{Change, ChannelEvent};

fn broadcast(channel: Uuid, user: Option<Uuid>) -> Value {
    json!({
        "omit_users": null, "user_id": user.map(encode).unwrap_or_default(), "channel_id": encode(channel),
        "team_id": "", "connection_id": "", "omit_connection_id": "",
    })
}

/// The event's text up to its `seq`'s value (`…,"seq":`), or `None` for an event v4 clients never see.
pub fn prefix(event: &str, data: Value, broadcast: Value) -> String {
    let mut text = json!({ "event": event, "data": data, "broadcast": broadcast }).to_string();
    text.pop();
    text.push_str(",\"seq\":");
    text
}

/// Renders a stored channel event.
pub fn channel_event(e: &ChannelEvent, dir: &Directory) -> Option<String> {
    let channel = e.channel_id.0;
    let (name, data) = match &e.change {
        Change::Posted { post, mentions } => {
            let info = dir.channel(channel);
            let mentioned: Vec<String> =
                mentions.usernames.iter().filter_map(|n| dir.user_by_name(n)).map(encode).collect();
            let mut data = json!({
                "post": models::post(post).to_string(),
                "channel_type": info.as_ref().map(|i| i.kind).unwrap_or(""),
                "channel_name": info.as_ref().map(|i| i.name.as_str()).unwrap_or(""),
                "channel_display_name": info.as_ref().map(|i| i.display_name.as_str()).unwrap_or(""),
                "team_id": info.as_ref().map(|i| i.team_id.as_str()).unwrap_or(""),
                "sender_name": format!("@{}", dir.username(post.user_id.0)),
                "set_online": true,
            });
            if !mentioned.is_empty() {
                data["mentions"] = Value::String(json!(mentioned).to_string());
            }
            ("posted", data)
        }
        Change::PostEdited { post } => ("post_edited", json!({ "post": models::post(post).to_string() })),
        Change::PostDeleted { post_id, root_id, post } => {
            let text = match post {
                Some(p) => models::post(p),
                None => json!({ "id": encode(post_id.0), "channel_id": encode(channel),
                                "root_id": root_id.map(|r| encode(r.0)).unwrap_or_default() }),
            };
            ("post_deleted", json!({ "post": text.to_string() }))
        }
        Change::ReactionAdded { reaction } => {
            let r = json!({ "user_id": encode(reaction.user_id.0), "post_id": encode(reaction.post_id.0),
                            "emoji_name": reaction.emoji_name, "create_at": models::millis(reaction.created_at) });
            ("reaction_added", json!({ "reaction": r.to_string() }))
        }
        Change::ReactionRemoved { reaction } => {
            let r = json!({ "user_id": encode(reaction.user_id.0), "post_id": encode(reaction.post_id.0),
                            "emoji_name": reaction.emoji_name, "create_at": 0 });
            ("reaction_removed", json!({ "reaction": r.to_string() }))
        }
        Change::MemberAdded { user_id } => {
            let team = dir.channel(channel).map(|i| i.team_id).unwrap_or_default();
            ("user_added", json!({ "user_id": encode(user_id.0), "team_id": team }))
        }
        Change::MemberRemoved { user_id } => {
            ("user_removed", json!({ "user_id": encode(user_id.0), "channel_id": encode(channel) }))
        }
        Change::ChannelUpdated { channel: c } => {
            dir.put_channel(c);
            ("channel_updated", json!({ "channel": models::channel(c).to_string() }))
        }
    };
    Some(prefix(name, data, broadcast(channel, None)))
}

/// Renders an ephemeral v1 frame (typing, presence) for a connection of `me`; `None` when it is not
/// for them (their own typing) or has no v4 counterpart.
pub fn ephemeral(text: &str, me: Uuid) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    let channel: Uuid = v["channel_id"].as_str()?.parse().ok()?;
    let user: Uuid = v["data"]["user_id"].as_str()?.parse().ok()?;
    match v["event"].as_str()? {
        "typing" if user != me => {
            let parent = v["data"]["root_id"].as_str().and_then(|r| r.parse().ok()).map(encode).unwrap_or_default();
            Some(prefix("typing", json!({ "parent_id": parent, "user_id": encode(user) }), broadcast(channel, None)))
        }
        "presence" => {
            let status = v["data"]["status"].as_str().unwrap_or("online");
            Some(prefix(
                "status_change",
                json!({ "status": status, "user_id": encode(user) }),
                broadcast(channel, Some(user)),
            ))
        }
        _ => None,
    }
}
