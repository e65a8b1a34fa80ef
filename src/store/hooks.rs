//! Incoming webhooks: created, listed, found by their secret's hash, revoked (deleted). The secret
//! itself never reaches the database.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, with_pool};
use crate::domain::{ChannelId, HookId, TeamId, Timestamp, UserId};
use crate::error::Result;

/// An incoming webhook as its owner and admins see it (no secret: it is shown once, at creation).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct IncomingHook {
    pub id: HookId,
    pub channel_id: ChannelId,
    /// Who created it; posts through it are theirs.
    pub creator_id: UserId,
    pub display_name: String,
    pub description: String,
    /// Payloads may not post to another channel.
    pub channel_locked: bool,
    pub created_at: Timestamp,
    /// When its URL was last presented (whether or not that request posted).
    pub last_used_at: Option<Timestamp>,
}

/// A hook about to be created.
pub struct NewHook<'a> {
    pub channel: ChannelId,
    pub creator: UserId,
    pub secret_hash: &'a str,
    pub display_name: &'a str,
    pub description: &'a str,
    pub channel_locked: bool,
}

const HOOK_COLUMNS: &str =
    "id, channel_id, creator_id, display_name, description, channel_locked, created_at, last_used_at";

impl Store {
    pub async fn create_incoming_hook(&self, new: NewHook<'_>) -> Result<IncomingHook> {
        let sql = format!(
            "INSERT INTO incoming_hooks (id, secret_hash, channel_id, creator_id, display_name, description, channel_locked, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {HOOK_COLUMNS}"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, IncomingHook>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(HookId::new())
                .bind(new.secret_hash)
                .bind(new.channel)
                .bind(new.creator)
                .bind(new.display_name)
                .bind(new.description)
                .bind(new.channel_locked)
                .bind(Timestamp::now())
                .fetch_one(pool)
                .await?
        }))
    }

    pub async fn incoming_hook(&self, id: HookId) -> Result<Option<IncomingHook>> {
        let sql = format!("SELECT {HOOK_COLUMNS} FROM incoming_hooks WHERE id = $1");
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, IncomingHook>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await?
        }))
    }

    /// The hook whose secret hashes to `secret_hash`, marked used now.
    pub async fn use_incoming_hook(&self, secret_hash: &str) -> Result<Option<IncomingHook>> {
        let sql =
            format!("UPDATE incoming_hooks SET last_used_at = $2 WHERE secret_hash = $1 RETURNING {HOOK_COLUMNS}");
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, IncomingHook>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(secret_hash)
                .bind(Timestamp::now())
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Hooks, oldest first: every hook (`creator` absent) or one user's.
    pub async fn incoming_hooks(
        &self,
        creator: Option<UserId>,
        channel: Option<ChannelId>,
    ) -> Result<Vec<IncomingHook>> {
        let sql = format!(
            "SELECT {HOOK_COLUMNS} FROM incoming_hooks WHERE ($1 IS NULL OR creator_id = $1)
             AND ($2 IS NULL OR channel_id = $2) ORDER BY created_at, id LIMIT 1000"
        );
        let sql = match self.backend() {
            super::Backend::Postgres => {
                sql.replace("$1 IS NULL", "$1::uuid IS NULL").replace("$2 IS NULL", "$2::uuid IS NULL")
            }
            super::Backend::Sqlite => sql,
        };
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, IncomingHook>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(creator)
                .bind(channel)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Deletes a hook; whether it existed.
    pub async fn delete_incoming_hook(&self, id: HookId) -> Result<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM incoming_hooks WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
        });
        Ok(n > 0)
    }

    /// A team channel's id by its URL name.
    pub async fn channel_id_by_name(&self, team: TeamId, name: &str) -> Result<Option<ChannelId>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM channels WHERE team_id = $1 AND name = $2")
                .bind(team)
                .bind(name)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// An account's id by its username (any case).
    pub async fn user_id_by_username(&self, username: &str) -> Result<Option<UserId>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM users WHERE lower(username) = lower($1)")
                .bind(username)
                .fetch_optional(pool)
                .await?
        }))
    }
}
