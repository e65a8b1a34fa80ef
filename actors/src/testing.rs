//! What the actors' tests share: an in-memory event log, a bus that reaches no peer, and probe
//! sessions that record what reaches them (possible because channel actors and the supervisor hold
//! [`SessionHandle`]s, not session addresses).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::ready;
use serde_json::json;
use uuid::Uuid;

use crate::counters::SessionCounters;
use crate::frame::Frame;
use crate::messages::{
    CloseForRestart, Deliver, Joined, Left, LoginEnded, MembershipGranted, Overflowed, Push, SessionHandle, Subscribe,
};
use crate::outbox::{Bounds, Outbox};
use crate::ports::{Bus, BusMessage, BusReceived, BusReconnected, EventLog, LocalFut, Membership, Topic};

#[derive(Default)]
pub(crate) struct Log(Mutex<HashMap<Uuid, Vec<Frame>>>);

impl Log {
    pub(crate) fn commit(&self, frame: Frame) {
        self.0.lock().unwrap().entry(frame.channel).or_default().push(frame);
    }
}

impl EventLog for Log {
    fn events_after(&self, channel: Uuid, after: i64, limit: u32) -> LocalFut<Result<Vec<Frame>, String>> {
        let log = self.0.lock().unwrap();
        let page = log.get(&channel).into_iter().flatten().filter(|f| f.seq > after).take(limit as usize);
        Box::pin(ready(Ok(page.cloned().collect())))
    }
    fn last_seqs(&self, channels: Vec<Uuid>) -> LocalFut<Result<Vec<(Uuid, i64)>, String>> {
        let log = self.0.lock().unwrap();
        let heads = channels.into_iter().map(|c| (c, log.get(&c).and_then(|f| f.last()).map_or(0, |f| f.seq)));
        Box::pin(ready(Ok(heads.collect())))
    }
    fn memberships(&self, _: Uuid) -> LocalFut<Result<Vec<Membership>, String>> {
        Box::pin(ready(Ok(vec![])))
    }
}

/// A bus that reaches no peer.
pub(crate) struct Alone;

impl Bus for Alone {
    fn attach(&self, _: Recipient<BusReceived>, _: Recipient<BusReconnected>) {}
    fn publish(&self, _: BusMessage) {}
    fn subscribe(&self, _: Topic) -> LocalFut<Result<(), String>> {
        Box::pin(ready(Ok(())))
    }
    fn unsubscribe(&self, _: Topic) {}
    fn is_connected(&self) -> bool {
        false
    }
}

/// A session that records what the channel actor sends it.
pub(crate) struct Probe(pub(crate) Arc<Mutex<Vec<String>>>);

impl Actor for Probe {
    type Context = Context<Self>;
}

macro_rules! probe_records {
    ($($message:ty => |$m:ident| $record:expr),* $(,)?) => {$(
        impl Handler<$message> for Probe {
            type Result = ();
            fn handle(&mut self, $m: $message, _: &mut Context<Self>) {
                self.0.lock().unwrap().push($record);
            }
        }
    )*};
}

probe_records! {
    Deliver => |m| format!("deliver {}", m.0.seq),
    Joined => |m| format!("joined {}", m.last_seq),
    Left => |m| format!("left {}", m.seq),
    Overflowed => |_m| "overflowed".into(),
    Push => |_m| "push".into(),
    MembershipGranted => |m| format!("granted {}", m.seq),
    CloseForRestart => |_m| "restart".into(),
    LoginEnded => |_m| "login ended".into(),
}

pub(crate) struct Member {
    pub(crate) conn: Uuid,
    pub(crate) user: Uuid,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) heard: Arc<Mutex<Vec<String>>>,
    pub(crate) handle: Arc<SessionHandle>,
}

/// A session of a new user whose lane in `channel` is at `delivered`, live or not.
pub(crate) fn member(channel: Uuid, delivered: i64, live: bool) -> Member {
    let outbox = Outbox::new(Bounds { frames: 64, bytes: 1 << 20 }, Arc::new(SessionCounters::default()));
    outbox.open_lane(channel, delivered);
    outbox.set_live(channel, live);
    let heard = Arc::new(Mutex::new(Vec::new()));
    let handle = SessionHandle::new(&Probe(heard.clone()).start(), outbox.clone());
    Member { conn: Uuid::now_v7(), user: Uuid::now_v7(), outbox, heard, handle }
}

impl Member {
    pub(crate) fn subscribe(&self, channel: Uuid) -> Subscribe {
        Subscribe { conn: self.conn, user: self.user, channel, session: self.handle.clone() }
    }

    pub(crate) fn heard(&self) -> Vec<String> {
        std::mem::take(&mut *self.heard.lock().unwrap())
    }

    pub(crate) fn delivered(&self, channel: Uuid) -> Option<i64> {
        self.outbox.lane(channel).map(|l| l.delivered)
    }
}

pub(crate) fn posted(channel: Uuid, seq: i64) -> Frame {
    Frame::channel_event("posted", channel, seq, &json!({ "n": seq }))
}

/// Lets the actors run until `done` holds (or fails after a second).
pub(crate) async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        actix::clock::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}
