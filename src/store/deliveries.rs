//! The outbox of outgoing webhook calls: the triggers a post leaves (written in the post's
//! transaction, see `posts::create`), the calls they become, and their outcomes. A delivery row is
//! claimed with a lease: `FOR UPDATE SKIP LOCKED` on PostgreSQL, so nodes never claim the same row at
//! once; SQLite serialises writers anyway (and runs one node).

use serde::Serialize;
use utoipa::ToSchema;

use super::{Pool, Store, with_pool, with_tx};
use crate::domain::{ChannelId, DeliveryId, OutgoingHookId, PostId, Timestamp, UserId};
use crate::error::{Error, Result};

/// One call to make, as the outbox holds it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: DeliveryId,
    pub hook_id: Option<OutgoingHookId>,
    pub url: String,
    pub content_type: String,
    pub body: String,
    pub signature: String,
    pub idempotency_key: String,
    /// Where a reply in the response is posted, and as whom.
    pub reply_channel_id: Option<ChannelId>,
    pub reply_user_id: Option<UserId>,
    /// Tries made before this one.
    pub attempts: i32,
}

const DELIVERY_COLUMNS: &str = "id, hook_id, url, content_type, body, signature, idempotency_key, \
     reply_channel_id, reply_user_id, attempts";

/// A call about to enter the outbox.
pub struct NewDelivery {
    pub hook_id: Option<OutgoingHookId>,
    pub url: String,
    pub content_type: String,
    pub body: String,
    pub signature: String,
    pub idempotency_key: String,
    pub reply_channel_id: Option<ChannelId>,
    pub reply_user_id: Option<UserId>,
}

/// A delivery's history as the hook's owners see it (no body: it holds the token).
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct DeliveryStatus {
    pub id: DeliveryId,
    pub url: String,
    pub idempotency_key: String,
    /// `pending`, `delivered` or `dead` (given up).
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// How a call ended.
pub enum Outcome<'a> {
    Delivered,
    /// Try again at this time.
    Retry {
        at: Timestamp,
        error: &'a str,
    },
    /// Given up.
    Dead {
        error: &'a str,
    },
    /// Not tried (its host's breaker is open): the lease is released, the try not counted.
    Deferred {
        at: Timestamp,
    },
}

impl Store {
    /// The newest calls of a hook, newest first.
    pub async fn hook_deliveries(&self, hook: OutgoingHookId, limit: u32) -> Result<Vec<DeliveryStatus>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, DeliveryStatus>(
                "SELECT id, url, idempotency_key, state, attempts, next_attempt_at, last_error, created_at, finished_at
                 FROM webhook_deliveries WHERE hook_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
            )
            .bind(hook)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        }))
    }

    /// Posts whose outgoing webhooks have not been looked at yet, oldest first.
    pub async fn pending_triggers(&self, limit: u32) -> Result<Vec<(PostId, ChannelId)>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, (PostId, ChannelId)>(
                "SELECT post_id, channel_id FROM outgoing_triggers ORDER BY created_at LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        }))
    }

    /// Puts a post's calls in the outbox and consumes its trigger, in one transaction. Idempotency
    /// keys are unique, so two nodes handling the same trigger enqueue each call once.
    pub async fn enqueue_deliveries(&self, post: PostId, deliveries: &[NewDelivery]) -> Result<()> {
        let now = Timestamp::now();
        with_tx!(self, |tx| {
            for d in deliveries {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (id, hook_id, url, content_type, body, signature, idempotency_key,
                       reply_channel_id, reply_user_id, next_attempt_at, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
                     ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .bind(DeliveryId::new())
                .bind(d.hook_id)
                .bind(&d.url)
                .bind(&d.content_type)
                .bind(&d.body)
                .bind(&d.signature)
                .bind(&d.idempotency_key)
                .bind(d.reply_channel_id)
                .bind(d.reply_user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM outgoing_triggers WHERE post_id = $1").bind(post).execute(&mut *tx).await?;
            Ok::<(), Error>(())
        })
    }

    /// Claims up to `limit` due calls for `owner` until `lease_until`: pending, due, and not held by
    /// a live lease (an expired one is a node that died mid-call).
    pub async fn claim_deliveries(&self, owner: &str, lease_until: Timestamp, limit: u32) -> Result<Vec<Delivery>> {
        let now = Timestamp::now();
        let lock = match self.pool {
            Pool::Pg(_) => "FOR UPDATE SKIP LOCKED",
            Pool::Sqlite(_) => "",
        };
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2
             WHERE id IN (SELECT id FROM webhook_deliveries
                          WHERE state = 'pending' AND next_attempt_at <= $3
                            AND (lease_until IS NULL OR lease_until < $3)
                          ORDER BY next_attempt_at LIMIT $4 {lock})
             RETURNING {DELIVERY_COLUMNS}"
        );
        Ok(with_tx!(self, |tx| {
            sqlx::query_as::<_, Delivery>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(owner)
                .bind(lease_until)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?
        }))
    }

    /// Records how a call claimed by `owner` ended. `false` when the lease was lost meanwhile
    /// (another node holds the row now; its outcome counts).
    pub async fn finish_delivery(&self, id: DeliveryId, owner: &str, outcome: Outcome<'_>) -> Result<bool> {
        let now = Timestamp::now();
        let (state, tried, at, error): (&str, i32, Timestamp, Option<&str>) = match outcome {
            Outcome::Delivered => ("delivered", 1, now, None),
            Outcome::Retry { at, error } => ("pending", 1, at, Some(error)),
            Outcome::Dead { error } => ("dead", 1, now, Some(error)),
            Outcome::Deferred { at } => ("pending", 0, at, None),
        };
        let finished = (state != "pending").then_some(now);
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE webhook_deliveries SET state = $3, attempts = attempts + $4, next_attempt_at = $5,
                   last_error = COALESCE($6, last_error), finished_at = $7, lease_owner = NULL, lease_until = NULL
                 WHERE id = $1 AND lease_owner = $2 AND state = 'pending'",
            )
            .bind(id)
            .bind(owner)
            .bind(state)
            .bind(tried)
            .bind(at)
            .bind(error)
            .bind(finished)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// Deletes calls that finished (delivered or given up) before `before`; returns how many.
    pub async fn prune_deliveries(&self, before: Timestamp) -> Result<u64> {
        Ok(with_pool!(self, |pool| {
            sqlx::query("DELETE FROM webhook_deliveries WHERE state <> 'pending' AND finished_at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}
