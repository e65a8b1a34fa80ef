//! The committed change a channel event records, in no protocol's shape: what the event log stores and
//! the bus carries. Faces render it at their edge (the v1 WebSocket and REST: `realtime::render`), once
//! per event per node, never per recipient.
//!
//! # Formats
//! `channel_events.format` says how a row's `data` is written:
//! - `1` (releases up to 0.3): `data` is the v1 frame's `data` object, written by the v1 code itself.
//! - `2` ([`FORMAT`]): `data` is the [`Change`]'s fields, written from the type.
//!
//! Format 2 keeps every field where format 1 had it and only adds (`post_deleted` carries the deleted
//! post; a post may carry `props`, an incoming webhook's attachments and overrides, absent otherwise): nodes of the previous release render new rows and bus messages correctly during a rolling
//! upgrade, and rows of format 1 read back as the same [`Change`] (no rewrite of the log on upgrade).

use serde::{Deserialize, Serialize};

use super::models::{Channel, Post, Reaction};
use crate::domain::{ChannelId, Mentions, PostId, Timestamp, UserId};

/// The format this release writes.
pub const FORMAT: i16 = 2;

/// One committed change to a channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new post (or reply), with the mentions its text makes.
    Posted {
        post: Post,
        mentions: Mentions,
    },
    /// A post's text or pin changed.
    PostEdited {
        post: Post,
    },
    /// A post was deleted. `post` is the post as deleted (absent in rows of format 1).
    PostDeleted {
        post_id: PostId,
        root_id: Option<PostId>,
        post: Option<Post>,
    },
    ReactionAdded {
        reaction: Reaction,
    },
    ReactionRemoved {
        reaction: RemovedReaction,
    },
    MemberAdded {
        user_id: UserId,
    },
    MemberRemoved {
        user_id: UserId,
    },
    /// The channel's name, texts or archive state changed.
    ChannelUpdated {
        channel: Channel,
    },
}

/// A reaction that is gone (it has no time of its own any more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedReaction {
    pub post_id: PostId,
    pub user_id: UserId,
    pub emoji_name: String,
}

/// One entry of a channel's event log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelEvent {
    pub channel_id: ChannelId,
    pub seq: i64,
    pub created_at: Timestamp,
    pub change: Change,
}

// The stored fields of each change: `Serialize` borrows (writing), `Deserialize` owns (reading).
#[derive(Serialize)]
struct PostedRef<'a> {
    post: &'a Post,
    mentions: &'a Mentions,
}
#[derive(Deserialize)]
struct PostedOwned {
    post: Post,
    #[serde(default)]
    mentions: Mentions,
}
#[derive(Serialize, Deserialize)]
struct PostOnly<P> {
    post: P,
}
#[derive(Serialize)]
struct DeletedRef<'a> {
    post_id: PostId,
    root_id: Option<PostId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post: Option<&'a Post>,
}
#[derive(Deserialize)]
struct DeletedOwned {
    post_id: PostId,
    root_id: Option<PostId>,
    #[serde(default)]
    post: Option<Post>,
}
#[derive(Serialize, Deserialize)]
struct ReactionOnly<R> {
    reaction: R,
}
#[derive(Serialize, Deserialize)]
struct UserOnly {
    user_id: UserId,
}

/// A change's stored fields, as [`Change::data`] gives them to a serializer.
pub struct StoredData<'a>(&'a Change);

impl Serialize for StoredData<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Change::Posted { post, mentions } => PostedRef { post, mentions }.serialize(s),
            Change::PostEdited { post } => PostOnly { post }.serialize(s),
            Change::PostDeleted { post_id, root_id, post } => {
                DeletedRef { post_id: *post_id, root_id: *root_id, post: post.as_ref() }.serialize(s)
            }
            Change::ReactionAdded { reaction } => ReactionOnly { reaction }.serialize(s),
            Change::ReactionRemoved { reaction } => ReactionOnly { reaction }.serialize(s),
            Change::MemberAdded { user_id } | Change::MemberRemoved { user_id } => {
                UserOnly { user_id: *user_id }.serialize(s)
            }
            // Flat, as format 1 wrote it.
            Change::ChannelUpdated { channel } => channel.serialize(s),
        }
    }
}

impl Change {
    /// The event's name: the `kind` column, and the `event` of v1 frames.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Posted { .. } => "posted",
            Change::PostEdited { .. } => "post_edited",
            Change::PostDeleted { .. } => "post_deleted",
            Change::ReactionAdded { .. } => "reaction_added",
            Change::ReactionRemoved { .. } => "reaction_removed",
            Change::MemberAdded { .. } => "member_added",
            Change::MemberRemoved { .. } => "member_removed",
            Change::ChannelUpdated { .. } => "channel_updated",
        }
    }

    /// The user a membership change is about.
    pub fn member(&self) -> Option<UserId> {
        match self {
            Change::MemberAdded { user_id } | Change::MemberRemoved { user_id } => Some(*user_id),
            _ => None,
        }
    }

    /// The stored `data` of this change ([`FORMAT`]), serialised straight from the change.
    pub fn data(&self) -> StoredData<'_> {
        StoredData(self)
    }

    /// Reads a stored change of `format` (1 or 2). The two agree field by field, so one reader serves
    /// both; `format` is checked so a row written by a later release is refused, not misread.
    /// `data` is any JSON deserializer: a `Value` from the database, or the raw text of a bus message
    /// (read straight into the typed change, with no `Value` tree built on the per-event path).
    pub fn from_stored<'de, D>(kind: &str, format: i16, data: D) -> Result<Change, String>
    where
        D: serde::Deserializer<'de, Error = serde_json::Error>,
    {
        if !(1..=FORMAT).contains(&format) {
            return Err(format!("event format {format} is newer than this release reads ({FORMAT})"));
        }
        let bad = |e: serde_json::Error| format!("{kind} event of format {format}: {e}");
        Ok(match kind {
            "posted" => {
                let p = PostedOwned::deserialize(data).map_err(bad)?;
                Change::Posted { post: p.post, mentions: p.mentions }
            }
            "post_edited" => Change::PostEdited { post: <PostOnly<Post>>::deserialize(data).map_err(bad)?.post },
            "post_deleted" => {
                let d = DeletedOwned::deserialize(data).map_err(bad)?;
                Change::PostDeleted { post_id: d.post_id, root_id: d.root_id, post: d.post }
            }
            "reaction_added" => {
                Change::ReactionAdded { reaction: <ReactionOnly<Reaction>>::deserialize(data).map_err(bad)?.reaction }
            }
            "reaction_removed" => Change::ReactionRemoved {
                reaction: <ReactionOnly<RemovedReaction>>::deserialize(data).map_err(bad)?.reaction,
            },
            "member_added" => Change::MemberAdded { user_id: UserOnly::deserialize(data).map_err(bad)?.user_id },
            "member_removed" => Change::MemberRemoved { user_id: UserOnly::deserialize(data).map_err(bad)?.user_id },
            "channel_updated" => Change::ChannelUpdated { channel: Channel::deserialize(data).map_err(bad)? },
            other => return Err(format!("unknown event kind '{other}'")),
        })
    }
}

/// A channel event as the bus carries it between nodes: the stored form with its place in the log.
/// `event` (not `kind`) names it, so a node of the previous release, which reads v1 frames off the
/// bus, still routes it during a rolling upgrade; a message without `v` is such a node's v1 frame.
#[derive(Serialize)]
struct WireOut<'a> {
    v: i16,
    event: &'static str,
    channel_id: ChannelId,
    seq: i64,
    created_at: Timestamp,
    data: StoredData<'a>,
}

#[derive(Deserialize)]
struct WireIn<'a> {
    #[serde(default = "format_one")]
    v: i16,
    #[serde(borrow)]
    event: std::borrow::Cow<'a, str>,
    channel_id: ChannelId,
    seq: i64,
    #[serde(default)]
    created_at: Option<Timestamp>,
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
}

fn format_one() -> i16 {
    1
}

impl ChannelEvent {
    /// The bus encoding.
    pub fn to_wire(&self) -> String {
        let wire = WireOut {
            v: FORMAT,
            event: self.change.kind(),
            channel_id: self.channel_id,
            seq: self.seq,
            created_at: self.created_at,
            data: self.change.data(),
        };
        // Serialising plain data cannot fail.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Reads a bus message: this release's encoding, or a v1 frame from a node of the previous one
    /// (which carries no time: the time of arrival stands in, and v1 frames never show it).
    pub fn from_wire(text: &str) -> Result<ChannelEvent, String> {
        let wire: WireIn = serde_json::from_str(text).map_err(|e| format!("not a channel event: {e}"))?;
        Ok(ChannelEvent {
            channel_id: wire.channel_id,
            seq: wire.seq,
            created_at: wire.created_at.unwrap_or_else(Timestamp::now),
            change: Change::from_stored(&wire.event, wire.v, wire.data)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post() -> Post {
        Post {
            id: PostId::new(),
            channel_id: ChannelId(uuid::Uuid::now_v7()),
            user_id: UserId(uuid::Uuid::now_v7()),
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
        }
    }

    #[test]
    fn every_change_reads_back_from_its_stored_form_and_its_wire_form() {
        let p = post();
        let user = UserId(uuid::Uuid::now_v7());
        let hooked = Post {
            props: Some(crate::domain::hooks::PostProps {
                from_webhook: Some("true".into()),
                attachments: vec![crate::domain::hooks::Attachment { title: "Build 42".into(), ..Default::default() }],
                ..Default::default()
            }),
            ..p.clone()
        };
        let changes = vec![
            Change::Posted { post: p.clone(), mentions: Mentions::parse("hi @bob @here") },
            Change::Posted { post: hooked, mentions: Mentions::default() },
            Change::PostEdited { post: p.clone() },
            Change::PostDeleted { post_id: p.id, root_id: None, post: Some(p.clone()) },
            Change::ReactionAdded {
                reaction: Reaction { post_id: p.id, user_id: user, emoji_name: "+1".into(), created_at: p.created_at },
            },
            Change::ReactionRemoved {
                reaction: RemovedReaction { post_id: p.id, user_id: user, emoji_name: "+1".into() },
            },
            Change::MemberAdded { user_id: user },
            Change::MemberRemoved { user_id: user },
        ];
        for change in changes {
            let read =
                Change::from_stored(change.kind(), FORMAT, serde_json::to_value(change.data()).unwrap()).unwrap();
            assert_eq!(read, change);
            let event = ChannelEvent { channel_id: p.channel_id, seq: 7, created_at: p.created_at, change };
            assert_eq!(ChannelEvent::from_wire(&event.to_wire()).unwrap(), event);
        }
    }

    #[test]
    fn a_format_from_a_later_release_or_an_unknown_kind_is_refused_not_misread() {
        let data = serde_json::json!({ "user_id": uuid::Uuid::now_v7() });
        assert!(Change::from_stored("member_added", FORMAT + 1, data.clone()).unwrap_err().contains("newer"));
        assert!(Change::from_stored("teleported", FORMAT, data).unwrap_err().contains("unknown event kind"));
        assert!(Change::from_stored("posted", FORMAT, serde_json::json!({})).is_err());
    }
}
