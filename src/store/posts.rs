//! Posts, threads, reactions and pins. Creating, editing or deleting a post, and adding or removing a
//! reaction, appends the matching event (`posted`, `post_edited`, `post_deleted`, `reaction_added`,
//! `reaction_removed`) in the same transaction, carrying the post or reaction as the client sees it.

use std::collections::HashMap;

use super::change::{Change, ChannelEvent, FORMAT, RemovedReaction};
use super::events::{append_event, insert_event};
use super::models::{Post, Reaction, ReactionSummary};
use super::sessions::live_session;
use super::{Store, with_pool, with_tx};
use crate::domain::{ChannelId, ChannelKind, EmojiName, Mentions, MessageBody, PostId, SessionId, Timestamp, UserId};
use crate::error::{Error, Result};

macro_rules! post_columns {
    () => {
        "p.id, p.channel_id, p.user_id, p.root_id, p.message, p.created_at, p.edited_at, p.deleted_at,
         p.reply_count, p.last_reply_at, p.is_pinned"
    };
    (bare) => {
        "id, channel_id, user_id, root_id, message, created_at, edited_at, deleted_at,
         reply_count, last_reply_at, is_pinned"
    };
}

/// A post about to be created.
pub struct NewPost<'a> {
    pub channel: ChannelId,
    pub kind: ChannelKind,
    pub author: UserId,
    pub message: &'a MessageBody,
    /// What the message mentions (read from it once, by the caller).
    pub mentions: &'a Mentions,
    pub root: Option<PostId>,
    /// Members online now, who an `@here` mentions.
    pub online: &'a [UserId],
}

/// Where a page of posts starts: strictly before or after a known post.
#[derive(Debug, Clone, Copy)]
pub enum PostCursor {
    Latest,
    Before(PostId),
    After(PostId),
}

/// The common post (no thread, no mentions) on PostgreSQL: everything `create_post`'s transaction does,
/// and the checks its callers make before it (the session is live, its user active and a member of the
/// channel, which is not archived), as one statement: one round trip instead of eight. Statements in a
/// `WITH` run on one snapshot in one implicit transaction; the channel row stays locked until it
/// commits, so commit order is still seq order. `None` when a check fails; nothing is written then.
async fn create_plain_post_pg(
    pool: &sqlx::PgPool,
    session: SessionId,
    author: UserId,
    channel: ChannelId,
    message: &MessageBody,
) -> Result<Option<(Post, ChannelEvent)>> {
    let now = Timestamp::now();
    // The post as the INSERT's column defaults make it, so the event carries what a read returns.
    let post = Post {
        id: PostId::new(),
        channel_id: channel,
        user_id: author,
        root_id: None,
        message: message.as_str().to_string(),
        created_at: now,
        edited_at: None,
        deleted_at: None,
        reply_count: 0,
        last_reply_at: None,
        is_pinned: false,
        reactions: Vec::new(),
    };
    let change = Change::Posted { post: post.clone(), mentions: Mentions::default() };
    // The checks sit in the UPDATE's WHERE, so a channel archived meanwhile is seen as the row is locked.
    let seq: Option<i64> = sqlx::query_scalar(concat!(
        "WITH counted AS (
           UPDATE channels SET last_seq = last_seq + 1, total_msg_count = total_msg_count + 1, last_post_at = $5
           WHERE id = $2 AND archived_at IS NULL
             AND EXISTS (SELECT 1 FROM channel_members WHERE channel_id = $2 AND user_id = $3)
             AND EXISTS (SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
                         WHERE s.id = $7 AND s.user_id = $3 AND ",
        live_session!("$5"),
        ")
           RETURNING last_seq, total_msg_count, kind
         ), mentioned AS (
           -- In a DM every message mentions the other member.
           UPDATE channel_members SET mention_count = mention_count + 1
           FROM counted WHERE counted.kind = 'direct' AND channel_id = $2 AND user_id <> $3
         ), inserted AS (
           INSERT INTO posts (id, channel_id, user_id, root_id, message, created_at)
           SELECT $1, $2, $3, NULL, $4, $5 FROM counted
         ), logged AS (
           INSERT INTO channel_events (channel_id, seq, kind, data, created_at, format)
           SELECT $2, counted.last_seq, 'posted', $6, $5, $8 FROM counted
         ), viewed AS (
           UPDATE channel_members SET last_viewed_seq = counted.last_seq, viewed_msg_count = counted.total_msg_count
           FROM counted WHERE channel_id = $2 AND user_id = $3
         )
         SELECT last_seq FROM counted",
    ))
    .bind(post.id)
    .bind(channel)
    .bind(author)
    .bind(message.as_str())
    .bind(now)
    .bind(sqlx::types::Json(change.data()))
    .bind(session)
    .bind(FORMAT)
    .fetch_optional(pool)
    .await?;
    Ok(seq.map(|seq| (post, ChannelEvent { channel_id: channel, seq, created_at: now, change })))
}

impl Store {
    /// The common post, authenticated, authorized and written in one round trip: plain text (no thread,
    /// no mentions) by the holder of a live `session` who is an active member of `channel`, which is not
    /// archived. `None` when any of that does not hold, or on SQLite (where a round trip costs little):
    /// the caller then takes the general path, which checks step by step and says why.
    pub async fn create_plain_post_as(
        &self,
        session: SessionId,
        author: UserId,
        channel: ChannelId,
        message: &MessageBody,
        mentions: &Mentions,
    ) -> Result<Option<(Post, ChannelEvent)>> {
        let super::Pool::Pg(pool) = &self.pool else { return Ok(None) };
        if !mentions.is_empty() {
            return Ok(None);
        }
        self.admit()?;
        let result = create_plain_post_pg(pool, session, author, channel, message).await;
        self.observe(&result);
        result
    }

    /// Inserts a post and everything that follows from it in one transaction: the thread root's reply
    /// count, the channel's message count, members' mention counts, the author's read position, and
    /// the `posted` event. Returns the post and the event as written, so the caller publishes it without
    /// reading it back.
    pub async fn create_post(&self, new: NewPost<'_>) -> Result<(Post, ChannelEvent)> {
        let mentions = new.mentions;
        let now = Timestamp::now();
        let id = PostId::new();
        with_tx!(self, |tx| {
            let root = match new.root {
                None => None,
                Some(root) => {
                    let found: Option<(ChannelId, Option<PostId>)> =
                        sqlx::query_as("SELECT channel_id, root_id FROM posts WHERE id = $1 AND deleted_at IS NULL")
                            .bind(root)
                            .fetch_optional(&mut *tx)
                            .await?;
                    match found {
                        Some((channel, parent)) if channel == new.channel => {
                            // A reply to a reply joins the same thread.
                            let root = parent.unwrap_or(root);
                            sqlx::query(
                                "UPDATE posts SET reply_count = reply_count + 1, last_reply_at = $2 WHERE id = $1",
                            )
                            .bind(root)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                            Some(root)
                        }
                        _ => {
                            return Err(Error::validation("root_id must be a post in this channel"));
                        }
                    }
                }
            };
            let mut post = sqlx::query_as::<_, Post>(concat!(
                "INSERT INTO posts (id, channel_id, user_id, root_id, message, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
                post_columns!(bare)
            ))
            .bind(id)
            .bind(new.channel)
            .bind(new.author)
            .bind(root)
            .bind(new.message.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            post.reactions = Vec::new();
            // Takes the event's seq and counts the message in one statement; the row stays locked until
            // commit, so commit order is seq order, as with `append_event!`.
            let (seq, total): (i64, i64) = sqlx::query_as(
                "UPDATE channels SET last_seq = last_seq + 1, total_msg_count = total_msg_count + 1, last_post_at = $2
                 WHERE id = $1 RETURNING last_seq, total_msg_count",
            )
            .bind(new.channel)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;

            // Mentions: in a DM every message mentions the other member; @channel/@all everyone else.
            if new.kind == ChannelKind::Direct || mentions.channel {
                sqlx::query("UPDATE channel_members SET mention_count = mention_count + 1 WHERE channel_id = $1 AND user_id <> $2")
                    .bind(new.channel)
                    .bind(new.author)
                    .execute(&mut *tx)
                    .await?;
            } else {
                // Each mentioned member counts once, however they were mentioned.
                let mut mentioned: std::collections::BTreeSet<UserId> = std::collections::BTreeSet::new();
                for name in &mentions.usernames {
                    let id: Option<UserId> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
                        .bind(name)
                        .fetch_optional(&mut *tx)
                        .await?;
                    mentioned.extend(id);
                }
                if mentions.here {
                    mentioned.extend(new.online.iter().copied());
                }
                mentioned.remove(&new.author);
                for user in mentioned {
                    sqlx::query(
                        "UPDATE channel_members SET mention_count = mention_count + 1 WHERE channel_id = $1 AND user_id = $2",
                    )
                    .bind(new.channel)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
                }
            }

            let change = Change::Posted { post: post.clone(), mentions: mentions.clone() };
            insert_event!(tx, new.channel, seq, &change, now);
            // The author has read their own post.
            sqlx::query(
                "UPDATE channel_members SET last_viewed_seq = $3, viewed_msg_count = $4 WHERE channel_id = $1 AND user_id = $2",
            )
            .bind(new.channel)
            .bind(new.author)
            .bind(seq)
            .bind(total)
            .execute(&mut *tx)
            .await?;
            Ok((post, ChannelEvent { channel_id: new.channel, seq, created_at: now, change }))
        })
    }

    /// A post (deleted ones included, as tombstones) with its reactions.
    pub async fn post(&self, id: PostId) -> Result<Option<Post>> {
        let post = with_pool!(self, |pool| {
            sqlx::query_as::<_, Post>(concat!("SELECT ", post_columns!(), " FROM posts p WHERE p.id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        match post {
            Some(p) => Ok(Some(self.with_reactions_one(p).await?)),
            None => Ok(None),
        }
    }

    /// A page of a channel's live posts, newest first. `has_more` says whether the page was cut.
    pub async fn channel_posts(&self, channel: ChannelId, cursor: PostCursor, limit: u32) -> Result<(Vec<Post>, bool)> {
        let fetch = i64::from(limit) + 1;
        let (anchor, after) = match cursor {
            PostCursor::Latest => (None, false),
            PostCursor::Before(id) | PostCursor::After(id) => {
                let at: Option<(ChannelId, Timestamp)> = with_pool!(self, |pool| {
                    sqlx::query_as("SELECT channel_id, created_at FROM posts WHERE id = $1")
                        .bind(id)
                        .fetch_optional(pool)
                        .await?
                });
                match at {
                    Some((c, at)) if c == channel => (Some((at, id)), matches!(cursor, PostCursor::After(_))),
                    _ => return Err(Error::validation("cursor is not a post of this channel")),
                }
            }
        };
        // One statement for the three directions; every fragment is a literal.
        let (filter, order) = match (anchor, after) {
            (None, _) => ("", "DESC"),
            (Some(_), false) => ("AND (p.created_at, p.id) < ($3, $4)", "DESC"),
            (Some(_), true) => ("AND (p.created_at, p.id) > ($3, $4)", "ASC"),
        };
        let sql = format!(
            "SELECT {} FROM posts p WHERE p.channel_id = $1 AND p.deleted_at IS NULL {filter}
             ORDER BY p.created_at {order}, p.id {order} LIMIT $2",
            post_columns!()
        );
        let mut posts = with_pool!(self, |pool| {
            let mut query = sqlx::query_as::<_, Post>(sqlx::AssertSqlSafe(sql.clone())).bind(channel).bind(fetch);
            if let Some((at, id)) = anchor {
                query = query.bind(at).bind(id);
            }
            query.fetch_all(pool).await?
        });
        let has_more = posts.len() as i64 == fetch;
        posts.truncate(limit as usize);
        if after {
            posts.reverse();
        }
        Ok((self.with_reactions(posts).await?, has_more))
    }

    /// A thread: the root and its live replies, oldest first.
    pub async fn thread(&self, root: PostId) -> Result<Vec<Post>> {
        let posts = with_pool!(self, |pool| {
            sqlx::query_as::<_, Post>(concat!(
                "SELECT ",
                post_columns!(),
                " FROM posts p WHERE p.id = $1 OR (p.root_id = $1 AND p.deleted_at IS NULL)
                 ORDER BY p.created_at, p.id"
            ))
            .bind(root)
            .fetch_all(pool)
            .await?
        });
        self.with_reactions(posts).await
    }

    pub async fn pinned_posts(&self, channel: ChannelId) -> Result<Vec<Post>> {
        let posts = with_pool!(self, |pool| {
            sqlx::query_as::<_, Post>(concat!(
                "SELECT ",
                post_columns!(),
                " FROM posts p WHERE p.channel_id = $1 AND p.is_pinned AND p.deleted_at IS NULL ORDER BY p.created_at DESC"
            ))
            .bind(channel)
            .fetch_all(pool)
            .await?
        });
        self.with_reactions(posts).await
    }

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
                "UPDATE posts SET deleted_at = $2, message = '', is_pinned = FALSE WHERE id = $1 AND deleted_at IS NULL RETURNING ",
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

    async fn with_reactions_one(&self, post: Post) -> Result<Post> {
        self.with_reactions(vec![post]).await?.pop().ok_or_else(|| Error::not_found("post"))
    }

    /// Fills each post's reaction summary with one query for the whole page.
    pub(crate) async fn with_reactions(&self, mut posts: Vec<Post>) -> Result<Vec<Post>> {
        if posts.is_empty() {
            return Ok(posts);
        }
        let ids: Vec<PostId> = posts.iter().map(|p| p.id).collect();
        let mut sql = String::from("SELECT post_id, user_id, emoji_name, created_at FROM reactions WHERE post_id IN (");
        for i in 0..ids.len() {
            sql.push_str(if i == 0 { "$1" } else { ", $" });
            if i > 0 {
                sql.push_str(&(i + 1).to_string());
            }
        }
        sql.push_str(") ORDER BY created_at, user_id");
        let rows: Vec<Reaction> = with_pool!(self, |pool| {
            let mut q = sqlx::query_as::<_, Reaction>(sqlx::AssertSqlSafe(sql.clone()));
            for id in &ids {
                q = q.bind(*id);
            }
            q.fetch_all(pool).await?
        });
        let mut by_post: HashMap<PostId, Vec<ReactionSummary>> = HashMap::new();
        for r in rows {
            let list = by_post.entry(r.post_id).or_default();
            match list.iter_mut().find(|s| s.emoji_name == r.emoji_name) {
                Some(s) => {
                    s.count += 1;
                    s.user_ids.push(r.user_id);
                }
                None => list.push(ReactionSummary { emoji_name: r.emoji_name, count: 1, user_ids: vec![r.user_id] }),
            }
        }
        for p in &mut posts {
            p.reactions = by_post.remove(&p.id).unwrap_or_default();
        }
        Ok(posts)
    }
}
