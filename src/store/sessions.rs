//! Login sessions. A refresh token is `<session id>.<secret>`; only SHA-256 of the secret is stored.
//! Each refresh rotates the secret; presenting the previous secret again means the token was copied,
//! so the session is revoked (refresh-token reuse detection).

use super::models::User;
use super::{Store, with_pg, with_pool, with_tx};
use crate::domain::{SessionId, Timestamp, UserId};
use crate::error::Result;

/// The rule "a login still gives the right to act": its session is neither revoked nor expired, and its
/// user is active. SQL over `sessions s JOIN users u`, `$now` being the placeholder of the current time.
/// Every check of a session uses this one text: the access-token check ([`Store::session_user`]), the
/// sockets' sweep ([`Store::live_sessions`]) and the one-statement post (`store/posts.rs`), so they
/// cannot disagree (`tests/api/post_rules.rs` runs them side by side).
macro_rules! live_session {
    ($now:literal) => {
        concat!("(s.revoked_at IS NULL AND s.expires_at > ", $now, " AND u.is_active)")
    };
}
pub(crate) use live_session;

/// The state of a session as an access token's check needs it.
#[derive(Debug, sqlx::FromRow)]
pub struct SessionUser {
    #[sqlx(flatten)]
    pub user: User,
    /// [`live_session!`], as the database answered it.
    pub live: bool,
    pub revoked_at: Option<Timestamp>,
    pub expires_at: Timestamp,
}

impl SessionUser {
    /// Why the session is no longer live, for the log; the decision itself is `live`. `now` is the
    /// time the check was made with.
    pub fn why_not_live(&self, now: Timestamp) -> &'static str {
        if self.revoked_at.is_some() {
            "session revoked"
        } else if self.expires_at <= now {
            "session expired"
        } else if !self.user.is_active {
            "user deactivated"
        } else {
            "session no longer valid"
        }
    }
}

/// What presenting a refresh token did.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    Rotated(UserId),
    /// The previous secret was presented again: the session (of this user) is now revoked.
    Reused(UserId),
    Invalid,
}

impl Store {
    pub async fn create_session(
        &self,
        user: UserId,
        refresh_hash: &str,
        expires_at: Timestamp,
        user_agent: &str,
        secret_id: &str,
    ) -> Result<SessionId> {
        let id = SessionId::new();
        let now = Timestamp::now();
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, expires_at, user_agent, secret_id)
                 VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(user)
            .bind(refresh_hash)
            .bind(now)
            .bind(expires_at)
            .bind(user_agent)
            .bind(secret_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(id)
    }

    /// The session and its user, for checking an access token at `now`.
    pub async fn session_user(&self, id: SessionId, now: Timestamp) -> Result<Option<SessionUser>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, SessionUser>(concat!(
                "SELECT u.id, u.username, u.email, u.display_name, u.is_system_admin, u.is_active, u.created_at, u.updated_at,
                        u.is_bot, s.revoked_at, s.expires_at, ",
                live_session!("$2"),
                " AS live FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"
            ))
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Those of `ids` that still give the right to read: not revoked, not expired, their user active.
    pub async fn live_sessions(&self, ids: &[SessionId]) -> Result<std::collections::HashSet<SessionId>> {
        let now = Timestamp::now();
        // Every node asks this of all its sockets' logins at each sweep (every 5 s): on PostgreSQL one
        // statement over an array, one pass over the users instead of one per 500 ids (for 5 000
        // sockets, ~20 ms of the database's time instead of ~47 ms in ten round trips).
        if let Some(rows) = with_pg!(self, |pool| {
            let array: Vec<uuid::Uuid> = ids.iter().map(|s| s.0).collect();
            sqlx::query_scalar::<_, SessionId>(concat!(
                "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ANY($2) AND ",
                live_session!("$1")
            ))
            .bind(now)
            .bind(array.as_slice())
            .fetch_all(pool)
            .await?
        }) {
            return Ok(rows.into_iter().collect());
        }
        let mut live = std::collections::HashSet::with_capacity(ids.len());
        // Bounded IN lists keep every statement well under both backends' parameter limits.
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (2..=chunk.len() + 1).map(|i| format!("${i}")).collect();
            let sql = format!(
                concat!(
                    "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id IN ({}) AND ",
                    live_session!("$1")
                ),
                placeholders.join(", ")
            );
            let rows: Vec<SessionId> = with_pool!(self, |pool| {
                let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone())).bind(now);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(pool).await?
            });
            live.extend(rows);
        }
        Ok(live)
    }

    /// Swaps `presented` for `next` when `presented` is the session's current secret.
    pub async fn rotate_refresh(
        &self,
        id: SessionId,
        presented: &str,
        next: &str,
        expires_at: Timestamp,
        secrets: (&str, Option<&str>),
    ) -> Result<RefreshOutcome> {
        // A session opened under a JWT secret that is neither the current nor the previous one ended
        // with that secret (the runbook's rotation logs everyone out unless the previous is given).
        let (current, previous) = (secrets.0, secrets.1.unwrap_or(secrets.0));
        let now = Timestamp::now();
        Ok(with_tx!(self, |tx| {
            let rotated: Option<UserId> = sqlx::query_scalar(
                "UPDATE sessions SET prev_refresh_hash = refresh_hash, refresh_hash = $3, refreshed_at = $4, expires_at = $5,
                   secret_id = $6
                 WHERE id = $1 AND refresh_hash = $2 AND revoked_at IS NULL AND expires_at > $4
                   AND secret_id IN ($6, $7, '')
                 RETURNING user_id",
            )
            .bind(id)
            .bind(presented)
            .bind(next)
            .bind(now)
            .bind(expires_at)
            .bind(current)
            .bind(previous)
            .fetch_optional(&mut *tx)
            .await?;
            match rotated {
                Some(user) => RefreshOutcome::Rotated(user),
                None => {
                    let revoked: Option<UserId> = sqlx::query_scalar(
                        "UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND prev_refresh_hash = $2 AND revoked_at IS NULL
                         RETURNING user_id",
                    )
                    .bind(id)
                    .bind(presented)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    revoked.map_or(RefreshOutcome::Invalid, RefreshOutcome::Reused)
                }
            }
        }))
    }

    pub async fn revoke_session(&self, id: SessionId) -> Result<()> {
        let now = Timestamp::now();
        with_pool!(self, |pool| {
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Revokes every session of `user`; returns how many were live.
    pub async fn revoke_sessions(&self, user: UserId) -> Result<u64> {
        let now = Timestamp::now();
        let done = with_pool!(self, |pool| {
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(user)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }

    /// Revokes every session of `user` except `keep`.
    pub async fn revoke_other_sessions(&self, user: UserId, keep: SessionId) -> Result<u64> {
        let now = Timestamp::now();
        let done = with_pool!(self, |pool| {
            sqlx::query("UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL")
                .bind(user)
                .bind(keep)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }
}
