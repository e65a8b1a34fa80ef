//! The per-channel event log. `append_event!` is the only way an event is written: inside the
//! transaction that made the change, it takes the next `seq` from `channels.last_seq` (the UPDATE
//! locks the channel row until commit, so commit order is seq order and there are no gaps). Creating a
//! post takes the seq itself, in the same kind of UPDATE, and writes with `insert_event!`. Each row
//! holds a [`Change`] in its stored form (`change::FORMAT`).

use super::change::{Change, ChannelEvent};
use super::{Store, with_pg, with_pool};
use crate::domain::{ChannelId, Timestamp};
use crate::error::{Error, Result};

/// Appends `$change` to `$channel`'s log inside transaction `$tx`; evaluates to the [`ChannelEvent`].
macro_rules! append_event {
    ($tx:expr, $channel:expr, $change:expr, $now:expr) => {{
        let change: $crate::store::change::Change = $change;
        let seq: i64 =
            sqlx::query_scalar("UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
                .bind($channel)
                .fetch_one(&mut *$tx)
                .await?;
        $crate::store::events::insert_event!($tx, $channel, seq, &change, $now);
        $crate::store::change::ChannelEvent { channel_id: $channel, seq, created_at: $now, change }
    }};
}

/// Writes `$change` as event `$seq`, which the same transaction took from `channels.last_seq` (posts
/// take it in the UPDATE that also counts the message, saving a round trip on the hottest write).
macro_rules! insert_event {
    ($tx:expr, $channel:expr, $seq:expr, $change:expr, $now:expr) => {{
        let change: &$crate::store::change::Change = $change;
        sqlx::query(
            "INSERT INTO channel_events (channel_id, seq, kind, data, created_at, format) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($channel)
        .bind($seq)
        .bind(change.kind())
        .bind(sqlx::types::Json(change.data()))
        .bind($now)
        .bind($crate::store::change::FORMAT)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use append_event;
pub(crate) use insert_event;

/// A row of `channel_events` as stored.
#[derive(sqlx::FromRow)]
struct EventRow {
    kind: String,
    channel_id: ChannelId,
    seq: i64,
    data: sqlx::types::Json<serde_json::Value>,
    created_at: Timestamp,
    format: i16,
}

impl TryFrom<EventRow> for ChannelEvent {
    type Error = Error;
    fn try_from(row: EventRow) -> Result<ChannelEvent> {
        let change = Change::from_stored(&row.kind, row.format, row.data.0)
            .map_err(|e| Error::internal(anyhow::anyhow!("channel {} event {}: {e}", row.channel_id, row.seq)))?;
        Ok(ChannelEvent { channel_id: row.channel_id, seq: row.seq, created_at: row.created_at, change })
    }
}

impl Store {
    /// Events of `channel` with `seq > after_seq`, oldest first, at most `limit`.
    pub async fn events_after(&self, channel: ChannelId, after_seq: i64, limit: u32) -> Result<Vec<ChannelEvent>> {
        with_pool!(self, |pool| {
            sqlx::query_as::<_, EventRow>(
                "SELECT kind, channel_id, seq, data, created_at, format FROM channel_events
                 WHERE channel_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(channel)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        })
        .into_iter()
        .map(ChannelEvent::try_from)
        .collect()
    }
}

impl Store {
    /// The latest seq of each of `channels` (missing channels are left out).
    pub async fn last_seqs(&self, channels: &[ChannelId]) -> Result<Vec<(ChannelId, i64)>> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        // The sweep asks this of every channel a node serves, every 5 s: on PostgreSQL one prepared
        // statement over an array.
        if let Some(heads) = with_pg!(self, |pool| {
            let array: Vec<uuid::Uuid> = channels.iter().map(|c| c.0).collect();
            sqlx::query_as("SELECT id, last_seq FROM channels WHERE id = ANY($1)")
                .bind(array.as_slice())
                .fetch_all(pool)
                .await?
        }) {
            return Ok(heads);
        }
        let mut out = Vec::with_capacity(channels.len());
        // Bounded IN lists keep every statement well under both backends' parameter limits.
        for chunk in channels.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT id, last_seq FROM channels WHERE id IN ({})", placeholders.join(", "));
            let rows: Vec<(ChannelId, i64)> = with_pool!(self, |pool| {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(pool).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// The channels `user` belongs to, with each one's latest seq and member count, counted only up to
    /// `count_past + 1` (a connect must not scan a huge channel's member list).
    pub async fn memberships(
        &self,
        user: crate::domain::UserId,
        count_past: i64,
    ) -> Result<Vec<(ChannelId, i64, i64)>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                // Per-row subqueries, not a join: the plan stays an index lookup per membership even
                // where the planner has no statistics (a fresh or restored database, no autovacuum), where
                // a join was planned as a scan of every channel (3.3 ms instead of 0.09 per connect).
                "SELECT m.channel_id,
                        (SELECT c.last_seq FROM channels c WHERE c.id = m.channel_id),
                        (SELECT COUNT(*) FROM (SELECT 1 FROM channel_members o WHERE o.channel_id = m.channel_id LIMIT $2) AS counted)
                 FROM channel_members m WHERE m.user_id = $1",
            )
            .bind(user)
            .bind(count_past + 1)
            .fetch_all(pool)
            .await?
        }))
    }
}
