//! The common post on PostgreSQL, group-committed. A plain post (no thread, no mentions) by a member
//! is authenticated, authorized and written in one statement. While a statement is in flight, posts
//! that arrive queue, and the next statement writes all of them: a busy node pays one round trip, one
//! commit and one WAL flush for many posts, where it paid one each. An idle node writes a post as soon
//! as it arrives, so batching adds no wait until the database is the bottleneck.
//!
//! Each post in a batch is checked on its own (live session, active user, member, channel not
//! archived); one that fails is left out, and its caller takes the general path, which says why.
//!
//! The writer runs on its own thread and runtime, so a batch in flight finishes even while the HTTP
//! worker that queued its first post is shutting down: a post the database committed is always
//! answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::models::Post;
use crate::domain::SessionId;
use crate::error::{Error, ErrorCode, Result};

/// Statements in flight at once per node. One lets the most posts queue behind it, and the other
/// node's writer keeps the database's second core busy.
const WRITING: usize = 1;
/// Posts per statement at most, which bounds the arrays bound to it.
const MAX_BATCH: usize = 128;

/// Statements written and the posts they wrote, for the metrics: their ratio is the batch size.
#[derive(Debug, Default)]
pub struct PostWriteStats {
    pub statements: AtomicU64,
    pub posts: AtomicU64,
}

/// A post waiting to be written: as the client will see it, and the `posted` event's data.
pub(super) struct Row {
    pub post: Post,
    pub session: SessionId,
    pub data: serde_json::Value,
}

/// What became of one queued post.
pub(super) enum Outcome {
    /// Written, with this seq.
    Written(Row, i64),
    /// A check failed; nothing was written.
    Declined,
    /// The batch was refused as a whole (the database rolled it back); write this post alone, so one
    /// post's error stays its own.
    Alone(Row),
    Failed(Error),
}

struct Pending {
    row: Row,
    reply: oneshot::Sender<Outcome>,
}

pub(super) struct PostWriter {
    queue: mpsc::UnboundedSender<Pending>,
    pool: PgPool,
    stats: Arc<PostWriteStats>,
}

impl std::fmt::Debug for PostWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostWriter").field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl PostWriter {
    /// Starts the writer thread; it ends once every handle to the store is gone and the last batch is
    /// written.
    pub(super) fn start(pool: PgPool) -> anyhow::Result<Self> {
        let (queue, waiting) = mpsc::unbounded_channel();
        let stats = Arc::new(PostWriteStats::default());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (p, s) = (pool.clone(), stats.clone());
        std::thread::Builder::new()
            .name("rustchat-post-writer".into())
            .spawn(move || runtime.block_on(run(p, waiting, s)))?;
        Ok(Self { queue, pool, stats })
    }

    pub(super) fn stats(&self) -> Arc<PostWriteStats> {
        self.stats.clone()
    }

    /// Queues `row` and waits for the statement that writes it. `Ok(None)`: a check failed.
    pub(super) async fn write(&self, row: Row) -> Result<Option<(Row, i64)>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { row, reply })
            .map_err(|_| Error::new(ErrorCode::DatabaseUnavailable, "the post writer has stopped"))?;
        let outcome =
            answer.await.map_err(|_| Error::new(ErrorCode::DatabaseUnavailable, "the post writer has stopped"))?;
        match outcome {
            Outcome::Written(row, seq) => Ok(Some((row, seq))),
            Outcome::Declined => Ok(None),
            Outcome::Alone(row) => {
                let seqs = insert(&self.pool, std::slice::from_ref(&row)).await?;
                count(&self.stats, &seqs);
                Ok(seqs[0].map(|seq| (row, seq)))
            }
            Outcome::Failed(e) => Err(e),
        }
    }
}

/// The writer's loop: takes whatever has queued when a statement slot is free.
async fn run(pool: PgPool, mut waiting: mpsc::UnboundedReceiver<Pending>, stats: Arc<PostWriteStats>) {
    let mut writing = FuturesUnordered::new();
    loop {
        tokio::select! {
            Some(()) = writing.next(), if !writing.is_empty() => {}
            first = waiting.recv(), if writing.len() < WRITING => {
                let Some(first) = first else { break };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match waiting.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                writing.push(write_batch(&pool, batch, &stats));
            }
        }
    }
    while writing.next().await.is_some() {}
}

async fn write_batch(pool: &PgPool, batch: Vec<Pending>, stats: &PostWriteStats) {
    let (rows, replies): (Vec<Row>, Vec<oneshot::Sender<Outcome>>) =
        batch.into_iter().map(|p| (p.row, p.reply)).unzip();
    match insert(pool, &rows).await {
        Ok(seqs) => {
            count(stats, &seqs);
            for ((row, reply), seq) in rows.into_iter().zip(replies).zip(seqs) {
                let _ = reply.send(match seq {
                    Some(seq) => Outcome::Written(row, seq),
                    None => Outcome::Declined,
                });
            }
        }
        // The database refused the statement, so none of it was written.
        Err(e @ sqlx::Error::Database(_)) if rows.len() > 1 => {
            tracing::warn!(error = %e, posts = rows.len(), "a batch of posts was refused; writing them one by one");
            for (row, reply) in rows.into_iter().zip(replies) {
                let _ = reply.send(Outcome::Alone(row));
            }
        }
        Err(e) => {
            let e = Error::from(e);
            tracing::warn!(error = ?e, posts = rows.len(), "a batch of posts could not be written");
            for reply in replies {
                let _ = reply.send(Outcome::Failed(Error::new(e.code, e.message.clone())));
            }
        }
    }
}

fn count(stats: &PostWriteStats, seqs: &[Option<i64>]) {
    stats.statements.fetch_add(1, Ordering::Relaxed);
    stats.posts.fetch_add(seqs.iter().flatten().count() as u64, Ordering::Relaxed);
}

/// Writes `rows` in one statement: everything `Store::create_post`'s transaction does for each, and
/// the checks its callers make first. Returns each row's seq, `None` where a check failed. Statements
/// in a `WITH` share one snapshot and one implicit transaction; the channel rows stay locked until it
/// commits, so commit order is still seq order.
async fn insert(pool: &PgPool, rows: &[Row]) -> std::result::Result<Vec<Option<i64>>, sqlx::Error> {
    let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.post.id.0).collect();
    let channels: Vec<uuid::Uuid> = rows.iter().map(|r| r.post.channel_id.0).collect();
    let authors: Vec<uuid::Uuid> = rows.iter().map(|r| r.post.user_id.0).collect();
    let sessions: Vec<uuid::Uuid> = rows.iter().map(|r| r.session.0).collect();
    let messages: Vec<&str> = rows.iter().map(|r| r.post.message.as_str()).collect();
    let created: Vec<time::OffsetDateTime> = rows.iter().map(|r| r.post.created_at.inner()).collect();
    let data: Vec<String> = rows.iter().map(|r| r.data.to_string()).collect();
    let written: Vec<(i64, i64)> = sqlx::query_as(
        "WITH req AS (
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::timestamptz[],
                                $7::text[]::jsonb[])
             WITH ORDINALITY AS r(id, channel_id, user_id, session_id, message, created_at, data, ord)
         ), allowed AS MATERIALIZED (
           SELECT r.* FROM req r
           WHERE EXISTS (SELECT 1 FROM channel_members m WHERE m.channel_id = r.channel_id AND m.user_id = r.user_id)
             AND EXISTS (SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
                         WHERE s.id = r.session_id AND s.user_id = r.user_id AND s.revoked_at IS NULL
                           AND s.expires_at > r.created_at AND u.is_active)
         ), locked AS MATERIALIZED (
           -- In id order, so that two batches sharing channels cannot deadlock.
           SELECT c.id FROM channels c WHERE c.id IN (SELECT channel_id FROM allowed) ORDER BY c.id FOR UPDATE
         ), counted AS (
           -- Archiving is checked here, on the locked row, so a channel archived meanwhile is seen.
           UPDATE channels c
           SET last_seq = c.last_seq + k.n, total_msg_count = c.total_msg_count + k.n, last_post_at = k.last_at
           FROM (SELECT a.channel_id, count(*) AS n, max(a.created_at) AS last_at
                 FROM allowed a JOIN locked l ON l.id = a.channel_id GROUP BY a.channel_id) k
           WHERE c.id = k.channel_id AND c.archived_at IS NULL
           RETURNING c.id, c.kind, c.last_seq - k.n AS base_seq, c.total_msg_count - k.n AS base_total
         ), numbered AS MATERIALIZED (
           SELECT a.*, ct.kind, ct.base_seq + row_number() OVER w AS seq, ct.base_total + row_number() OVER w AS total
           FROM allowed a JOIN counted ct ON ct.id = a.channel_id
           WINDOW w AS (PARTITION BY a.channel_id ORDER BY a.ord)
         ), inserted AS (
           INSERT INTO posts (id, channel_id, user_id, root_id, message, created_at)
           SELECT id, channel_id, user_id, NULL, message, created_at FROM numbered
         ), logged AS (
           INSERT INTO channel_events (channel_id, seq, kind, data, created_at)
           SELECT channel_id, seq, 'posted', data, created_at FROM numbered
         ), member_changes AS (
           -- Each author has read up to their own last post.
           SELECT channel_id, user_id, 0 AS mentions, max(seq) AS seq, max(total) AS total
           FROM numbered GROUP BY channel_id, user_id
           UNION ALL
           -- In a DM every message mentions the other member.
           SELECT n.channel_id, m.user_id, 1, NULL::bigint, NULL::bigint
           FROM numbered n JOIN channel_members m ON m.channel_id = n.channel_id AND m.user_id <> n.user_id
           WHERE n.kind = 'direct'
         ), members AS (
           -- One UPDATE for both, since a statement cannot change a row twice.
           UPDATE channel_members m
           SET mention_count = m.mention_count + d.mentions,
               last_viewed_seq = coalesce(d.seq, m.last_viewed_seq),
               viewed_msg_count = coalesce(d.total, m.viewed_msg_count)
           FROM (SELECT channel_id, user_id, sum(mentions) AS mentions, max(seq) AS seq, max(total) AS total
                 FROM member_changes GROUP BY channel_id, user_id) d
           WHERE m.channel_id = d.channel_id AND m.user_id = d.user_id
         )
         SELECT ord, seq FROM numbered",
    )
    .bind(ids)
    .bind(channels)
    .bind(authors)
    .bind(sessions)
    .bind(messages)
    .bind(created)
    .bind(data)
    .fetch_all(pool)
    .await?;
    let mut seqs = vec![None; rows.len()];
    for (ord, seq) in written {
        if let Some(slot) = usize::try_from(ord - 1).ok().and_then(|i| seqs.get_mut(i)) {
            *slot = Some(seq);
        }
    }
    Ok(seqs)
}
