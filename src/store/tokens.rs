//! Personal access tokens: each opens a session of its own (`access_tokens.id` is that session's id),
//! so revoking one is revoking its session, which every check of a session already honours. Only the
//! SHA-256 of the secret is stored.

use serde::Serialize;
use utoipa::ToSchema;

use super::Store;
use super::sessions::{SessionUser, live_session};
use crate::domain::{SessionId, Timestamp, UserId};
use crate::error::{Error, Result};

/// A token as its owner lists it: never the secret.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct AccessToken {
    pub id: SessionId,
    pub user_id: UserId,
    pub name: String,
    /// Who created it: the user, or for a bot its owner or an admin.
    pub created_by: UserId,
    pub created_at: Timestamp,
    /// Updated at most once a minute.
    pub last_used_at: Option<Timestamp>,
}

/// A token's session and user, with what checking the presented secret needs.
#[derive(Debug, sqlx::FromRow)]
pub struct TokenSession {
    #[sqlx(flatten)]
    pub session: SessionUser,
    pub token_hash: String,
    pub last_used_at: Option<Timestamp>,
}

/// A new token's row.
pub struct NewToken<'a> {
    pub id: SessionId,
    pub user: UserId,
    pub name: &'a str,
    pub hash: &'a str,
    pub created_by: UserId,
    /// Refused when the user already holds this many live tokens.
    pub max_per_user: i64,
}

const TOKEN_COLUMNS: &str = "t.id, t.user_id, t.name, t.created_by, t.created_at, t.last_used_at";

/// How long a token's session lasts: tokens do not expire, they are revoked.
const TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);

impl Store {
    /// Creates a token and the session it opens, unless the user holds `max_per_user` live ones.
    pub async fn create_access_token(&self, new: NewToken<'_>, secret_id: &str) -> Result<AccessToken> {
        let now = Timestamp::now();
        let expires = now.plus(TOKEN_LIFETIME);
        let token = with_tx!(self, |tx| {
            let held: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM access_tokens t JOIN sessions s ON s.id = t.id
                 WHERE t.user_id = $1 AND s.revoked_at IS NULL",
            )
            .bind(new.user)
            .fetch_one(&mut *tx)
            .await?;
            if held >= new.max_per_user {
                return Err(Error::conflict(format!(
                    "at most {} access tokens per user: revoke one first",
                    new.max_per_user
                )));
            }
            // No refresh token ever names this session: its refresh hash matches no secret's.
            sqlx::query(
                "INSERT INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, expires_at, user_agent, secret_id)
                 VALUES ($1, $2, '', $3, $3, $4, 'personal access token', $5)",
            )
            .bind(new.id)
            .bind(new.user)
            .bind(now)
            .bind(expires)
            .bind(secret_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query_as::<_, AccessToken>(
                "INSERT INTO access_tokens (id, user_id, name, token_hash, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 RETURNING id, user_id, name, created_by, created_at, last_used_at",
            )
            .bind(new.id)
            .bind(new.user)
            .bind(new.name)
            .bind(new.hash)
            .bind(new.created_by)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
        });
        Ok(token)
    }

    /// The user's live tokens, newest first.
    pub async fn access_tokens(&self, user: UserId) -> Result<Vec<AccessToken>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM access_tokens t JOIN sessions s ON s.id = t.id
             WHERE t.user_id = $1 AND s.revoked_at IS NULL ORDER BY t.created_at DESC, t.id"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, AccessToken>(sqlx::AssertSqlSafe(sql.clone())).bind(user).fetch_all(pool).await?
        }))
    }

    /// A live token.
    pub async fn access_token(&self, id: SessionId) -> Result<Option<AccessToken>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM access_tokens t JOIN sessions s ON s.id = t.id
             WHERE t.id = $1 AND s.revoked_at IS NULL"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, AccessToken>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await?
        }))
    }

    /// What checking a presented token at `now` needs.
    pub async fn token_session(&self, id: SessionId, now: Timestamp) -> Result<Option<TokenSession>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, TokenSession>(concat!(
                "SELECT u.id, u.username, u.email, u.display_name, u.is_system_admin, u.is_active, u.created_at, u.updated_at,
                        u.is_bot, s.revoked_at, s.expires_at, ",
                live_session!("$2"),
                " AS live, t.token_hash, t.last_used_at
                 FROM access_tokens t JOIN sessions s ON s.id = t.id JOIN users u ON u.id = s.user_id WHERE t.id = $1"
            ))
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Records a use at `now` unless one since `since` is recorded; whether this call recorded it
    /// (of several nodes racing, one does).
    pub async fn touch_access_token(&self, id: SessionId, now: Timestamp, since: Timestamp) -> Result<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE access_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
            )
            .bind(id)
            .bind(now)
            .bind(since)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
    }

    /// Revokes the token sessions of `users` (a deactivated owner's bots); returns the users that had
    /// a live one.
    pub async fn revoke_tokens_of(&self, users: &[UserId]) -> Result<Vec<UserId>> {
        let now = Timestamp::now();
        let mut ended = Vec::new();
        for user in users {
            let done = with_pool!(self, |pool| {
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $2
                     WHERE user_id = $1 AND revoked_at IS NULL AND id IN (SELECT id FROM access_tokens WHERE user_id = $1)",
                )
                .bind(*user)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
            });
            if done > 0 {
                ended.push(*user);
            }
        }
        Ok(ended)
    }
}
