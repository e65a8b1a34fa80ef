//! Outgoing integrations: outgoing webhooks, slash commands, the triggers a post leaves for the
//! outbox (written in the post's transaction, see `posts::create`), and the outbox of calls itself.
//! A delivery row is claimed with a lease: `FOR UPDATE SKIP LOCKED` on PostgreSQL, so nodes never
//! claim the same row at once; SQLite serialises writers anyway (and runs one node).

use serde::Serialize;
use utoipa::ToSchema;

use super::{Pool, Store, with_pool, with_tx};
use crate::domain::{ChannelId, CommandId, DeliveryId, OutgoingHookId, PostId, TeamId, Timestamp, UserId};
use crate::error::{Error, Result};

/// An outgoing webhook as its owners see it (the token included: it is theirs to check requests with).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutgoingHook {
    pub id: OutgoingHookId,
    pub team_id: TeamId,
    /// `None`: every public channel of the team (trigger words are then required).
    pub channel_id: Option<ChannelId>,
    pub creator_id: UserId,
    pub display_name: String,
    pub description: String,
    pub trigger_words: Vec<String>,
    /// 0: the first word equals a trigger word; 1: the message starts with one.
    pub trigger_when: i16,
    pub callback_urls: Vec<String>,
    /// `application/json` or `application/x-www-form-urlencoded`.
    pub content_type: String,
    pub token: String,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct HookRow {
    id: OutgoingHookId,
    team_id: TeamId,
    channel_id: Option<ChannelId>,
    creator_id: UserId,
    display_name: String,
    description: String,
    trigger_words: String,
    trigger_when: i16,
    callback_urls: String,
    content_type: String,
    token: String,
    created_at: Timestamp,
}

impl From<HookRow> for OutgoingHook {
    fn from(r: HookRow) -> Self {
        OutgoingHook {
            id: r.id,
            team_id: r.team_id,
            channel_id: r.channel_id,
            creator_id: r.creator_id,
            display_name: r.display_name,
            description: r.description,
            trigger_words: serde_json::from_str(&r.trigger_words).unwrap_or_default(),
            trigger_when: r.trigger_when,
            callback_urls: serde_json::from_str(&r.callback_urls).unwrap_or_default(),
            content_type: r.content_type,
            token: r.token,
            created_at: r.created_at,
        }
    }
}

const HOOK_COLUMNS: &str = "id, team_id, channel_id, creator_id, display_name, description, trigger_words, \
     trigger_when, callback_urls, content_type, token, created_at";

/// A slash command of a team.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Command {
    pub id: CommandId,
    pub team_id: TeamId,
    pub creator_id: UserId,
    /// The word after `/`.
    pub trigger: String,
    pub url: String,
    /// `POST` or `GET`.
    pub method: String,
    pub token: String,
    pub display_name: String,
    pub description: String,
    pub auto_complete: bool,
    pub auto_complete_hint: String,
    pub created_at: Timestamp,
}

const COMMAND_COLUMNS: &str = "id, team_id, creator_id, trigger, url, method, token, display_name, description, \
     auto_complete, auto_complete_hint, created_at";

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

/// An outgoing webhook about to be stored.
pub struct NewOutgoingHook<'a> {
    pub team_id: TeamId,
    pub channel_id: Option<ChannelId>,
    pub creator_id: UserId,
    pub display_name: &'a str,
    pub description: &'a str,
    pub trigger_words: &'a [String],
    pub trigger_when: i16,
    pub callback_urls: &'a [String],
    pub content_type: &'a str,
    pub token: &'a str,
}

/// A slash command about to be stored.
pub struct NewCommand<'a> {
    pub team_id: TeamId,
    pub creator_id: UserId,
    pub trigger: &'a str,
    pub url: &'a str,
    pub method: &'a str,
    pub token: &'a str,
    pub display_name: &'a str,
    pub description: &'a str,
    pub auto_complete: bool,
    pub auto_complete_hint: &'a str,
}

impl Store {
    pub async fn create_outgoing_hook(&self, new: NewOutgoingHook<'_>) -> Result<OutgoingHook> {
        let words = serde_json::to_string(new.trigger_words).map_err(Error::internal)?;
        let urls = serde_json::to_string(new.callback_urls).map_err(Error::internal)?;
        let sql = format!(
            "INSERT INTO outgoing_webhooks (id, team_id, channel_id, creator_id, display_name, description,
               trigger_words, trigger_when, callback_urls, content_type, token, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {HOOK_COLUMNS}"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, HookRow>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(OutgoingHookId::new())
                .bind(new.team_id)
                .bind(new.channel_id)
                .bind(new.creator_id)
                .bind(new.display_name)
                .bind(new.description)
                .bind(&words)
                .bind(new.trigger_when)
                .bind(&urls)
                .bind(new.content_type)
                .bind(new.token)
                .bind(Timestamp::now())
                .fetch_one(pool)
                .await?
        });
        Ok(row.into())
    }

    /// A live (not revoked) outgoing webhook.
    pub async fn outgoing_hook(&self, id: OutgoingHookId) -> Result<Option<OutgoingHook>> {
        let sql = format!("SELECT {HOOK_COLUMNS} FROM outgoing_webhooks WHERE id = $1 AND revoked_at IS NULL");
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, HookRow>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await?
        });
        Ok(row.map(Into::into))
    }

    pub async fn team_outgoing_hooks(&self, team: TeamId) -> Result<Vec<OutgoingHook>> {
        let sql = format!(
            "SELECT {HOOK_COLUMNS} FROM outgoing_webhooks WHERE team_id = $1 AND revoked_at IS NULL ORDER BY created_at"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, HookRow>(sqlx::AssertSqlSafe(sql.clone())).bind(team).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The live hooks a post in `channel` may trigger: the channel's own, and the team-wide ones when
    /// the channel is public; a deactivated creator's hooks are silent.
    pub async fn hooks_for_channel(&self, channel: ChannelId) -> Result<Vec<OutgoingHook>> {
        let sql = format!(
            "SELECT {} FROM outgoing_webhooks w JOIN channels c ON c.team_id = w.team_id
               JOIN users u ON u.id = w.creator_id AND u.is_active
             WHERE c.id = $1 AND w.revoked_at IS NULL
               AND (w.channel_id = $1 OR (w.channel_id IS NULL AND c.kind = 'public'))
             ORDER BY w.created_at",
            HOOK_COLUMNS.split(", ").map(|c| format!("w.{c}")).collect::<Vec<_>>().join(", ")
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, HookRow>(sqlx::AssertSqlSafe(sql.clone())).bind(channel).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Revokes a hook; its pending calls are given up with it. `false` when it was not live.
    pub async fn revoke_outgoing_hook(&self, id: OutgoingHookId) -> Result<bool> {
        let now = Timestamp::now();
        with_tx!(self, |tx| {
            let n = sqlx::query("UPDATE outgoing_webhooks SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "UPDATE webhook_deliveries SET state = 'dead', last_error = 'webhook revoked', finished_at = $2
                 WHERE hook_id = $1 AND state = 'pending'",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Ok::<bool, Error>(n > 0)
        })
    }

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

    pub async fn create_command(&self, new: NewCommand<'_>) -> Result<Command> {
        let sql = format!(
            "INSERT INTO slash_commands (id, team_id, creator_id, trigger, url, method, token, display_name,
               description, auto_complete, auto_complete_hint, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {COMMAND_COLUMNS}"
        );
        let result = with_pool!(self, |pool| {
            sqlx::query_as::<_, Command>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(CommandId::new())
                .bind(new.team_id)
                .bind(new.creator_id)
                .bind(new.trigger)
                .bind(new.url)
                .bind(new.method)
                .bind(new.token)
                .bind(new.display_name)
                .bind(new.description)
                .bind(new.auto_complete)
                .bind(new.auto_complete_hint)
                .bind(Timestamp::now())
                .fetch_one(pool)
                .await
        });
        result.map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                Error::conflict(format!("the team already has a command /{}", new.trigger))
            }
            _ => e.into(),
        })
    }

    pub async fn command(&self, id: CommandId) -> Result<Option<Command>> {
        let sql = format!("SELECT {COMMAND_COLUMNS} FROM slash_commands WHERE id = $1 AND revoked_at IS NULL");
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, Command>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await?
        }))
    }

    pub async fn command_by_trigger(&self, team: TeamId, trigger: &str) -> Result<Option<Command>> {
        let sql = format!(
            "SELECT {COMMAND_COLUMNS} FROM slash_commands WHERE team_id = $1 AND trigger = $2 AND revoked_at IS NULL"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, Command>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(team)
                .bind(trigger)
                .fetch_optional(pool)
                .await?
        }))
    }

    pub async fn team_commands(&self, team: TeamId) -> Result<Vec<Command>> {
        let sql = format!(
            "SELECT {COMMAND_COLUMNS} FROM slash_commands WHERE team_id = $1 AND revoked_at IS NULL ORDER BY trigger"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, Command>(sqlx::AssertSqlSafe(sql.clone())).bind(team).fetch_all(pool).await?
        }))
    }

    pub async fn revoke_command(&self, id: CommandId) -> Result<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query("UPDATE slash_commands SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(Timestamp::now())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }
}
