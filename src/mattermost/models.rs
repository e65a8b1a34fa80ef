//! Our rows in Mattermost's shapes (`server/public/model`: `User`, `Team`, `Channel`, `Post`,
//! `PostList`, `ChannelMember`, `Reaction`, `Preference`): ids in Mattermost's base32, times in epoch
//! milliseconds (0 for "never"), strings never null.

use serde_json::{Value, json};
use uuid::Uuid;

use super::ids::encode;
use crate::domain::{ChannelKind, Role, Timestamp};
use crate::store::Preference;
use crate::store::models::{Channel, MyChannel, Post, PublicUser, Team, User};

pub fn millis(t: Timestamp) -> i64 {
    (t.inner().unix_timestamp_nanos() / 1_000_000) as i64
}

fn opt_millis(t: Option<Timestamp>) -> i64 {
    t.map(millis).unwrap_or(0)
}

pub fn id(u: impl Into<Uuid>) -> String {
    encode(u.into())
}

/// A user; the email only for the user themselves (Mattermost's default privacy).
pub fn user(u: &User, me: bool) -> Value {
    let roles = if u.is_system_admin { "system_admin system_user" } else { "system_user" };
    json!({
        "id": encode(u.id.0),
        "create_at": millis(u.created_at),
        "update_at": millis(u.updated_at),
        "delete_at": if u.is_active { 0 } else { millis(u.updated_at) },
        "username": u.username,
        "auth_data": "",
        "auth_service": "",
        "email": if me { u.email.as_str() } else { "" },
        "email_verified": true,
        "nickname": u.display_name,
        "first_name": "",
        "last_name": "",
        "position": "",
        "roles": roles,
        "notify_props": {},
        "props": {},
        "last_password_update": 0,
        "locale": "en",
        "timezone": { "automaticTimezone": "", "manualTimezone": "", "useAutomaticTimezone": "true" },
        "mfa_active": false,
        "is_bot": u.is_bot,
    })
}

/// A user known only by name (member lists).
pub fn public_user(u: &PublicUser) -> Value {
    json!({
        "id": encode(u.id.0), "create_at": 0, "update_at": 0, "delete_at": if u.is_active { 0 } else { 1 },
        "username": u.username, "auth_data": "", "auth_service": "", "email": "", "nickname": u.display_name,
        "first_name": "", "last_name": "", "position": "", "roles": "system_user",
        "notify_props": {}, "props": {}, "locale": "en", "mfa_active": false, "is_bot": u.is_bot,
    })
}

pub fn team(t: &Team) -> Value {
    json!({
        "id": encode(t.id.0),
        "create_at": millis(t.created_at),
        "update_at": millis(t.created_at),
        "delete_at": 0,
        "display_name": t.display_name,
        "name": t.name,
        "description": t.description,
        "email": "",
        "type": if t.open { "O" } else { "I" },
        "company_name": "",
        "allowed_domains": "",
        "invite_id": "",
        "allow_open_invite": t.open,
        "scheme_id": null,
        "group_constrained": false,
        "policy_id": null,
    })
}

pub fn channel_type(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Public => "O",
        ChannelKind::Private => "P",
        ChannelKind::Direct => "D",
        ChannelKind::Group => "G",
    }
}

pub fn channel(c: &Channel) -> Value {
    json!({
        "id": encode(c.id.0),
        "create_at": millis(c.created_at),
        "update_at": millis(c.updated_at),
        "delete_at": opt_millis(c.archived_at),
        "team_id": c.team_id.map(|t| encode(t.0)).unwrap_or_default(),
        "type": channel_type(c.kind),
        "display_name": c.display_name,
        "name": c.name,
        "header": c.header,
        "purpose": c.purpose,
        "last_post_at": opt_millis(c.last_post_at),
        "last_root_post_at": opt_millis(c.last_post_at),
        "total_msg_count": c.total_msg_count,
        "total_msg_count_root": c.total_msg_count,
        "extra_update_at": 0,
        "creator_id": encode(c.created_by.0),
        "scheme_id": null,
        "props": null,
        "group_constrained": null,
        "shared": null,
        "policy_id": null,
    })
}

/// The caller's membership of one of their channels, with their read counts.
pub fn channel_member(m: &MyChannel, user: Uuid, role: Role) -> Value {
    let read = (m.channel.total_msg_count - m.unread_count).max(0);
    let admin = role == Role::Admin;
    json!({
        "channel_id": encode(m.channel.id.0),
        "user_id": encode(user),
        "roles": if admin { "channel_user channel_admin" } else { "channel_user" },
        "last_viewed_at": 0,
        "msg_count": read,
        "mention_count": m.mention_count,
        "mention_count_root": m.mention_count,
        "urgent_mention_count": 0,
        "msg_count_root": read,
        "notify_props": {
            "desktop": "default", "email": "default", "mark_unread": "all", "push": "default",
            "ignore_channel_mentions": "default",
        },
        "last_update_at": millis(m.channel.updated_at),
        "scheme_guest": false,
        "scheme_user": true,
        "scheme_admin": admin,
    })
}

/// A member of a channel as its member list shows them.
pub fn member_of(channel: Uuid, user: Uuid, role: Role, joined: Timestamp) -> Value {
    let admin = role == Role::Admin;
    json!({
        "channel_id": encode(channel), "user_id": encode(user),
        "roles": if admin { "channel_user channel_admin" } else { "channel_user" },
        "last_viewed_at": 0, "msg_count": 0, "mention_count": 0, "notify_props": {},
        "last_update_at": millis(joined), "scheme_guest": false, "scheme_user": true, "scheme_admin": admin,
    })
}

/// When a post last changed: created, edited, deleted or replied to.
pub fn update_at(p: &Post) -> i64 {
    [Some(p.created_at), p.edited_at, p.deleted_at].into_iter().flatten().map(millis).max().unwrap_or(0)
}

pub fn post(p: &Post) -> Value {
    let mut reactions = Vec::new();
    for r in &p.reactions {
        for u in &r.user_ids {
            reactions.push(json!({
                "user_id": encode(u.0), "post_id": encode(p.id.0), "emoji_name": r.emoji_name,
                "create_at": 0, "update_at": 0, "delete_at": 0,
            }));
        }
    }
    let mut metadata = json!({});
    if !reactions.is_empty() {
        metadata["reactions"] = Value::Array(reactions);
    }
    let mut props = p.props.as_ref().map_or_else(|| json!({}), |props| json!(props));
    if p.from_bot {
        // Mattermost marks a bot's post with the string "true" in `from_bot`.
        props["from_bot"] = json!("true");
    }
    json!({
        "id": encode(p.id.0),
        "create_at": millis(p.created_at),
        "update_at": update_at(p),
        "edit_at": opt_millis(p.edited_at),
        "delete_at": opt_millis(p.deleted_at),
        "is_pinned": p.is_pinned,
        "user_id": encode(p.user_id.0),
        "channel_id": encode(p.channel_id.0),
        "root_id": p.root_id.map(|r| encode(r.0)).unwrap_or_default(),
        "original_id": "",
        "message": p.message,
        // Mattermost's clients draw a webhook's attachments from a post of this type.
        "type": if p.props.as_ref().is_some_and(|props| !props.attachments.is_empty()) { "slack_attachment" } else { "" },
        "props": props,
        "hashtags": "",
        "pending_post_id": "",
        "reply_count": p.reply_count,
        "last_reply_at": opt_millis(p.last_reply_at),
        "participants": null,
        "metadata": metadata,
    })
}

/// A `PostList`: `order` as given (newest first), `posts` by id.
pub fn post_list(posts: &[Post], next_post_id: &str, prev_post_id: &str) -> Value {
    let order: Vec<String> = posts.iter().map(|p| encode(p.id.0)).collect();
    let map: serde_json::Map<String, Value> = posts.iter().map(|p| (encode(p.id.0), post(p))).collect();
    json!({
        "order": order,
        "posts": map,
        "next_post_id": next_post_id,
        "prev_post_id": prev_post_id,
        "has_next": !next_post_id.is_empty(),
        "first_inaccessible_post_time": 0,
    })
}

pub fn reactions(p: &Post) -> Vec<Value> {
    post(p)["metadata"]["reactions"].as_array().cloned().unwrap_or_default()
}

pub fn preference(p: &Preference) -> Value {
    json!({ "user_id": encode(p.user_id.0), "category": p.category, "name": p.name, "value": p.value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_epoch_milliseconds() {
        let t = Timestamp::parse("2026-12-07T01:02:03.456789Z").unwrap();
        assert_eq!(millis(t), 1_796_605_323_456);
    }
}
