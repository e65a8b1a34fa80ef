//! Changing a post after it was written: editing, pinning, deleting, reacting. Each appends its event
//! (`post_edited`, `post_deleted`, `reaction_added`, `reaction_removed`) in the same transaction.

use super::super::change::{Change, ChannelEvent, RemovedReaction};
use super::super::events::append_event;
use super::super::models::{Post, Reaction};
use super::super::{Store, with_tx};
use crate::domain::{EmojiName, MessageBody, PostId, Timestamp, UserId};
use crate::error::{Error, Result};

impl Store {
    /// Replaces a live post's message; appends `post_edited`.
    pub async fn edit_post(&self, id: PostId, message: &MessageBody) -> Result<(Post, ChannelEvent)> {
        let now = Timestamp::now();
        let (post, event) = with_tx!(self, |tx| {
            let post = sqlx::query_as::<_, Post>(concat!(
                "UPDATE posts SET message = $2, edited_at = $3 WHERE id = $1 AND deleted_at IS NULL RETURNING ",
                post_columns!(bare)
            ))
            .bind(id)
            .bind(message.as_str())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::not_found("post"))?;
            let event = append_event!(tx, post.channel_id, Change::PostEdited { post: post.clone() }, now);
            (post, event)
        });
        Ok((self.with_reactions_one(post).await?, event))
    }

    /// Pins or unpins a live post; appends `post_edited`.
    pub async fn pin_post(&self, id: PostId, pinned: bool) -> Result<(Post, ChannelEvent)> {
        let now = Timestamp::now();
        let (post, event) = with_tx!(self, |tx| {
            let post = sqlx::query_as::<_, Post>(concat!(
                "UPDATE posts SET is_pinned = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING ",
                post_columns!(bare)
            ))
            .bind(id)
            .bind(pinned)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::not_found("post"))?;
            let event = append_event!(tx, post.channel_id, Change::PostEdited { post: post.clone() }, now);
            (post, event)
        });
        Ok((self.with_reactions_one(post).await?, event))
    }

    /// Soft-deletes a post (its text is erased); appends `post_deleted`. A reply leaves its thread.
    pub async fn delete_post(&self, id: PostId) -> Result<(Post, ChannelEvent)> {
        let now = Timestamp::now();
        with_tx!(self, |tx| {
            let post = sqlx::query_as::<_, Post>(concat!(
                "UPDATE posts SET deleted_at = $2, message = '', is_pinned = FALSE, props = NULL WHERE id = $1 AND deleted_at IS NULL RETURNING ",
                post_columns!(bare)
            ))
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::not_found("post"))?;
            if let Some(root) = post.root_id {
                sqlx::query(
                    "UPDATE posts SET reply_count = reply_count - 1,
                       last_reply_at = (SELECT max(created_at) FROM posts WHERE root_id = $1 AND deleted_at IS NULL)
                     WHERE id = $1",
                )
                .bind(root)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM reactions WHERE post_id = $1").bind(id).execute(&mut *tx).await?;
            let change = Change::PostDeleted { post_id: id, root_id: post.root_id, post: Some(post.clone()) };
            let event = append_event!(tx, post.channel_id, change, now);
            Ok((post, event))
        })
    }

    /// Adds `user`'s reaction; `None` when it was already there (no event).
    pub async fn add_reaction(
        &self,
        post: &Post,
        user: UserId,
        emoji: &EmojiName,
    ) -> Result<Option<(Reaction, ChannelEvent)>> {
        let now = Timestamp::now();
        with_tx!(self, |tx| {
            let added = sqlx::query(
                "INSERT INTO reactions (post_id, user_id, emoji_name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(post.id)
            .bind(user)
            .bind(emoji.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if added.rows_affected() == 0 {
                Ok(None)
            } else {
                let reaction =
                    Reaction { post_id: post.id, user_id: user, emoji_name: emoji.to_string(), created_at: now };
                let event =
                    append_event!(tx, post.channel_id, Change::ReactionAdded { reaction: reaction.clone() }, now);
                Ok(Some((reaction, event)))
            }
        })
    }

    /// Removes `user`'s reaction; `None` when there was none.
    pub async fn remove_reaction(&self, post: &Post, user: UserId, emoji: &EmojiName) -> Result<Option<ChannelEvent>> {
        let now = Timestamp::now();
        with_tx!(self, |tx| {
            let removed = sqlx::query("DELETE FROM reactions WHERE post_id = $1 AND user_id = $2 AND emoji_name = $3")
                .bind(post.id)
                .bind(user)
                .bind(emoji.as_str())
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                Ok(None)
            } else {
                let reaction = RemovedReaction { post_id: post.id, user_id: user, emoji_name: emoji.to_string() };
                Ok(Some(append_event!(tx, post.channel_id, Change::ReactionRemoved { reaction }, now)))
            }
        })
    }
}
