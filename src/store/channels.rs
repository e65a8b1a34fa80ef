//! Channels (public, private, direct, group), their members and each member's read state.
//! Membership changes and channel updates append to the channel's event log in the same transaction.

use super::change::{Change, ChannelEvent};
use super::events::{append_event, insert_event};
use super::models::{Channel, ChannelMember, MyChannel, ReadState};
use super::{Store, with_pool, with_tx};
use crate::domain::{ChannelId, ChannelKind, Role, Slug, TeamId, Timestamp, UserId};
use crate::error::{Error, Result};

/// A channel and where one user stands in it.
pub struct ChannelStanding {
    pub channel: Channel,
    pub channel_role: Option<Role>,
    pub team_role: Option<Role>,
}

#[derive(sqlx::FromRow)]
struct StandingRow {
    #[sqlx(flatten)]
    channel: Channel,
    channel_role: Option<String>,
    team_role: Option<String>,
}

/// Inserts a channel member (inside a transaction).
macro_rules! insert_member {
    ($tx:expr, $channel:expr, $user:expr, $role:expr, $now:expr) => {
        sqlx::query("INSERT INTO channel_members (channel_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)")
            .bind($channel)
            .bind($user)
            .bind($role.as_str())
            .bind($now)
            .execute(&mut *$tx)
            .await?
    };
}

macro_rules! channel_columns {
    () => {
        "c.id, c.team_id, c.kind, c.name, c.display_name, c.purpose, c.header, c.created_by, c.created_at,
         c.updated_at, c.archived_at, c.last_seq, c.total_msg_count, c.last_post_at"
    };
    (bare) => {
        "id, team_id, kind, name, display_name, purpose, header, created_by, created_at,
         updated_at, archived_at, last_seq, total_msg_count, last_post_at"
    };
}

/// What a new team channel is made of.
pub struct NewChannel<'a> {
    pub team: TeamId,
    pub kind: ChannelKind,
    pub name: &'a Slug,
    pub display_name: &'a str,
    pub purpose: &'a str,
    pub header: &'a str,
    pub creator: UserId,
}

/// Fields of a channel that can change; `None` keeps the current value.
#[derive(Default)]
pub struct ChannelPatch<'a> {
    pub name: Option<&'a Slug>,
    pub display_name: Option<&'a str>,
    pub purpose: Option<&'a str>,
    pub header: Option<&'a str>,
}

impl Store {
    /// Creates a team channel with its creator as admin member; returns it with its first event
    /// (`member_added`, seq 1) as written.
    pub async fn create_channel(&self, new: NewChannel<'_>) -> Result<(Channel, ChannelEvent)> {
        let now = Timestamp::now();
        let id = ChannelId::new();
        let event = with_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO channels (id, team_id, kind, name, display_name, purpose, header, created_by, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            )
            .bind(id)
            .bind(new.team)
            .bind(new.kind.as_str())
            .bind(new.name.as_str())
            .bind(new.display_name)
            .bind(new.purpose)
            .bind(new.header)
            .bind(new.creator)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| super::teams::conflict_as(e, "a channel with this name already exists in the team"))?;
            insert_member!(tx, id, new.creator, Role::Admin, now);
            append_event!(tx, id, Change::MemberAdded { user_id: new.creator }, now)
        });
        Ok((self.channel(id).await?.ok_or_else(|| Error::not_found("channel"))?, event))
    }

    /// The direct channel between two users, created on first use (one per pair).
    pub async fn direct_channel(&self, a: UserId, b: UserId) -> Result<(Channel, Vec<ChannelEvent>)> {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let key = format!("d:{lo}:{hi}");
        self.conversation(&key, ChannelKind::Direct, &format!("{lo}__{hi}"), a, &[lo, hi]).await
    }

    /// The group channel of exactly these users (3–8), created on first use.
    pub async fn group_channel(&self, creator: UserId, members: &[UserId]) -> Result<(Channel, Vec<ChannelEvent>)> {
        let mut sorted = members.to_vec();
        sorted.sort();
        sorted.dedup();
        let key = format!("g:{}", sorted.iter().map(ToString::to_string).collect::<Vec<_>>().join(","));
        let digest = <sha2::Sha256 as sha2::Digest>::digest(key.as_bytes());
        let name = format!("group-{}", &hex::encode(digest)[..16]);
        self.conversation(&key, ChannelKind::Group, &name, creator, &sorted).await
    }

    /// The conversation of `members` (its `key` names them), created on first use, with its founding
    /// events: each member joining, in `members` order, at seqs 1..=n, at the time it was created. Those
    /// are what the creating transaction wrote, whichever request it was, so they are returned without
    /// reading them back; publishing them again on a later open is harmless (sessions drop seqs they
    /// have) and subscribes members whose sessions missed the first announcement.
    async fn conversation(
        &self,
        key: &str,
        kind: ChannelKind,
        name: &str,
        creator: UserId,
        members: &[UserId],
    ) -> Result<(Channel, Vec<ChannelEvent>)> {
        let founding = |channel: Channel| {
            let events = (1..)
                .zip(members)
                .map(|(seq, &user_id)| ChannelEvent {
                    channel_id: channel.id,
                    seq,
                    created_at: channel.created_at,
                    change: Change::MemberAdded { user_id },
                })
                .collect();
            (channel, events)
        };
        if let Some(c) = self.channel_by_key(key).await? {
            return Ok(founding(c));
        }
        let now = Timestamp::now();
        let id = ChannelId::new();
        let created: Result<()> = async {
            with_tx!(self, |tx| {
                sqlx::query(
                    "INSERT INTO channels (id, team_id, kind, name, display_name, member_key, created_by, created_at, updated_at)
                     VALUES ($1, NULL, $2, $3, '', $4, $5, $6, $6)",
                )
                .bind(id)
                .bind(kind.as_str())
                .bind(name)
                .bind(key)
                .bind(creator)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                for &m in members {
                    insert_member!(tx, id, m, Role::Member, now);
                    append_event!(tx, id, Change::MemberAdded { user_id: m }, now);
                }
            });
            Ok(())
        }
        .await;
        match created {
            Ok(()) => {}
            // Another request created the same conversation first: use theirs.
            Err(e) if e.code == crate::error::ErrorCode::Conflict => {}
            Err(e) => return Err(e),
        }
        Ok(founding(self.channel_by_key(key).await?.ok_or_else(|| Error::not_found("channel"))?))
    }

    async fn channel_by_key(&self, key: &str) -> Result<Option<Channel>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, Channel>(concat!(
                "SELECT ",
                channel_columns!(),
                " FROM channels c WHERE c.member_key = $1"
            ))
            .bind(key)
            .fetch_optional(pool)
            .await?
        }))
    }

    pub async fn channel(&self, id: ChannelId) -> Result<Option<Channel>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, Channel>(concat!("SELECT ", channel_columns!(), " FROM channels c WHERE c.id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Channels of `team` that `user` may see: every public one, and private ones they belong to.
    pub async fn team_channels(&self, team: TeamId, user: UserId, include_archived: bool) -> Result<Vec<Channel>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, Channel>(concat!(
                "SELECT ",
                channel_columns!(),
                " FROM channels c WHERE c.team_id = $1
                   AND (c.kind = 'public' OR EXISTS (SELECT 1 FROM channel_members m WHERE m.channel_id = c.id AND m.user_id = $2))
                   AND ($3 OR c.archived_at IS NULL)
                 ORDER BY c.name"
            ))
            .bind(team)
            .bind(user)
            .bind(include_archived)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Every channel `user` belongs to (team channels, DMs, groups), with their read state.
    pub async fn my_channels(&self, user: UserId) -> Result<Vec<MyChannel>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, MyChannel>(concat!(
                "SELECT ",
                channel_columns!(),
                ", m.last_viewed_seq, c.total_msg_count - m.viewed_msg_count AS unread_count, m.mention_count
                 FROM channels c JOIN channel_members m ON m.channel_id = c.id
                 WHERE m.user_id = $1 ORDER BY COALESCE(c.last_post_at, c.created_at) DESC"
            ))
            .bind(user)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The channel with `user`'s role in it and in its team, in one round trip: every channel handler
    /// asks all three, and posting asks them on every message.
    pub async fn channel_standing(&self, id: ChannelId, user: UserId) -> Result<Option<ChannelStanding>> {
        let row: Option<StandingRow> = with_pool!(self, |pool| {
            sqlx::query_as::<_, StandingRow>(concat!(
                "SELECT ",
                channel_columns!(),
                ", cm.role AS channel_role, tm.role AS team_role
                 FROM channels c
                 LEFT JOIN channel_members cm ON cm.channel_id = c.id AND cm.user_id = $2
                 LEFT JOIN team_members tm ON tm.team_id = c.team_id AND tm.user_id = $2
                 WHERE c.id = $1"
            ))
            .bind(id)
            .bind(user)
            .fetch_optional(pool)
            .await?
        });
        let Some(row) = row else { return Ok(None) };
        let role =
            |r: Option<String>| r.map(Role::try_from).transpose().map_err(|e| Error::internal(anyhow::anyhow!(e)));
        Ok(Some(ChannelStanding {
            channel: row.channel,
            channel_role: role(row.channel_role)?,
            team_role: role(row.team_role)?,
        }))
    }

    pub async fn channel_role(&self, channel: ChannelId, user: UserId) -> Result<Option<Role>> {
        let role: Option<String> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT role FROM channel_members WHERE channel_id = $1 AND user_id = $2")
                .bind(channel)
                .bind(user)
                .fetch_optional(pool)
                .await?
        });
        role.map(Role::try_from).transpose().map_err(|e| Error::internal(anyhow::anyhow!(e)))
    }

    pub async fn channel_member_ids(&self, channel: ChannelId) -> Result<Vec<UserId>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT user_id FROM channel_members WHERE channel_id = $1")
                .bind(channel)
                .fetch_all(pool)
                .await?
        }))
    }

    pub async fn channel_members(&self, channel: ChannelId) -> Result<Vec<ChannelMember>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, ChannelMember>(
                "SELECT m.channel_id, m.user_id, u.username, u.display_name, m.role, m.joined_at
                 FROM channel_members m JOIN users u ON u.id = m.user_id WHERE m.channel_id = $1 ORDER BY u.username",
            )
            .bind(channel)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Adds a member; returns the `member_added` event as written, or `None` if already a member.
    pub async fn add_channel_member(&self, channel: ChannelId, user: UserId) -> Result<Option<ChannelEvent>> {
        let now = Timestamp::now();
        Ok(with_tx!(self, |tx| {
            let added = sqlx::query(
                "INSERT INTO channel_members (channel_id, user_id, role, joined_at, last_viewed_seq, viewed_msg_count)
                 SELECT $1, $2, 'member', $3, c.last_seq, c.total_msg_count FROM channels c WHERE c.id = $1
                 ON CONFLICT DO NOTHING",
            )
            .bind(channel)
            .bind(user)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if added.rows_affected() == 0 {
                None
            } else {
                Some(append_event!(tx, channel, Change::MemberAdded { user_id: user }, now))
            }
        }))
    }

    /// Removes a member; returns the `member_removed` event as written, or `None` if not a member.
    pub async fn remove_channel_member(&self, channel: ChannelId, user: UserId) -> Result<Option<ChannelEvent>> {
        let now = Timestamp::now();
        Ok(with_tx!(self, |tx| {
            let removed = sqlx::query("DELETE FROM channel_members WHERE channel_id = $1 AND user_id = $2")
                .bind(channel)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                None
            } else {
                Some(append_event!(tx, channel, Change::MemberRemoved { user_id: user }, now))
            }
        }))
    }

    /// Applies `patch` (and/or archives) and appends `channel_updated` with the new channel; returns
    /// the channel and the event as written.
    pub async fn update_channel(
        &self,
        id: ChannelId,
        patch: ChannelPatch<'_>,
        archive: bool,
    ) -> Result<(Channel, ChannelEvent)> {
        let now = Timestamp::now();
        let event = with_tx!(self, |tx| {
            let channel = sqlx::query_as::<_, Channel>(concat!(
                "UPDATE channels SET name = COALESCE($2, name), display_name = COALESCE($3, display_name),
                   purpose = COALESCE($4, purpose), header = COALESCE($5, header),
                   archived_at = CASE WHEN $6 THEN COALESCE(archived_at, $7) ELSE archived_at END,
                   updated_at = $7, last_seq = last_seq + 1
                 WHERE id = $1 RETURNING ",
                channel_columns!(bare)
            ))
            .bind(id)
            .bind(patch.name.map(Slug::as_str))
            .bind(patch.display_name)
            .bind(patch.purpose)
            .bind(patch.header)
            .bind(archive)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| super::teams::conflict_as(e, "a channel with this name already exists in the team"))?
            .ok_or_else(|| Error::not_found("channel"))?;
            // The UPDATE above already took the next seq; record the event under it.
            let seq = channel.last_seq;
            let change = Change::ChannelUpdated { channel };
            insert_event!(tx, id, seq, &change, now);
            ChannelEvent { channel_id: id, seq, created_at: now, change }
        });
        Ok((self.channel(id).await?.ok_or_else(|| Error::not_found("channel"))?, event))
    }

    /// Marks everything in `channel` as read by `user`.
    pub async fn view_channel(&self, channel: ChannelId, user: UserId) -> Result<ReadState> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE channel_members SET
                   last_viewed_seq = (SELECT last_seq FROM channels WHERE id = $1),
                   viewed_msg_count = (SELECT total_msg_count FROM channels WHERE id = $1),
                   mention_count = 0
                 WHERE channel_id = $1 AND user_id = $2",
            )
            .bind(channel)
            .bind(user)
            .execute(pool)
            .await?
            .rows_affected()
        });
        self.read_state(channel, user).await
    }

    pub async fn read_state(&self, channel: ChannelId, user: UserId) -> Result<ReadState> {
        let state = with_pool!(self, |pool| {
            sqlx::query_as::<_, ReadState>(
                "SELECT c.id AS channel_id, m.last_viewed_seq, c.last_seq,
                        c.total_msg_count - m.viewed_msg_count AS unread_count, m.mention_count
                 FROM channel_members m JOIN channels c ON c.id = m.channel_id
                 WHERE m.channel_id = $1 AND m.user_id = $2",
            )
            .bind(channel)
            .bind(user)
            .fetch_optional(pool)
            .await?
        });
        state.ok_or_else(|| Error::not_found("channel"))
    }
}
