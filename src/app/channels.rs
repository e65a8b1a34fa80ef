//! Channel membership and conversations: who may add or remove whom, and who may talk in private.

use crate::access::{member_channel, readable_channel};
use crate::auth::AuthUser;
use crate::domain::{ChannelId, UserId};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::change::ChannelEvent;
use crate::store::models::Channel;

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
