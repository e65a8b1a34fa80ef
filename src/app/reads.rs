//! Read state: how far a member has read each channel, their unread and mention counts, and marking a
//! channel read. Only members have a read state; anyone else is answered as by [`member_channel`].

use crate::access::member_channel;
use crate::auth::AuthUser;
use crate::domain::ChannelId;
use crate::error::Result;
use crate::store::Store;
use crate::store::models::{MyChannel, ReadState};

/// Marks everything in the channel read by the caller; returns the new read state (the face tells
/// the caller's other connections).
pub async fn mark_read(store: &Store, caller: &AuthUser, channel: ChannelId) -> Result<ReadState> {
    let access = member_channel(store, caller, channel).await?;
    store.view_channel(access.channel.id, caller.id()).await
}

/// The caller's unread and mention counts in one channel.
pub async fn read_state(store: &Store, caller: &AuthUser, channel: ChannelId) -> Result<ReadState> {
    let access = member_channel(store, caller, channel).await?;
    store.read_state(access.channel.id, caller.id()).await
}

/// Every channel the caller belongs to, with its read state.
pub async fn my_channels(store: &Store, caller: &AuthUser) -> Result<Vec<MyChannel>> {
    store.my_channels(caller.id()).await
}
