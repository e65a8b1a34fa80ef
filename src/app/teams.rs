//! Teams: who may see one, create one, join it, and list, add or remove its members.

use crate::access::{member_team, visible_team};
use crate::auth::AuthUser;
use crate::domain::{DisplayName, Role, Slug, TeamId, Text, UserId};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::change::ChannelEvent;
use crate::store::models::{Team, TeamMember};

/// What a new team is called and whether anyone may join it.
pub struct NewTeam<'a> {
    pub name: &'a str,
    pub display_name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub open: bool,
}

/// Creates a team with the caller as its admin; on a site that does not allow team creation, only
/// system admins may.
pub async fn create(store: &Store, caller: &AuthUser, site_allows: bool, new: NewTeam<'_>) -> Result<Team> {
    if !site_allows && !caller.is_system_admin() {
        return Err(Error::forbidden("only system admins may create teams on this site"));
    }
    let name = Slug::parse(new.name, "name")?;
    let display_name = DisplayName::parse(new.display_name.unwrap_or(name.as_str()), "display_name")?;
    let description = Text::parse(new.description.unwrap_or(""), "description", 255)?;
    store.create_team(&name, display_name.as_str(), description.as_str(), new.open, caller.id()).await
}

/// Joins an open team (or one the caller is already in); a closed team does not exist for others.
pub async fn join(store: &Store, caller: &AuthUser, id: TeamId) -> Result<Team> {
    let team = store.team(id).await?.ok_or_else(|| Error::not_found("team"))?;
    let member = store.team_role(team.id, caller.id()).await?.is_some();
    if !team.open && !member {
        return Err(Error::not_found("team"));
    }
    store.add_team_member(team.id, caller.id(), Role::Member).await?;
    Ok(team)
}

/// Adds an active user to the team (team admins); `false` when already a member.
pub async fn add_member(store: &Store, caller: &AuthUser, id: TeamId, user: UserId) -> Result<(TeamId, UserId, bool)> {
    let (team, role) = member_team(store, caller, id).await?;
    if role != Role::Admin {
        return Err(Error::forbidden("only team admins can add members"));
    }
    let user = store.user(user).await?.filter(|u| u.is_active).ok_or_else(|| Error::not_found("user"))?;
    let added = store.add_team_member(team.id, user.id, Role::Member).await?;
    Ok((team.id, user.id, added))
}

/// Removes a member (team admins) or the caller; they leave the team's channels too. Returns the
/// `member_removed` event of each channel left.
pub async fn remove_member(store: &Store, caller: &AuthUser, id: TeamId, user: UserId) -> Result<Vec<ChannelEvent>> {
    let (team, role) = member_team(store, caller, id).await?;
    if user != caller.id() && role != Role::Admin {
        return Err(Error::forbidden("only team admins can remove other members"));
    }
    store.remove_team_member(team.id, user).await
}

/// A team the caller belongs to, or an open one (system admins see every team).
pub async fn visible(store: &Store, caller: &AuthUser, id: TeamId) -> Result<Team> {
    Ok(visible_team(store, caller, id).await?.0)
}

/// The team's members, for its members (and system admins).
pub async fn members(store: &Store, caller: &AuthUser, id: TeamId) -> Result<Vec<TeamMember>> {
    let (team, _) = member_team(store, caller, id).await?;
    store.team_members(team.id).await
}
