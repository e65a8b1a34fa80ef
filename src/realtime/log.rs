//! The actors' view of the database: the event log rendered as frames, channel heads, memberships.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rustchat_actors::Frame;
use rustchat_actors::counters::SessionCounters;
use rustchat_actors::ports::{EventLog, LocalFut, Membership};
use uuid::Uuid;

use super::render;
use crate::domain::{ChannelId, UserId};
use crate::store::Store;

pub struct StoreLog {
    pub store: Store,
    /// Channels with more members carry no `presence` events.
    pub presence_max_members: i64,
    /// Where set, each event read counts as a channel actor's read-back (the supervisor's log, which
    /// its channel actors read through; sessions count their own).
    pub channel_reads: Option<Arc<SessionCounters>>,
}

impl EventLog for StoreLog {
    fn events_after(&self, channel: Uuid, after: i64, limit: u32) -> LocalFut<Result<Vec<Frame>, String>> {
        if let Some(counters) = &self.channel_reads {
            counters.channel_read_backs.fetch_add(1, Ordering::Relaxed);
        }
        let store = self.store.clone();
        Box::pin(async move {
            let events = store.events_after(ChannelId(channel), after, limit).await.map_err(|e| format!("{e:?}"))?;
            Ok(events.iter().map(render::frame).collect())
        })
    }

    fn last_seqs(&self, channels: Vec<Uuid>) -> LocalFut<Result<Vec<(Uuid, i64)>, String>> {
        let store = self.store.clone();
        Box::pin(async move {
            let ids: Vec<ChannelId> = channels.into_iter().map(ChannelId).collect();
            let heads = store.last_seqs(&ids).await.map_err(|e| format!("{e:?}"))?;
            Ok(heads.into_iter().map(|(c, s)| (c.0, s)).collect())
        })
    }

    fn memberships(&self, user: Uuid) -> LocalFut<Result<Vec<Membership>, String>> {
        let store = self.store.clone();
        let max = self.presence_max_members;
        Box::pin(async move {
            let rows = store.memberships(UserId(user), max).await.map_err(|e| format!("{e:?}"))?;
            Ok(rows
                .into_iter()
                .map(|(c, last_seq, members)| Membership { channel: c.0, last_seq, presence: members <= max })
                .collect())
        })
    }
}
