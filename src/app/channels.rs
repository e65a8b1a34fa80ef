//! Channels: who may create, rename and archive them, who may add or remove whom, and who may talk in
//! private.

use crate::access::{member_channel, member_team, readable_channel};
use crate::auth::AuthUser;
use crate::domain::{ChannelId, ChannelKind, TeamId, UserId};
use crate::error::{Error, Result};
use crate::store::change::ChannelEvent;
use crate::store::models::Channel;
use crate::store::{ChannelPatch, NewChannel, Store};

/// Creates a team channel in `team` (whose member the caller must be), the caller its first member.
/// Conversations are not made here: they have their own get-or-create rules.
pub async fn create(
    store: &Store,
    caller: &AuthUser,
    team: TeamId,
    new: NewChannel<'_>,
) -> Result<(Channel, ChannelEvent)> {
    let (team, _) = member_team(store, caller, team).await?;
    if !matches!(new.kind, ChannelKind::Public | ChannelKind::Private) {
        return Err(Error::validation(
            "kind must be 'public' or 'private'; use /channels/direct or /channels/group for conversations",
        ));
    }
    store.create_channel(NewChannel { team: team.id, creator: caller.id(), ..new }).await
}

/// Changes a team channel's name (channel or team admins) or texts (any member) while it is not archived.
pub async fn update(
    store: &Store,
    caller: &AuthUser,
    channel: ChannelId,
    patch: ChannelPatch<'_>,
) -> Result<(Channel, ChannelEvent)> {
    let access = member_channel(store, caller, channel).await?.writable()?;
    if access.channel.team_id.is_none() {
        return Err(Error::forbidden("direct and group conversations cannot be renamed"));
    }
    if patch.name.is_some() && !access.can_manage(caller) {
        return Err(Error::forbidden("only channel or team admins can rename a channel"));
    }
    store.update_channel(access.channel.id, patch, false).await
}

/// Archives a channel (channel or team admins): it becomes read-only.
pub async fn archive(store: &Store, caller: &AuthUser, channel: ChannelId) -> Result<(Channel, ChannelEvent)> {
    let access = readable_channel(store, caller, channel).await?.writable()?;
    if !access.can_manage(caller) {
        return Err(Error::forbidden("only channel or team admins can archive a channel"));
    }
    store.update_channel(access.channel.id, ChannelPatch::default(), true).await
}

/// Fewest and most members of a group conversation, its creator included.
pub const GROUP_SIZE: std::ops::RangeInclusive<usize> = 3..=8;

/// Adds `target` to a team channel: anyone may join a public channel of their team; adding someone
/// else takes being a member, and the target must belong to the team. `None` when already a member.
pub async fn add_member(
    store: &Store,
    caller: &AuthUser,
    channel: ChannelId,
    target: UserId,
) -> Result<(ChannelId, Option<ChannelEvent>)> {
    let access = readable_channel(store, caller, channel).await?.writable()?;
    let Some(team) = access.channel.team_id else {
        return Err(Error::forbidden("members of direct and group conversations are fixed"));
    };
    if target != caller.id() && !access.is_member() {
        return Err(Error::forbidden("join the channel before adding others"));
    }
    if store.team_role(team, target).await?.is_none() {
        return Err(Error::not_found("user"));
    }
    Ok((access.channel.id, store.add_channel_member(access.channel.id, target).await?))
}

/// Removes `target` from a team channel: yourself always, others as a channel or team admin.
pub async fn remove_member(
    store: &Store,
    caller: &AuthUser,
    channel: ChannelId,
    target: UserId,
) -> Result<ChannelEvent> {
    let access = member_channel(store, caller, channel).await?;
    if access.channel.team_id.is_none() {
        return Err(Error::forbidden("members of direct and group conversations are fixed"));
    }
    if target != caller.id() && !access.can_manage(caller) {
        return Err(Error::forbidden("only channel or team admins can remove other members"));
    }
    store.remove_channel_member(channel, target).await?.ok_or_else(|| Error::not_found("channel member"))
}

/// The direct conversation with another active user, created on first use, with its founding events
/// (both members joining) to publish.
pub async fn open_direct(store: &Store, caller: &AuthUser, other: UserId) -> Result<(Channel, Vec<ChannelEvent>)> {
    if other == caller.id() {
        return Err(Error::validation("a direct channel needs another user"));
    }
    store.user(other).await?.filter(|u| u.is_active).ok_or_else(|| Error::not_found("user"))?;
    store.direct_channel(caller.id(), other).await
}

/// The group conversation of exactly `others` and the caller, all active, created on first use, with
/// its founding events (every member joining) to publish.
pub async fn open_group(store: &Store, caller: &AuthUser, others: &[UserId]) -> Result<(Channel, Vec<ChannelEvent>)> {
    let mut members = others.to_vec();
    members.push(caller.id());
    members.sort();
    members.dedup();
    if !GROUP_SIZE.contains(&members.len()) {
        return Err(Error::validation("a group has 3 to 8 distinct members, you included"));
    }
    for &m in &members {
        store.user(m).await?.filter(|u| u.is_active).ok_or_else(|| Error::not_found("user"))?;
    }
    store.group_channel(caller.id(), &members).await
}
