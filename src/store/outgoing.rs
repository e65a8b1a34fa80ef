//! Outgoing webhooks: what a team's hooks are and which a channel's posts trigger. Their calls are
//! `deliveries`; slash commands are `commands`.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, with_pool, with_tx};
use crate::domain::{ChannelId, OutgoingHookId, TeamId, Timestamp, UserId};
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
}
