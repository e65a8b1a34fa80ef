//! Bot accounts: a user row marked `is_bot`, with no password, and a `bots` row naming its owner.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Backend, Store};
use crate::domain::{Timestamp, UserId, Username};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Bot {
    /// The bot's user id: it posts, reacts and joins channels as this user.
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub description: String,
    pub owner_id: UserId,
    /// False once disabled: its tokens are revoked and it cannot act.
    pub is_active: bool,
    pub created_at: Timestamp,
}

const BOT_COLUMNS: &str =
    "u.id AS user_id, u.username, u.display_name, b.description, b.owner_id, u.is_active, b.created_at";

/// A bot about to be created.
pub struct NewBot<'a> {
    pub username: &'a Username,
    pub display_name: &'a str,
    pub description: &'a str,
    pub owner: UserId,
    /// Refused when the owner already owns this many bots.
    pub max_per_owner: i64,
}

impl Store {
    pub async fn create_bot(&self, new: NewBot<'_>) -> Result<Bot> {
        let now = Timestamp::now();
        let id = UserId::new();
        // Bots have no mailbox; a reserved domain keeps the column unique and never reaches anyone.
        let email = format!("{}@bots.invalid", new.username.as_str());
        let backend = self.backend();
        with_tx!(self, |tx| {
            if backend == Backend::Postgres {
                // The same lock as account creation: a username is checked and taken atomically.
                sqlx::query("SELECT pg_advisory_xact_lock(7347001)").execute(&mut *tx).await?;
            }
            let owned: i64 = sqlx::query_scalar("SELECT count(*) FROM bots WHERE owner_id = $1")
                .bind(new.owner)
                .fetch_one(&mut *tx)
                .await?;
            if owned >= new.max_per_owner {
                return Err(Error::conflict(format!("at most {} bots per owner", new.max_per_owner)));
            }
            let taken: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE username = $1 OR email = $2")
                .bind(new.username.as_str())
                .bind(&email)
                .fetch_one(&mut *tx)
                .await?;
            if taken > 0 {
                return Err(Error::conflict("username is already taken"));
            }
            sqlx::query(
                "INSERT INTO users (id, username, email, display_name, password_hash, is_system_admin, is_active, created_at, updated_at, is_bot)
                 VALUES ($1, $2, $3, $4, NULL, FALSE, TRUE, $5, $5, TRUE)",
            )
            .bind(id)
            .bind(new.username.as_str())
            .bind(&email)
            .bind(new.display_name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO bots (user_id, owner_id, description, created_at) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(new.owner)
                .bind(new.description)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        });
        self.bot(id).await?.ok_or_else(|| Error::not_found("bot"))
    }

    pub async fn bot(&self, id: UserId) -> Result<Option<Bot>> {
        let sql = format!("SELECT {BOT_COLUMNS} FROM bots b JOIN users u ON u.id = b.user_id WHERE b.user_id = $1");
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, Bot>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await?
        }))
    }

    /// The bots `owner` owns, or every bot when `None`, by username.
    pub async fn bots(&self, owner: Option<UserId>) -> Result<Vec<Bot>> {
        let sql = format!(
            "SELECT {BOT_COLUMNS} FROM bots b JOIN users u ON u.id = b.user_id
             WHERE $1 IS NULL OR b.owner_id = $1 ORDER BY u.username LIMIT 1000"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, Bot>(sqlx::AssertSqlSafe(sql.clone())).bind(owner).fetch_all(pool).await?
        }))
    }

    /// The ids of the bots `owner` owns.
    pub async fn bots_owned_by(&self, owner: UserId) -> Result<Vec<UserId>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT user_id FROM bots WHERE owner_id = $1").bind(owner).fetch_all(pool).await?
        }))
    }

    /// Changes a bot's display name and description (each when given).
    pub async fn update_bot(&self, id: UserId, display_name: Option<&str>, description: Option<&str>) -> Result<()> {
        let now = Timestamp::now();
        with_tx!(self, |tx| {
            sqlx::query(
                "UPDATE users SET display_name = COALESCE($2, display_name), updated_at = $3 WHERE id = $1 AND is_bot",
            )
            .bind(id)
            .bind(display_name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE bots SET description = COALESCE($2, description) WHERE user_id = $1")
                .bind(id)
                .bind(description)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }
}
