//! Rows as the store returns them. They double as API bodies (they hold nothing secret: password
//! hashes and refresh-token hashes stay in the rows that only the auth path reads). Channel events are
//! not API bodies: see [`super::change`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{ChannelId, ChannelKind, PostId, Role, TeamId, Timestamp, UserId};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub is_system_admin: bool,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// A bot account: no password, acts through access tokens only.
    pub is_bot: bool,
}

/// A user as other users see them (no email).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct PublicUser {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub is_active: bool,
    pub is_bot: bool,
}

impl From<User> for PublicUser {
    fn from(u: User) -> Self {
        Self { id: u.id, username: u.username, display_name: u.display_name, is_active: u.is_active, is_bot: u.is_bot }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// Anyone on the site may join an open team.
    pub open: bool,
    pub created_by: UserId,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct TeamMember {
    pub team_id: TeamId,
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub joined_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
pub struct Channel {
    pub id: ChannelId,
    pub team_id: Option<TeamId>,
    #[sqlx(try_from = "String")]
    pub kind: ChannelKind,
    pub name: String,
    pub display_name: String,
    pub purpose: String,
    pub header: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub archived_at: Option<Timestamp>,
    /// The sequence number of the channel's latest event.
    pub last_seq: i64,
    pub total_msg_count: i64,
    pub last_post_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct ChannelMember {
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub joined_at: Timestamp,
}

/// A member's read position in one channel.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct ReadState {
    pub channel_id: ChannelId,
    pub last_viewed_seq: i64,
    pub last_seq: i64,
    pub unread_count: i64,
    pub mention_count: i64,
}

/// One of my channels, with my read state in it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct MyChannel {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub channel: Channel,
    pub last_viewed_seq: i64,
    pub unread_count: i64,
    pub mention_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
pub struct Post {
    pub id: PostId,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub root_id: Option<PostId>,
    /// Empty once deleted.
    pub message: String,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    pub reply_count: i64,
    pub last_reply_at: Option<Timestamp>,
    pub is_pinned: bool,
    /// A bot wrote it; absent otherwise (older readers see the format they know).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_bot: bool,
    #[sqlx(skip)]
    #[serde(default)]
    pub reactions: Vec<ReactionSummary>,
    /// Attached files, oldest first; absent when there are none.
    #[sqlx(skip)]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<super::files::FileInfo>,
    /// What the post carries besides its text (a webhook's attachments, name and icon overrides);
    /// absent on ordinary posts.
    #[sqlx(json(nullable))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub props: Option<crate::domain::hooks::PostProps>,
}

/// Who reacted with one emoji on one post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReactionSummary {
    pub emoji_name: String,
    pub count: usize,
    pub user_ids: Vec<UserId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
pub struct Reaction {
    pub post_id: PostId,
    pub user_id: UserId,
    pub emoji_name: String,
    pub created_at: Timestamp,
}
