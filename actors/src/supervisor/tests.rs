//! The supervisor's channels on a real actix system, with the in-memory log and bus of
//! [`crate::testing`]: a channel runs no actor until a frame needs ordering, and nothing reaches its
//! members later or twice for it.

use std::sync::Mutex;

use futures_util::future::ready;
use tokio::sync::oneshot;

use super::*;
use crate::frame::{Frame, presence};
use crate::login::Credential;
use crate::ports::{ActionError, LocalFut};
use crate::testing::{Alone, Log, Member, member, posted, until};
use crate::tree::Restarts;

/// Every login is live.
struct AllLive;

impl Logins for AllLive {
    fn live(&self, logins: Vec<Uuid>) -> LocalFut<Result<HashSet<Uuid>, String>> {
        Box::pin(ready(Ok(logins.into_iter().collect())))
    }
    fn authenticate(&self, _: String) -> LocalFut<Result<Credential, ActionError>> {
        Box::pin(ready(Err(ActionError { code: "unauthorized".into(), message: "not in this test".into() })))
    }
}

/// No limit, nobody else online.
struct Unlimited;

impl Connections for Unlimited {
    fn acquire(&self, _: Uuid, _: Uuid, _: u32) -> LocalFut<Result<bool, String>> {
        Box::pin(ready(Ok(true)))
    }
    fn release(&self, _: Uuid, _: Uuid) -> LocalFut<()> {
        Box::pin(ready(()))
    }
    fn online(&self, _: Vec<Uuid>) -> LocalFut<Result<Vec<Uuid>, String>> {
        Box::pin(ready(Ok(Vec::new())))
    }
    fn count(&self, _: Uuid) -> LocalFut<Result<u32, String>> {
        Box::pin(ready(Ok(1)))
    }
    fn refresh(&self, _: Vec<(Uuid, Uuid)>) {}
}

/// Counts the tree's children as they start: each channel actor starts as a child `channel`.
#[derive(Default)]
struct Started(Mutex<Vec<&'static str>>);

impl Started {
    fn channel_actors(&self) -> usize {
        self.0.lock().unwrap().iter().filter(|c| **c == "channel").count()
    }
}

impl Restarts for Started {
    fn declare(&self, child: &'static str) {
        self.0.lock().unwrap().push(child);
    }
    fn record(&self, _: &'static str) {}
}

fn supervisor(log: Arc<Log>) -> (Addr<Supervisor>, Arc<Started>) {
    let started = Arc::new(Started::default());
    let tree = Tree::new(Arc::new(|_, _, _| {}), started.clone());
    let supervisor = Supervisor::new(tree.clone(), Arc::new(Alone), log, Arc::new(AllLive), Arc::new(Unlimited));
    (tree.start_actor("router", supervisor), started)
}

fn follow(supervisor: &Addr<Supervisor>, m: &Member, channel: Uuid) {
    supervisor.do_send(Connected { conn: m.conn, user: m.user, login: Uuid::now_v7(), session: m.handle.clone() });
    supervisor.do_send(m.subscribe(channel));
}

/// A member at `delivered` that followed `channel` and heard its head (`joined <head>`, kept for the test).
async fn joined(supervisor: &Addr<Supervisor>, channel: Uuid, delivered: i64) -> Member {
    let m = member(channel, delivered, true);
    follow(supervisor, &m, channel);
    until("the join", || m.heard.lock().unwrap().len() == 1).await;
    m
}

fn from_bus(frame: Frame) -> BusReceived {
    BusReceived(BusMessage::Channel { wire: frame.text.clone(), frame })
}

#[actix::test]
async fn a_channel_runs_no_actor_until_a_persisted_frame_and_then_delivers_in_order() {
    let (log, channel) = (Arc::new(Log::default()), Uuid::now_v7());
    log.commit(posted(channel, 1));
    let (supervisor, started) = supervisor(log.clone());
    let m = joined(&supervisor, channel, 1).await;
    assert_eq!(m.heard(), vec!["joined 1"], "a quiet channel still tells its members its head");

    supervisor.do_send(from_bus(presence(channel, Uuid::now_v7(), "away")));
    until("the presence frame", || m.outbox.queued().frames == 1).await;
    assert_eq!(started.channel_actors(), 0, "an ephemeral frame needs no actor");

    // Two posts, the first lost on the bus: the woken actor reads it back from the log.
    for seq in 2..=3 {
        log.commit(posted(channel, seq));
    }
    supervisor.do_send(from_bus(posted(channel, 3)));
    until("seq 3", || m.delivered(channel) == Some(3)).await;
    assert_eq!(m.outbox.queued().frames, 3, "the presence, then 2 and 3 once each");
    assert_eq!(started.channel_actors(), 1);

    let late = member(channel, 3, true);
    follow(&supervisor, &late, channel);
    until("the late join", || late.heard.lock().unwrap().len() == 1).await;
    assert_eq!(late.heard(), vec!["joined 3"], "the running actor takes new members");
    log.commit(posted(channel, 4));
    supervisor.do_send(from_bus(posted(channel, 4)));
    until("seq 4 for both", || m.delivered(channel) == Some(4) && late.delivered(channel) == Some(4)).await;
    assert_eq!(m.heard(), Vec::<String>::new(), "in step throughout: nothing to order");
}

#[actix::test]
async fn a_quiet_channel_the_log_shows_ahead_after_the_bus_came_back_wakes_and_reads_back() {
    let (log, channel) = (Arc::new(Log::default()), Uuid::now_v7());
    let (supervisor, started) = supervisor(log.clone());
    let m = joined(&supervisor, channel, 0).await;
    // Committed while the bus was away: no frame came, only the reconnection.
    for seq in 1..=2 {
        log.commit(posted(channel, seq));
    }
    supervisor.do_send(BusReconnected);
    until("seq 2", || m.delivered(channel) == Some(2)).await;
    assert_eq!(m.outbox.queued().frames, 2);
    assert_eq!(started.channel_actors(), 1);
}

#[actix::test]
async fn a_quiet_channel_left_by_its_last_member_is_forgotten_without_an_actor() {
    let (log, channel) = (Arc::new(Log::default()), Uuid::now_v7());
    let (supervisor, started) = supervisor(log.clone());
    let m = joined(&supervisor, channel, 0).await;
    assert_eq!(supervisor.send(Count).await.unwrap().channels, 1);
    supervisor.do_send(Disconnected { conn: m.conn, user: m.user, channels: vec![] });
    assert_eq!(supervisor.send(Count).await.unwrap().channels, 0);
    log.commit(posted(channel, 1));
    supervisor.do_send(from_bus(posted(channel, 1)));
    assert_eq!(supervisor.send(Count).await.unwrap().connections, 0);
    assert_eq!(started.channel_actors(), 0, "nothing started for a channel nobody here follows");
    assert_eq!(m.delivered(channel), Some(0));
}

/// A bus whose channel subscriptions complete when the test says so, in the order they were asked.
#[derive(Default)]
struct Slow(Mutex<Vec<oneshot::Sender<()>>>);

impl Slow {
    fn complete_next(&self) {
        let next = self.0.lock().unwrap().remove(0);
        let _ = next.send(());
    }
    fn pending(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl Bus for Slow {
    fn attach(&self, _: Recipient<BusReceived>, _: Recipient<BusReconnected>) {}
    fn publish(&self, _: BusMessage) {}
    fn subscribe(&self, topic: Topic) -> LocalFut<Result<(), String>> {
        if !matches!(topic, Topic::Channel(_)) {
            return Box::pin(ready(Ok(())));
        }
        let (done, wait) = oneshot::channel();
        self.0.lock().unwrap().push(done);
        Box::pin(async move { wait.await.map_err(|_| "dropped".to_string()) })
    }
    fn unsubscribe(&self, _: Topic) {}
    fn is_connected(&self) -> bool {
        true
    }
}

#[actix::test]
async fn a_channel_made_again_waits_for_its_own_subscription_not_the_dropped_entrys() {
    let (log, channel, bus) = (Arc::new(Log::default()), Uuid::now_v7(), Arc::new(Slow::default()));
    let tree = Tree::new(Arc::new(|_, _, _| {}), Arc::new(Started::default()));
    let supervisor = Supervisor::new(tree.clone(), bus.clone(), log.clone(), Arc::new(AllLive), Arc::new(Unlimited));
    let supervisor = tree.start_actor("router", supervisor);
    let (first, second) = (member(channel, 0, true), member(channel, 0, true));
    follow(&supervisor, &first, channel);
    supervisor.do_send(Disconnected { conn: first.conn, user: first.user, channels: vec![] });
    follow(&supervisor, &second, channel);
    until("both subscriptions asked", || bus.pending() == 2).await;
    bus.complete_next();
    // Give a wrongly taken completion time to show: a head read and a join would follow at once.
    assert_eq!(supervisor.send(Count).await.unwrap().channels, 1);
    actix::clock::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(second.heard(), Vec::<String>::new(), "no head read before the channel's own subscription");
    bus.complete_next();
    until("the join", || second.heard.lock().unwrap().len() == 1).await;
    assert_eq!(second.heard(), vec!["joined 0"]);
    assert_eq!(first.heard(), Vec::<String>::new());
}
