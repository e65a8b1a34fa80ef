//! Who may see and do what. Every handler that touches a team or channel goes through here, so the
//! rule "a non-member learns nothing about a private channel or DM" lives in one place: anything the
//! caller may not see answers exactly like a missing id (404).

use crate::auth::AuthUser;
use crate::domain::{ChannelId, ChannelKind, Role, TeamId};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::models::{Channel, Team};

/// A channel the caller may read, and the caller's standing in it.
pub struct ChannelAccess {
    pub channel: Channel,
    /// The caller's channel role; `None` when they read a public channel of their team as a non-member.
    pub role: Option<Role>,
    pub team_admin: bool,
}

impl ChannelAccess {
    pub fn is_member(&self) -> bool {
        self.role.is_some()
    }

    /// Channel admins, team admins and system admins manage team channels; nobody manages DMs.
    pub fn can_manage(&self, caller: &AuthUser) -> bool {
        self.channel.team_id.is_some()
            && (self.role == Some(Role::Admin) || self.team_admin || caller.is_system_admin())
    }

    /// Refuses writes to an archived channel.
    pub fn writable(self) -> Result<Self> {
        if self.channel.archived_at.is_some() {
            return Err(Error::forbidden("the channel is archived"));
        }
        Ok(self)
    }
}

/// The channel, if `caller` may read it: members always; team members for public channels.
pub async fn readable_channel(store: &Store, caller: &AuthUser, id: ChannelId) -> Result<ChannelAccess> {
    let standing = store.channel_standing(id, caller.id()).await?.ok_or_else(|| Error::not_found("channel"))?;
    let (channel, role, team_role) = (standing.channel, standing.channel_role, standing.team_role);
    let visible = role.is_some() || (channel.kind == ChannelKind::Public && team_role.is_some());
    if !visible {
        return Err(Error::not_found("channel"));
    }
    Ok(ChannelAccess { channel, role, team_admin: team_role == Some(Role::Admin) })
}

/// The channel, if `caller` is a member. A visible public channel the caller has not joined answers
/// 403 (they already know it exists); anything else 404.
pub async fn member_channel(store: &Store, caller: &AuthUser, id: ChannelId) -> Result<ChannelAccess> {
    let access = readable_channel(store, caller, id).await?;
    if !access.is_member() {
        return Err(Error::forbidden("join the channel first"));
    }
    Ok(access)
}

/// A team the caller belongs to, with their role.
pub async fn member_team(store: &Store, caller: &AuthUser, id: TeamId) -> Result<(Team, Role)> {
    let team = store.team(id).await?.ok_or_else(|| Error::not_found("team"))?;
    match store.team_role(id, caller.id()).await? {
        Some(role) => Ok((team, role)),
        None if caller.is_system_admin() => Ok((team, Role::Admin)),
        None => Err(Error::not_found("team")),
    }
}

/// A team the caller may see: theirs, or any open team.
pub async fn visible_team(store: &Store, caller: &AuthUser, id: TeamId) -> Result<(Team, Option<Role>)> {
    let team = store.team(id).await?.ok_or_else(|| Error::not_found("team"))?;
    let role = store.team_role(id, caller.id()).await?;
    if role.is_none() && !team.open && !caller.is_system_admin() {
        return Err(Error::not_found("team"));
    }
    Ok((team, role))
}
