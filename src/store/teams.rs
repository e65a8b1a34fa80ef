//! Teams and their members. Leaving or being removed from a team also removes the user from every
//! channel of that team (with a `member_removed` event in each).

use super::change::{Change, ChannelEvent};
use super::events::append_event;
use super::models::{Team, TeamMember};
use super::{Store, with_pool, with_tx};
use crate::domain::{ChannelId, Role, Slug, TeamId, Timestamp, UserId};
use crate::error::{Error, Result};

macro_rules! team_columns {
    () => {
        "t.id, t.name, t.display_name, t.description, t.open, t.created_by, t.created_at"
    };
}

impl Store {
    /// Creates a team with `creator` as its admin.
    pub async fn create_team(
        &self,
        name: &Slug,
        display_name: &str,
        description: &str,
        open: bool,
        creator: UserId,
    ) -> Result<Team> {
        let now = Timestamp::now();
        let id = TeamId::new();
        Ok(with_tx!(self, |tx| {
            let team = sqlx::query_as::<_, Team>(
                "INSERT INTO teams (id, name, display_name, description, open, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 RETURNING id, name, display_name, description, open, created_by, created_at",
            )
            .bind(id)
            .bind(name.as_str())
            .bind(display_name)
            .bind(description)
            .bind(open)
            .bind(creator)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| conflict_as(e, "a team with this name already exists"))?;
            sqlx::query("INSERT INTO team_members (team_id, user_id, role, joined_at) VALUES ($1, $2, 'admin', $3)")
                .bind(id)
                .bind(creator)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            team
        }))
    }

    pub async fn team(&self, id: TeamId) -> Result<Option<Team>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, Team>(concat!("SELECT ", team_columns!(), " FROM teams t WHERE t.id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Teams `user` belongs to, by name.
    pub async fn teams_of(&self, user: UserId) -> Result<Vec<Team>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, Team>(concat!(
                "SELECT ",
                team_columns!(),
                " FROM teams t JOIN team_members m ON m.team_id = t.id WHERE m.user_id = $1 ORDER BY t.name"
            ))
            .bind(user)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Open teams `user` could join.
    pub async fn joinable_teams(&self, user: UserId) -> Result<Vec<Team>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, Team>(concat!(
                "SELECT ",
                team_columns!(),
                " FROM teams t WHERE t.open AND NOT EXISTS
                   (SELECT 1 FROM team_members m WHERE m.team_id = t.id AND m.user_id = $1)
                 ORDER BY t.name"
            ))
            .bind(user)
            .fetch_all(pool)
            .await?
        }))
    }

    pub async fn team_role(&self, team: TeamId, user: UserId) -> Result<Option<Role>> {
        let role: Option<String> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2")
                .bind(team)
                .bind(user)
                .fetch_optional(pool)
                .await?
        });
        role.map(Role::try_from).transpose().map_err(|e| Error::internal(anyhow::anyhow!(e)))
    }

    pub async fn team_members(&self, team: TeamId) -> Result<Vec<TeamMember>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, TeamMember>(
                "SELECT m.team_id, m.user_id, u.username, u.display_name, m.role, m.joined_at
                 FROM team_members m JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 ORDER BY u.username",
            )
            .bind(team)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Adds `user` to `team`; `false` when already a member.
    pub async fn add_team_member(&self, team: TeamId, user: UserId, role: Role) -> Result<bool> {
        let now = Timestamp::now();
        let done = with_pool!(self, |pool| {
            sqlx::query("INSERT INTO team_members (team_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                .bind(team)
                .bind(user)
                .bind(role.as_str())
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Removes `user` from `team` and from each of its channels; returns the `member_removed` event of
    /// each channel left, as written.
    pub async fn remove_team_member(&self, team: TeamId, user: UserId) -> Result<Vec<ChannelEvent>> {
        let now = Timestamp::now();
        Ok(with_tx!(self, |tx| {
            let removed = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
                .bind(team)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                return Err(Error::not_found("team member"));
            }
            let channels: Vec<ChannelId> = sqlx::query_scalar(
                "SELECT m.channel_id FROM channel_members m JOIN channels c ON c.id = m.channel_id
                 WHERE c.team_id = $1 AND m.user_id = $2 ORDER BY m.channel_id",
            )
            .bind(team)
            .bind(user)
            .fetch_all(&mut *tx)
            .await?;
            let mut left = Vec::with_capacity(channels.len());
            for channel in channels {
                sqlx::query("DELETE FROM channel_members WHERE channel_id = $1 AND user_id = $2")
                    .bind(channel)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
                left.push(append_event!(tx, channel, Change::MemberRemoved { user_id: user }, now));
            }
            left
        }))
    }

    /// Records an invite code (stored hashed) for registration, optionally into a team.
    pub async fn create_invite(
        &self,
        code_hash: &str,
        team: Option<TeamId>,
        by: UserId,
        max_uses: i32,
        expires_at: Timestamp,
    ) -> Result<()> {
        let now = Timestamp::now();
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO invites (id, code_hash, team_id, created_by, max_uses, uses, expires_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
            )
            .bind(uuid::Uuid::now_v7())
            .bind(code_hash)
            .bind(team)
            .bind(by)
            .bind(max_uses)
            .bind(expires_at)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Uses one invite; returns its team (if any), or `None` when the code is unknown, spent or expired.
    pub async fn redeem_invite(&self, code_hash: &str) -> Result<Option<Option<TeamId>>> {
        let now = Timestamp::now();
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar::<_, Option<TeamId>>(
                "UPDATE invites SET uses = uses + 1 WHERE code_hash = $1 AND uses < max_uses AND expires_at > $2 RETURNING team_id",
            )
            .bind(code_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }
}

/// Maps a unique violation to a conflict with `message`.
pub(crate) fn conflict_as(e: sqlx::Error, message: &str) -> Error {
    let e = Error::from(e);
    if e.code == crate::error::ErrorCode::Conflict { Error::conflict(message) } else { e }
}
