//! The channel actor in a real actix system, with an in-memory log and bus, and probe sessions that
//! record what reaches them (see [`crate::testing`]).

use serde_json::json;

use super::*;
use crate::testing::{Alone, Log, member, posted, until};

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
