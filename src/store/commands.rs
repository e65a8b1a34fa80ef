//! Slash commands of a team: registered, found by trigger, revoked.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, with_pool};
use crate::domain::{CommandId, TeamId, Timestamp, UserId};
use crate::error::{Error, Result};

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
