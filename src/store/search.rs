//! Full-text search over posts the searcher can see: only channels they are a member of, never
//! deleted posts. PostgreSQL uses a generated `tsvector` with a GIN index; SQLite an FTS5 table.
//! Both match posts containing every term of the query, in their text or in the strings of their
//! attachments (an incoming webhook's).

use super::models::Post;
use super::{Backend, Store, with_pool};
use crate::domain::{ChannelId, Timestamp, UserId};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub terms: String,
    pub channel: Option<ChannelId>,
    pub author: Option<UserId>,
    pub before: Option<Timestamp>,
    pub after: Option<Timestamp>,
    pub limit: u32,
}

const PG_SEARCH: &str =
    "SELECT p.id, p.channel_id, p.user_id, p.root_id, p.message, p.created_at, p.edited_at, p.deleted_at,
        p.reply_count, p.last_reply_at, p.is_pinned, p.from_bot, p.props
 FROM posts p JOIN channel_members m ON m.channel_id = p.channel_id AND m.user_id = $1
 WHERE p.deleted_at IS NULL
   AND (p.search @@ plainto_tsquery('simple', $2)
        OR (p.props IS NOT NULL
            AND jsonb_to_tsvector('simple'::regconfig, p.props -> 'attachments', '[\"string\"]') @@ plainto_tsquery('simple', $2)))
   AND ($3::uuid IS NULL OR p.channel_id = $3) AND ($4::uuid IS NULL OR p.user_id = $4)
   AND ($5::timestamptz IS NULL OR p.created_at < $5) AND ($6::timestamptz IS NULL OR p.created_at > $6)
 ORDER BY p.created_at DESC, p.id DESC LIMIT $7";

const SQLITE_SEARCH: &str = "WITH hits(rowid) AS (
   SELECT rowid FROM posts_fts WHERE posts_fts MATCH $2
   UNION SELECT rowid FROM posts_attachments_fts WHERE posts_attachments_fts MATCH $2)
 SELECT p.id, p.channel_id, p.user_id, p.root_id, p.message, p.created_at, p.edited_at, p.deleted_at,
        p.reply_count, p.last_reply_at, p.is_pinned, p.from_bot, p.props
 FROM hits h JOIN posts p ON p.rowid = h.rowid
 JOIN channel_members m ON m.channel_id = p.channel_id AND m.user_id = $1
 WHERE p.deleted_at IS NULL
   AND ($3 IS NULL OR p.channel_id = $3) AND ($4 IS NULL OR p.user_id = $4)
   AND ($5 IS NULL OR p.created_at < $5) AND ($6 IS NULL OR p.created_at > $6)
 ORDER BY p.created_at DESC, p.id DESC LIMIT $7";

impl Store {
    pub async fn search_posts(&self, searcher: UserId, q: &SearchQuery) -> Result<Vec<Post>> {
        let words: Vec<&str> = q.terms.split_whitespace().take(32).collect();
        // `app::search` refuses a query without words; nothing would match one anyway.
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let (sql, terms) = match self.backend() {
            Backend::Postgres => (PG_SEARCH, words.join(" ")),
            // Each word becomes a quoted FTS5 string, so user input is never FTS5 syntax.
            Backend::Sqlite => {
                let fts: Vec<String> = words.iter().map(|w| format!("\"{}\"", w.replace('"', "\"\""))).collect();
                (SQLITE_SEARCH, fts.join(" "))
            }
        };
        let posts = with_pool!(self, |pool| {
            sqlx::query_as::<_, Post>(sql)
                .bind(searcher)
                .bind(&terms)
                .bind(q.channel)
                .bind(q.author)
                .bind(q.before)
                .bind(q.after)
                .bind(i64::from(q.limit))
                .fetch_all(pool)
                .await?
        });
        self.with_reactions(posts).await
    }
}
