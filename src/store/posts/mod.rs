//! Posts, threads, reactions and pins. Creating a post (`create`: the one-statement path beside the
//! general one), and editing, deleting, pinning or reacting (`changes`), append the matching event in
//! the same transaction; reading them is here.

use std::collections::HashMap;

use super::models::{Post, Reaction, ReactionSummary};
use super::{Store, with_pool};
use crate::domain::{ChannelId, PostId, Timestamp};
use crate::error::{Error, Result};

macro_rules! post_columns {
    () => {
        "p.id, p.channel_id, p.user_id, p.root_id, p.message, p.created_at, p.edited_at, p.deleted_at,
         p.reply_count, p.last_reply_at, p.is_pinned, p.from_bot, p.props"
    };
    (bare) => {
        "id, channel_id, user_id, root_id, message, created_at, edited_at, deleted_at,
         reply_count, last_reply_at, is_pinned, from_bot, props"
    };
}

mod changes;
mod create;
mod pages;

pub use create::NewPost;
pub use pages::SINCE_LIMIT;

/// Where a page of posts starts: strictly before or after a known post.
#[derive(Debug, Clone, Copy)]
pub enum PostCursor {
    Latest,
    Before(PostId),
    After(PostId),
}

impl Store {
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

    async fn with_reactions_one(&self, post: Post) -> Result<Post> {
        self.with_reactions(vec![post]).await?.pop().ok_or_else(|| Error::not_found("post"))
    }

    /// Fills each post's reaction summary and its files with one query each for the whole page.
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
        let mut files: HashMap<PostId, Vec<super::files::FileInfo>> = HashMap::new();
        for f in self.files_of_posts(&ids).await? {
            if let Some(post) = f.post_id {
                files.entry(post).or_default().push(f);
            }
        }
        for p in &mut posts {
            p.reactions = by_post.remove(&p.id).unwrap_or_default();
            p.files = files.remove(&p.id).unwrap_or_default();
        }
        Ok(posts)
    }
}
