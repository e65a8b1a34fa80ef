//! The outbox's bounds, its writer grace and its lanes.

use super::*;
use futures_util::task::noop_waker;

fn outbox(frames: usize, bytes: usize) -> Arc<Outbox> {
    Outbox::new(Bounds { frames, bytes }, Arc::new(SessionCounters::default()))
}

fn text(n: usize) -> ByteString {
    ByteString::from("x".repeat(n))
}

/// Polls the body once, as the socket writer does when the socket has room.
fn write(body: &mut OutboxBody) -> Option<usize> {
    let waker = noop_waker();
    match Pin::new(body).poll_next(&mut Context::from_waker(&waker)) {
        Poll::Ready(Some(Ok(bytes))) => Some(bytes.len()),
        _ => None,
    }
}

#[test]
fn a_writer_that_stopped_taking_frames_gets_no_grace_past_the_frame_bound() {
    let outbox = outbox(4, 1 << 20);
    let mut body = outbox.body();
    outbox.push_direct(text(10)).unwrap();
    // The writer takes what is there, then (socket full) does not come back for more.
    assert!(write(&mut body).is_some());
    for _ in 0..4 {
        outbox.push_direct(text(10)).unwrap();
    }
    assert_eq!(outbox.push_direct(text(10)), Err(Refused::Full));
    assert!(!outbox.queued().writer_due);
}

#[test]
fn frames_for_a_woken_writer_that_has_not_run_yet_pass_the_frame_bound_but_not_the_byte_bound() {
    let outbox = outbox(4, 1_000);
    let mut body = outbox.body();
    // The writer is idle and waiting: the next frame wakes it.
    assert_eq!(write(&mut body), None);
    for _ in 0..9 {
        outbox.push_direct(text(100)).unwrap();
    }
    let queued = outbox.queued();
    assert_eq!(queued.frames, 9);
    assert!(queued.writer_due);
    assert_eq!(outbox.push_direct(text(100)), Err(Refused::Full), "the byte bound still holds");
    // Once the writer runs, the grace is over until it waits again.
    assert!(write(&mut body).is_some());
    for _ in 0..4 {
        outbox.push_direct(text(10)).unwrap();
    }
    assert_eq!(outbox.push_direct(text(10)), Err(Refused::Full));
}

#[test]
fn the_grace_for_a_woken_writer_ends() {
    let outbox = outbox(2, 1 << 20);
    let mut body = outbox.body();
    assert_eq!(write(&mut body), None);
    for _ in 0..3 {
        outbox.push_direct(text(10)).unwrap();
    }
    std::thread::sleep(WRITER_GRACE + Duration::from_millis(50));
    assert!(!outbox.queued().writer_due);
    assert_eq!(outbox.push_direct(text(10)), Err(Refused::Full));
}

fn posted(channel: Uuid, seq: i64) -> Frame {
    Frame::channel_event("posted", channel, seq, &serde_json::json!({ "n": seq }))
}

#[test]
fn a_lane_takes_only_its_next_seq_and_the_direct_path_only_while_live() {
    let outbox = outbox(64, 1 << 20);
    let (channel, other) = (Uuid::now_v7(), Uuid::now_v7());
    assert_eq!(outbox.push_next(&posted(channel, 1), false), Err(Refused::NotNext), "no lane yet");
    outbox.open_lane(channel, 4);
    assert_eq!(outbox.push_next(&posted(channel, 5), true), Err(Refused::NotNext), "a new lane is not live");
    assert_eq!(outbox.push_next(&posted(channel, 4), false), Err(Refused::NotNext), "already delivered");
    assert_eq!(outbox.push_next(&posted(channel, 6), false), Err(Refused::NotNext), "a gap");
    assert_eq!(outbox.push_next(&posted(channel, 5), false), Ok(()));
    outbox.set_live(channel, true);
    assert_eq!(outbox.push_next(&posted(channel, 6), true), Ok(()));
    assert_eq!(outbox.lane(channel).map(|l| l.delivered), Some(6));
    assert_eq!(outbox.push_next(&posted(other, 1), true), Err(Refused::NotNext), "lanes are per channel");
    assert_eq!(outbox.queued().frames, 2);
}

#[test]
fn ephemeral_frames_need_a_lane_but_no_seq() {
    let outbox = outbox(64, 1 << 20);
    let channel = Uuid::now_v7();
    let status = crate::frame::presence(channel, Uuid::now_v7(), "online");
    assert_eq!(outbox.push_next(&status, false), Err(Refused::NotNext), "not subscribed");
    outbox.open_lane(channel, 3);
    assert_eq!(outbox.push_next(&status, true), Ok(()), "ephemeral frames skip the live check");
    assert_eq!(outbox.lane(channel).map(|l| l.delivered), Some(3), "and move no cursor");
}

#[test]
fn a_rewound_lane_leaves_the_direct_path_and_a_closed_lane_takes_nothing() {
    let outbox = outbox(64, 1 << 20);
    let channel = Uuid::now_v7();
    outbox.open_lane(channel, 9);
    outbox.set_live(channel, true);
    outbox.rewind(channel, 2);
    assert_eq!(outbox.push_next(&posted(channel, 3), true), Err(Refused::NotNext), "off the direct path");
    assert_eq!(outbox.push_next(&posted(channel, 3), false), Ok(()), "the session orders from the new cursor");
    outbox.close_lane(channel);
    assert_eq!(outbox.push_next(&posted(channel, 4), false), Err(Refused::NotNext));
}

#[test]
fn a_close_with_discard_drops_what_is_queued_and_nothing_follows_it() {
    let outbox = outbox(64, 1 << 20);
    let mut body = outbox.body();
    for _ in 0..3 {
        outbox.push_direct(text(1_000)).unwrap();
    }
    let reason = actix_http::ws::CloseReason { code: actix_http::ws::CloseCode::Other(4003), description: None };
    outbox.close(reason, true);
    assert!(outbox.push_direct(text(10)).is_err(), "nothing is queued after the close");
    let written = write(&mut body).expect("the close frame");
    assert!(written < 100, "only the close frame is written ({written} bytes)");
}
