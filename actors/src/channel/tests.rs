//! The channel actor in a real actix system, with an in-memory log and bus, and probe sessions that
//! record what reaches them (possible because members are [`SessionHandle`]s, not session addresses).

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::future::ready;
use serde_json::json;

use super::*;
use crate::counters::SessionCounters;
use crate::messages::{CloseForRestart, LoginEnded, MembershipGranted, Push};
use crate::outbox::{Bounds, Outbox};
use crate::ports::{BusMessage, BusReceived, BusReconnected, LocalFut, Membership};

#[derive(Default)]
struct Log(Mutex<HashMap<Uuid, Vec<Frame>>>);

impl Log {
    fn commit(&self, frame: Frame) {
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
struct Alone;

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
struct Probe(Arc<Mutex<Vec<String>>>);

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

struct Member {
    conn: Uuid,
    user: Uuid,
    outbox: Arc<Outbox>,
    heard: Arc<Mutex<Vec<String>>>,
    handle: Arc<SessionHandle>,
}

/// A session of a new user whose lane in `channel` is at `delivered`, live or not.
fn member(channel: Uuid, delivered: i64, live: bool) -> Member {
    let outbox = Outbox::new(Bounds { frames: 64, bytes: 1 << 20 }, Arc::new(SessionCounters::default()));
    outbox.open_lane(channel, delivered);
    outbox.set_live(channel, live);
    let heard = Arc::new(Mutex::new(Vec::new()));
    let handle = SessionHandle::new(&Probe(heard.clone()).start(), outbox.clone());
    Member { conn: Uuid::now_v7(), user: Uuid::now_v7(), outbox, heard, handle }
}

impl Member {
    fn subscribe(&self, channel: Uuid) -> Subscribe {
        Subscribe { conn: self.conn, user: self.user, channel, session: self.handle.clone() }
    }

    fn heard(&self) -> Vec<String> {
        std::mem::take(&mut *self.heard.lock().unwrap())
    }

    fn delivered(&self, channel: Uuid) -> Option<i64> {
        self.outbox.lane(channel).map(|l| l.delivered)
    }
}

fn posted(channel: Uuid, seq: i64) -> Frame {
    Frame::channel_event("posted", channel, seq, &json!({ "n": seq }))
}

/// Lets the actors run until `done` holds (or fails after a second).
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        actix::clock::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

#[actix::test]
async fn a_member_in_step_gets_each_frame_once_in_order_straight_into_its_outbox() {
    let (log, channel) = (Arc::new(Log::default()), Uuid::now_v7());
    log.commit(posted(channel, 1));
    let actor = ChannelActor::new(channel, log.clone(), Arc::new(Alone)).start();
    let m = member(channel, 1, true);
    actor.do_send(m.subscribe(channel));
    until("the join", || m.heard.lock().unwrap().len() == 1).await;
    assert_eq!(m.heard(), vec!["joined 1"]);
    // Out of order, duplicated, and one (4) lost on the bus: the log fills the gap.
    for seq in 2..=5 {
        log.commit(posted(channel, seq));
    }
    for seq in [3, 2, 3, 5, 1] {
        actor.do_send(Deliver(posted(channel, seq)));
    }
    until("seq 5", || m.delivered(channel) == Some(5)).await;
    assert_eq!(m.heard(), Vec::<String>::new(), "in step: no message to the session at all");
    assert_eq!(m.outbox.queued().frames, 4, "2, 3, 4 and 5, once each");
}

#[actix::test]
async fn a_member_out_of_step_is_handed_each_frame_to_order_itself() {
    let (log, channel) = (Arc::new(Log::default()), Uuid::now_v7());
    let actor = ChannelActor::new(channel, log.clone(), Arc::new(Alone)).start();
    let m = member(channel, 0, false);
    actor.do_send(m.subscribe(channel));
    until("the join", || m.heard.lock().unwrap().len() == 1).await;
    for seq in 1..=2 {
        log.commit(posted(channel, seq));
        actor.do_send(Deliver(posted(channel, seq)));
    }
    until("two frames", || m.heard.lock().unwrap().len() == 3).await;
    assert_eq!(m.heard(), vec!["joined 0", "deliver 1", "deliver 2"]);
    assert_eq!(m.delivered(channel), Some(0), "nothing queued behind the session's back");
}

#[actix::test]
async fn a_removed_member_gets_its_removal_then_leaves_and_hears_nothing_more() {
    let (log, channel) = (Arc::new(Log::default()), Uuid::now_v7());
    let actor = ChannelActor::new(channel, log.clone(), Arc::new(Alone)).start();
    let (gone, stays) = (member(channel, 0, true), member(channel, 0, true));
    actor.do_send(gone.subscribe(channel));
    actor.do_send(stays.subscribe(channel));
    until("the joins", || gone.heard.lock().unwrap().len() == 1 && stays.heard.lock().unwrap().len() == 1).await;
    let removal = Frame::channel_event("member_removed", channel, 1, &json!({ "user_id": gone.user }));
    for frame in [removal, posted(channel, 2)] {
        log.commit(frame.clone());
        actor.do_send(Deliver(frame));
    }
    until("the other member's frames", || stays.delivered(channel) == Some(2)).await;
    until("the leave", || gone.heard.lock().unwrap().len() == 2).await;
    assert_eq!(gone.heard(), vec!["joined 0", "left 1"]);
    assert_eq!(gone.delivered(channel), Some(1), "the removal was its last frame");
    assert_eq!(stays.heard(), vec!["joined 0"]);
}

#[actix::test]
async fn a_sweep_that_shows_the_log_ahead_reads_back_what_the_bus_lost() {
    let (log, channel) = (Arc::new(Log::default()), Uuid::now_v7());
    let actor = ChannelActor::new(channel, log.clone(), Arc::new(Alone)).start();
    let m = member(channel, 0, true);
    actor.do_send(m.subscribe(channel));
    until("the join", || m.heard.lock().unwrap().len() == 1).await;
    for seq in 1..=3 {
        log.commit(posted(channel, seq));
    }
    actor.do_send(Observed { last_seq: 3 });
    until("seq 3", || m.delivered(channel) == Some(3)).await;
    assert_eq!(m.outbox.queued().frames, 3);
}

#[actix::test]
async fn ephemeral_frames_reach_every_member_whatever_its_position() {
    let (log, channel) = (Arc::new(Log::default()), Uuid::now_v7());
    let actor = ChannelActor::new(channel, log, Arc::new(Alone)).start();
    let (live, behind) = (member(channel, 0, true), member(channel, 0, false));
    actor.do_send(live.subscribe(channel));
    actor.do_send(behind.subscribe(channel));
    actor.do_send(Deliver(crate::frame::presence(channel, Uuid::now_v7(), "away")));
    until("the presence frames", || live.outbox.queued().frames == 1 && behind.outbox.queued().frames == 1).await;
    assert_eq!((live.delivered(channel), behind.delivered(channel)), (Some(0), Some(0)));
}
