//! Where a v4 connection stands, kept outside the node so a client can resume on any node, even after
//! the first one was killed: the next `seq` it will be sent, each channel's last event sent, and the
//! last [`RING`] numbers sent with the channel event each carried. Mattermost keeps this in the
//! node's memory only (its "dead queue"); ours is in Redis under `<prefix>:mmconn:<id>` (in memory
//! for a node without Redis), written by one task per connection as frames are queued.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cluster::{Keys, RedisLink};

/// Numbers remembered for a resume from an earlier point (Mattermost's dead queue holds 128).
pub const RING: usize = 128;
/// How long a position outlives its socket.
pub const KEEP: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub user: Uuid,
    /// The next `seq` to send.
    pub next: i64,
    /// Each channel's last event sent.
    pub pos: BTreeMap<Uuid, i64>,
    /// Recent numbers: (`seq`, channel and channel seq of a stored event, if it was one).
    pub ring: VecDeque<(i64, Option<(Uuid, i64)>)>,
}

/// How a reconnect with `sequence_number` resumes (Mattermost's three cases).
#[derive(Debug, PartialEq)]
pub enum Resume {
    /// Replay each channel after these positions, numbering from the client's `sequence_number`.
    From(BTreeMap<Uuid, i64>),
    /// The position is gone or unknown: a fresh `hello` with a new connection id.
    Lost,
}

impl Record {
    pub fn sent(&mut self, seq: i64, event: Option<(Uuid, i64)>) {
        self.next = seq + 1;
        if let Some((channel, at)) = event {
            self.pos.insert(channel, at);
        }
        self.ring.push_back((seq, event));
        while self.ring.len() > RING {
            self.ring.pop_front();
        }
    }

    /// Where to resume a client that expects `n` next.
    pub fn resume(&self, n: i64) -> Resume {
        if n == self.next {
            return Resume::From(self.pos.clone());
        }
        let first = self.ring.front().map(|(s, _)| *s);
        if n > self.next || first.is_none_or(|f| n < f) {
            return Resume::Lost;
        }
        let mut pos = self.pos.clone();
        for (seq, event) in &self.ring {
            if let (true, Some((channel, at))) = (*seq >= n, event) {
                let p = pos.entry(*channel).or_insert(at - 1);
                *p = (*p).min(at - 1);
            }
        }
        Resume::From(pos)
    }
}

/// Where records are kept.
#[derive(Clone)]
pub enum Positions {
    Redis(Arc<RedisLink>, Keys),
    Memory(Arc<Mutex<HashMap<String, Record>>>),
}

impl Positions {
    pub async fn load(&self, id: &str) -> Option<Record> {
        match self {
            Positions::Redis(link, keys) => {
                let mut c = link.connection().await.ok()?;
                let text: Option<String> = c.get(keys.mmconn(id)).await.ok()?;
                serde_json::from_str(&text?).ok()
            }
            Positions::Memory(map) => map.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned(),
        }
    }

    pub async fn save(&self, id: &str, record: &Record) {
        match self {
            Positions::Redis(link, keys) => {
                let Ok(text) = serde_json::to_string(record) else { return };
                match link.connection().await {
                    Ok(mut c) => {
                        let r: redis::RedisResult<()> = c.set_ex(keys.mmconn(id), text, KEEP.as_secs()).await;
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "cannot save a Mattermost WebSocket position");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot save a Mattermost WebSocket position"),
                }
            }
            Positions::Memory(map) => {
                map.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), record.clone());
            }
        }
    }
}

/// Keeps a connection's record up to date: takes each number sent and saves the record, several
/// numbers at a time when they come faster than the store answers.
pub fn spawn_writer(
    positions: Positions,
    id: String,
    mut record: Record,
) -> tokio::sync::mpsc::UnboundedSender<(i64, Option<(Uuid, i64)>)> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(i64, Option<(Uuid, i64)>)>();
    actix::spawn(async move {
        positions.save(&id, &record).await;
        while let Some(first) = rx.recv().await {
            record.sent(first.0, first.1);
            while let Ok((seq, event)) = rx.try_recv() {
                record.sent(seq, event);
            }
            positions.save(&id, &record).await;
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_cases_of_a_reconnect() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut r = Record { user: Uuid::nil(), next: 1, ..Record::default() };
        r.pos.insert(a, 10);
        r.pos.insert(b, 3);
        r.sent(1, Some((a, 11)));
        r.sent(2, None);
        r.sent(3, Some((b, 4)));
        r.sent(4, Some((a, 12)));
        // Nothing missed: carry on from where the record stands.
        assert_eq!(r.resume(5), Resume::From(r.pos.clone()));
        // Missed 3 and 4: b from 3, a from 11.
        let Resume::From(pos) = r.resume(3) else { panic!() };
        assert_eq!((pos[&a], pos[&b]), (11, 3));
        // Missed everything since 1.
        let Resume::From(pos) = r.resume(1) else { panic!() };
        assert_eq!((pos[&a], pos[&b]), (10, 3));
        // Ahead of the record, or before the ring: lost.
        assert_eq!(r.resume(6), Resume::Lost);
        assert_eq!(r.resume(0), Resume::Lost);
    }
}
