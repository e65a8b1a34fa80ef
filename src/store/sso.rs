//! External identities (issuer + subject → account) and single-use values with an expiry, used for
//! OAuth state and exchange codes when the node has no Redis.

use super::models::User;
use super::{Store, with_pool, with_tx};
use crate::domain::{Email, Timestamp, UserId, Username};
use crate::error::Result;

impl Store {
    /// The account linked to an external identity.
    pub async fn user_by_identity(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        let id: Option<UserId> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2")
                .bind(issuer)
                .bind(subject)
                .fetch_optional(pool)
                .await?
        });
        match id {
            Some(id) => self.user(id).await,
            None => Ok(None),
        }
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let creds = self.user_credentials(email).await?;
        Ok(creds.map(|c| c.user).filter(|u| u.email == email.trim().to_lowercase()))
    }

    pub async fn link_identity(&self, issuer: &str, subject: &str, user: UserId) -> Result<()> {
        let now = Timestamp::now();
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO user_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
            )
            .bind(issuer)
            .bind(subject)
            .bind(user)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Creates an SSO-only account (no password hash) under the first free variant of `username`.
    pub async fn create_sso_user(&self, username: &Username, email: &Email, display_name: &str) -> Result<User> {
        for attempt in 0..20u32 {
            let candidate = if attempt == 0 {
                username.clone()
            } else {
                let base: String = username.as_str().chars().take(18).collect();
                Username::parse(&format!("{base}{attempt}"))?
            };
            match self.create_user(&candidate, email, display_name, None).await {
                Ok(user) => return Ok(user),
                Err(e)
                    if e.code == crate::error::ErrorCode::Conflict
                        && self.user_by_email(email.as_str()).await?.is_none() =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(crate::error::Error::conflict("no free username for this account"))
    }

    /// Stores `value` under `key` until `expires_at`.
    pub async fn put_ephemeral(&self, key: &str, value: &str, expires_at: Timestamp) -> Result<()> {
        let now = Timestamp::now();
        with_tx!(self, |tx| {
            sqlx::query("DELETE FROM ephemeral_values WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO ephemeral_values (key, value, expires_at) VALUES ($1, $2, $3)")
                .bind(key)
                .bind(value)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Takes `key`'s value once: it is gone afterwards, and an expired one is never returned.
    pub async fn take_ephemeral(&self, key: &str) -> Result<Option<String>> {
        let now = Timestamp::now();
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar("DELETE FROM ephemeral_values WHERE key = $1 AND expires_at > $2 RETURNING value")
                .bind(key)
                .bind(now)
                .fetch_optional(pool)
                .await?
        }))
    }
}
