//! Creating a post, two ways that must agree: the one statement that writes the common post (plain
//! text, no thread, no mentions) on PostgreSQL in one round trip, checks included, and the general path,
//! checked step by step by `app::posts` and written in one transaction. `tests/api/post_rules.rs` runs
//! every refusal through both.

use super::super::change::{Change, ChannelEvent, FORMAT};
use super::super::events::insert_event;
use super::super::models::Post;
use super::super::sessions::live_session;
use super::super::{Store, with_pg, with_tx};
use crate::domain::hooks::PostProps;
use crate::domain::{ChannelId, ChannelKind, FileId, Mentions, MessageBody, PostId, SessionId, Timestamp, UserId};
use crate::error::{Error, Result};

/// Whether a post in the channel `$channel` may trigger an outgoing webhook: the trigger row the
/// outbox worker consumes is written only then, in the post's own transaction (so a node dying right
/// after the commit loses no call), and a channel without hooks pays one indexed lookup.
macro_rules! outgoing_triggered {
    ($channel:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM outgoing_webhooks w JOIN channels c ON c.team_id = w.team_id WHERE c.id = ",
            $channel,
            " AND w.revoked_at IS NULL AND (w.channel_id = c.id OR (w.channel_id IS NULL AND c.kind = 'public')))"
        )
    };
}

/// A post about to be created.
pub struct NewPost<'a> {
    pub channel: ChannelId,
    pub kind: ChannelKind,
    pub author: UserId,
    /// The author is a bot: the post says so.
    pub from_bot: bool,
    pub message: &'a MessageBody,
    /// What the message mentions (read from it once, by the caller).
    pub mentions: &'a Mentions,
    pub root: Option<PostId>,
    /// Members online now, who an `@here` mentions.
    pub online: &'a [UserId],
    /// Uploads to attach: each must be the author's, to this channel, stored and not yet taken.
    pub files: &'a [FileId],
    /// What the post carries besides its text (a webhook's attachments and overrides).
    pub props: Option<&'a PostProps>,
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
        // Bots never take this path (the statement declines them).
        from_bot: false,
        reactions: Vec::new(),
        files: Vec::new(),
        props: None,
    };
    let change = Change::Posted { post: post.clone(), mentions: Mentions::default() };
    // The checks sit in the UPDATE's WHERE, so a channel archived meanwhile is seen as the row is locked.
    let seq: Option<i64> = sqlx::query_scalar(concat!(
        "WITH counted AS (
           UPDATE channels SET last_seq = last_seq + 1, total_msg_count = total_msg_count + 1, last_post_at = $5
           WHERE id = $2 AND archived_at IS NULL
             AND EXISTS (SELECT 1 FROM channel_members WHERE channel_id = $2 AND user_id = $3)
             AND EXISTS (SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
                         WHERE s.id = $7 AND s.user_id = $3 AND NOT u.is_bot AND ",
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
         ), triggered AS (
           INSERT INTO outgoing_triggers (post_id, channel_id, created_at)
           SELECT $1, $2, $5 FROM counted WHERE ",
        outgoing_triggered!("$2"),
        "
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
        if !mentions.is_empty() {
            return Ok(None);
        }
        Ok(with_pg!(self, |pool| create_plain_post_pg(pool, session, author, channel, message).await?).flatten())
    }

    /// Inserts a post and everything that follows from it in one transaction: the thread root's reply
    /// count, the channel's message count, members' mention counts, the author's read position, and
    /// the `posted` event. Returns the post and the event as written, so the caller publishes it without
    /// reading it back.
    pub async fn create_post(&self, new: NewPost<'_>) -> Result<(Post, ChannelEvent)> {
        self.create_post_from(new, true).await
    }

    /// `create_post` for a post an integration makes (an outgoing webhook's or a command's reply):
    /// with `triggers` false it triggers no outgoing webhook, so two integrations cannot loop.
    pub async fn create_post_from(&self, new: NewPost<'_>, triggers: bool) -> Result<(Post, ChannelEvent)> {
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
                "INSERT INTO posts (id, channel_id, user_id, root_id, message, created_at, from_bot, props)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
                post_columns!(bare)
            ))
            .bind(id)
            .bind(new.channel)
            .bind(new.author)
            .bind(root)
            .bind(new.message.as_str())
            .bind(now)
            .bind(new.from_bot)
            .bind(new.props.map(sqlx::types::Json))
            .fetch_one(&mut *tx)
            .await?;
            post.reactions = Vec::new();
            // The files join the post in its transaction: a file another post took meanwhile, or one
            // that is not the author's upload to this channel, rolls the post back.
            for file in new.files {
                let taken = sqlx::query_as::<_, super::super::files::FileInfo>(concat!(
                    "UPDATE files SET post_id = $1 WHERE id = $2 AND uploader_id = $3 AND channel_id = $4
                     AND state = 'ready' AND post_id IS NULL AND deleted_at IS NULL RETURNING ",
                    super::super::files::file_columns!()
                ))
                .bind(id)
                .bind(*file)
                .bind(new.author)
                .bind(new.channel)
                .fetch_optional(&mut *tx)
                .await?;
                match taken {
                    Some(f) => post.files.push(f),
                    None => {
                        return Err(Error::validation(format!(
                            "file_ids: {file} is not an upload of yours to this channel that no post has taken"
                        )));
                    }
                }
            }
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
            if triggers {
                sqlx::query(concat!(
                    "INSERT INTO outgoing_triggers (post_id, channel_id, created_at) SELECT $1, $2, $3 WHERE ",
                    outgoing_triggered!("$2")
                ))
                .bind(id)
                .bind(new.channel)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
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
}
