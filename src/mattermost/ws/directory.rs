//! What a v4 `posted` event names besides the post (channel name, type and team, the sender's
//! username), kept per node so an event is rendered without a database read. Filled when a v4
//! socket connects (its user's channels and their members); an unknown entry renders as "".

use std::collections::HashMap;
use std::sync::RwLock;

use uuid::Uuid;

use crate::store::Store;
use crate::store::models::Channel;

/// Channels a connect loads the members of, at most (the rest fill as their members connect).
const MEMBER_LOADS: usize = 50;

#[derive(Clone)]
pub struct ChannelInfo {
    pub kind: &'static str,
    pub name: String,
    pub display_name: String,
    pub team_id: String,
}

#[derive(Default)]
pub struct Directory {
    channels: RwLock<HashMap<Uuid, ChannelInfo>>,
    users: RwLock<HashMap<Uuid, String>>,
    by_name: RwLock<HashMap<String, Uuid>>,
}

impl Directory {
    pub fn channel(&self, id: Uuid) -> Option<ChannelInfo> {
        self.channels.read().unwrap_or_else(|p| p.into_inner()).get(&id).cloned()
    }

    pub fn username(&self, id: Uuid) -> String {
        self.users.read().unwrap_or_else(|p| p.into_inner()).get(&id).cloned().unwrap_or_default()
    }

    pub fn user_by_name(&self, name: &str) -> Option<Uuid> {
        self.by_name.read().unwrap_or_else(|p| p.into_inner()).get(name).copied()
    }

    pub fn put_channel(&self, c: &Channel) {
        let info = ChannelInfo {
            kind: crate::mattermost::models::channel_type(c.kind),
            name: c.name.clone(),
            display_name: c.display_name.clone(),
            team_id: c.team_id.map(|t| super::super::ids::encode(t.0)).unwrap_or_default(),
        };
        self.channels.write().unwrap_or_else(|p| p.into_inner()).insert(c.id.0, info);
    }

    pub fn put_user(&self, id: Uuid, username: &str) {
        self.users.write().unwrap_or_else(|p| p.into_inner()).insert(id, username.to_string());
        self.by_name.write().unwrap_or_else(|p| p.into_inner()).insert(username.to_string(), id);
    }

    /// Loads what a connecting user's events will name: their channels and those channels' members.
    pub async fn load_for(&self, store: &Store, user: crate::domain::UserId) -> crate::error::Result<()> {
        let mine = store.my_channels(user).await?;
        for c in &mine {
            self.put_channel(&c.channel);
        }
        for c in mine.iter().take(MEMBER_LOADS) {
            for m in store.channel_members(c.channel.id).await? {
                self.put_user(m.user_id.0, &m.username);
            }
        }
        Ok(())
    }
}
