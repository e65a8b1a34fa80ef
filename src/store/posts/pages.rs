//! Reading a channel's posts as the Mattermost API pages them: by page number (an offset, newest
//! first) and by change time (`since`: every post created, edited or deleted after an instant,
//! deleted ones included so a client can drop them).

use super::super::models::Post;
use super::super::{Store, with_pool};
use crate::domain::{ChannelId, Timestamp};
use crate::error::Result;

/// Most posts a `since` read returns (Mattermost caps it too).
pub const SINCE_LIMIT: i64 = 1000;

impl Store {
    /// Live posts of `channel`, newest first, skipping `offset`.
    pub async fn channel_posts_at(&self, channel: ChannelId, offset: u32, limit: u32) -> Result<Vec<Post>> {
        let posts = with_pool!(self, |pool| {
            sqlx::query_as::<_, Post>(concat!(
                "SELECT ",
                post_columns!(),
                " FROM posts p WHERE p.channel_id = $1 AND p.deleted_at IS NULL
                 ORDER BY p.created_at DESC, p.id DESC LIMIT $2 OFFSET $3"
            ))
            .bind(channel)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(pool)
            .await?
        });
        self.with_reactions(posts).await
    }

    /// Posts of `channel` created, edited or deleted after `since`, newest first (deleted ones too).
    pub async fn channel_posts_since(&self, channel: ChannelId, since: Timestamp) -> Result<Vec<Post>> {
        let posts = with_pool!(self, |pool| {
            sqlx::query_as::<_, Post>(concat!(
                "SELECT ",
                post_columns!(),
                " FROM posts p WHERE p.channel_id = $1
                   AND (p.created_at > $2 OR p.edited_at > $2 OR p.deleted_at > $2 OR p.last_reply_at > $2)
                 ORDER BY p.created_at DESC, p.id DESC LIMIT $3"
            ))
            .bind(channel)
            .bind(since)
            .bind(SINCE_LIMIT)
            .fetch_all(pool)
            .await?
        });
        self.with_reactions(posts).await
    }
}
