//! Accounts: create (the first one becomes system admin), look up, update, activate/deactivate.

use super::models::{PublicUser, User};
use super::{Backend, Store, with_pool, with_tx};
use crate::domain::{Email, Timestamp, UserId, Username};
use crate::error::{Error, Result};

macro_rules! user_columns {
    () => {
        "id, username, email, display_name, is_system_admin, is_active, created_at, updated_at, is_bot"
    };
}

/// A user with the password hash, for the login path only.
#[derive(sqlx::FromRow)]
pub struct UserCredentials {
    #[sqlx(flatten)]
    pub user: User,
    pub password_hash: Option<String>,
}

impl Store {
    /// Creates an account; the very first account on a site becomes system admin.
    pub async fn create_user(
        &self,
        username: &Username,
        email: &Email,
        display_name: &str,
        password_hash: Option<&str>,
    ) -> Result<User> {
        self.create_user_with_role(username, email, display_name, password_hash, false).await
    }

    /// [`Store::create_user`], and a system admin whether or not it is the first account when
    /// `system_admin` (the operator's command line creates admins).
    pub async fn create_user_with_role(
        &self,
        username: &Username,
        email: &Email,
        display_name: &str,
        password_hash: Option<&str>,
        system_admin: bool,
    ) -> Result<User> {
        let now = Timestamp::now();
        let backend = self.backend();
        let user = with_tx!(self, |tx| {
            if backend == Backend::Postgres {
                // Serialises concurrent first registrations so only one becomes admin.
                sqlx::query("SELECT pg_advisory_xact_lock(7347001)").execute(&mut *tx).await?;
            }
            let taken: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE username = $1 OR email = $2")
                .bind(username.as_str())
                .bind(email.as_str())
                .fetch_one(&mut *tx)
                .await?;
            if taken > 0 {
                return Err(Error::conflict("username or email is already taken"));
            }
            let first: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM users)").fetch_one(&mut *tx).await?;
            sqlx::query_as::<_, User>(concat!("INSERT INTO users (id, username, email, display_name, password_hash, is_system_admin, is_active, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $7) RETURNING ", user_columns!(), ""))
            .bind(UserId::new())
            .bind(username.as_str())
            .bind(email.as_str())
            .bind(display_name)
            .bind(password_hash)
            .bind(first || system_admin)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
        });
        Ok(user)
    }

    pub async fn user_count(&self) -> Result<i64> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(pool).await?))
    }

    /// By username or email (case-insensitive: both are stored lower-case).
    pub async fn user_credentials(&self, login: &str) -> Result<Option<UserCredentials>> {
        let login = login.trim().to_lowercase();
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, UserCredentials>(concat!(
                "SELECT ",
                user_columns!(),
                ", password_hash FROM users WHERE username = $1 OR email = $1"
            ))
            .bind(&login)
            .fetch_optional(pool)
            .await?
        }))
    }

    pub async fn user_credentials_by_id(&self, id: UserId) -> Result<Option<UserCredentials>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, UserCredentials>(concat!(
                "SELECT ",
                user_columns!(),
                ", password_hash FROM users WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        }))
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, User>(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Every account, by username, `limit` at a time: the page after `after` (a username).
    pub async fn list_users(&self, after: Option<&str>, limit: u32) -> Result<Vec<User>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, User>(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE $1 IS NULL OR username > $1 ORDER BY username LIMIT $2"
            ))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        }))
    }

    /// Users whose username or display name starts with `prefix`, by username.
    pub async fn search_users(&self, prefix: &str, limit: u32) -> Result<Vec<PublicUser>> {
        let pattern = format!("{}%", escape_like(&prefix.trim().to_lowercase()));
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, PublicUser>(
                "SELECT id, username, display_name, is_active, is_bot FROM users
                 WHERE username LIKE $1 ESCAPE '\\' OR lower(display_name) LIKE $1 ESCAPE '\\'
                 ORDER BY username LIMIT $2",
            )
            .bind(pattern)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        }))
    }

    pub async fn update_profile(&self, id: UserId, display_name: Option<&str>, email: Option<&Email>) -> Result<User> {
        let now = Timestamp::now();
        let user = with_pool!(self, |pool| {
            sqlx::query_as::<_, User>(concat!("UPDATE users SET display_name = COALESCE($2, display_name), email = COALESCE($3, email), updated_at = $4
                 WHERE id = $1 RETURNING ", user_columns!(), ""))
            .bind(id)
            .bind(display_name)
            .bind(email.map(Email::as_str))
            .bind(now)
            .fetch_optional(pool)
            .await
            .map_err(|e| match Error::from(e) {
                e if e.code == crate::error::ErrorCode::Conflict => Error::conflict("email is already taken"),
                e => e,
            })?
        });
        user.ok_or_else(|| Error::not_found("user"))
    }

    pub async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<()> {
        let now = Timestamp::now();
        with_pool!(self, |pool| {
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(hash)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Activates or deactivates an account; deactivation also revokes every session.
    pub async fn set_user_active(&self, id: UserId, active: bool) -> Result<User> {
        let now = Timestamp::now();
        let user = with_tx!(self, |tx| {
            let user = sqlx::query_as::<_, User>(concat!(
                "UPDATE users SET is_active = $2, updated_at = $3 WHERE id = $1 RETURNING ",
                user_columns!(),
                ""
            ))
            .bind(id)
            .bind(active)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::not_found("user"))?;
            if !active {
                sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            user
        });
        Ok(user)
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
