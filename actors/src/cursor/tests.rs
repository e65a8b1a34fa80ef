//! Every ordering case of a session's cursors, driven as the actors drive them: frames arrive the way
//! a channel actor fans out (straight into a live lane, else to the session), read-backs are answered
//! from a fake log, and what the client gets is read back off the socket's bytes. Cases the load tool
//! and CI once found are named after the commit that fixed them.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::ws::{Codec, Frame as WsFrame};
use bytes::BytesMut;
use futures_util::Stream;
use futures_util::task::noop_waker;
use serde_json::{Value, json};
use tokio_util::codec::Decoder;

use super::*;
use crate::counters::SessionCounters;
use crate::outbox::{Bounds, OutboxBody};

/// A session's cursors over a real outbox, with the event log they read back from.
struct Rig {
    user: Uuid,
    outbox: Arc<Outbox>,
    body: OutboxBody,
    cursors: Cursors,
    /// Every committed event of each channel, by seq.
    log: HashMap<Uuid, Vec<Frame>>,
}

fn rig(frames: usize) -> Rig {
    let user = Uuid::now_v7();
    let outbox = Outbox::new(Bounds { frames, bytes: 1 << 24 }, Arc::new(SessionCounters::default()));
    let body = outbox.body();
    let cursors = Cursors::new(outbox.clone(), user, frames);
    Rig { user, outbox, body, cursors, log: HashMap::new() }
}

fn posted(channel: Uuid, seq: i64) -> Frame {
    Frame::channel_event("posted", channel, seq, &json!({ "n": seq }))
}

fn removed(channel: Uuid, seq: i64, user: Uuid) -> Frame {
    Frame::channel_event("member_removed", channel, seq, &json!({ "user_id": user }))
}

fn typing(channel: Uuid) -> Frame {
    Frame::channel_event("typing", channel, 0, &json!({ "user_id": Uuid::now_v7() }))
}

impl Rig {
    /// Commits `frames` to the log (in seq order).
    fn commit(&mut self, frames: impl IntoIterator<Item = Frame>) {
        for frame in frames {
            self.log.entry(frame.channel).or_default().push(frame);
        }
    }

    /// A channel with events 1..=head in the log, followed from `delivered`; its actor's head is `head`.
    fn channel(&mut self, head: i64, delivered: i64) -> Uuid {
        let channel = Uuid::now_v7();
        self.commit((1..=head).map(|seq| posted(channel, seq)));
        self.cursors.open(channel, delivered, false);
        assert_eq!(self.cursors.joined(channel, head), vec![]);
        channel
    }

    /// A frame reaches the session as a channel actor sends it: straight into a live lane, otherwise
    /// to the session's cursors.
    fn arrive(&mut self, frame: Frame) -> Vec<Command> {
        match self.outbox.push_next(&frame, true) {
            Ok(()) => vec![],
            Err(Refused::NotNext) => self.cursors.deliver(frame),
            Err(e) => panic!("the direct path refused with {e:?}"),
        }
    }

    /// Answers one read-back from the log.
    fn answer(&mut self, command: &Command) -> Vec<Command> {
        let Command::ReadBack { channel, after, generation } = *command else { panic!("not a read: {command:?}") };
        let page = self.log.get(&channel).into_iter().flatten().filter(|f| f.seq > after);
        let page: Vec<Frame> = page.take(CATCH_UP_PAGE as usize).cloned().collect();
        self.cursors.read_back(channel, generation, Ok(page))
    }

    /// Answers read-backs until none is asked for; what else the cursors asked for.
    fn answer_all(&mut self, mut commands: Vec<Command>) -> Vec<Command> {
        let mut rest = Vec::new();
        while let Some(command) = commands.pop() {
            match command {
                Command::ReadBack { .. } => commands.extend(self.answer(&command)),
                other => rest.push(other),
            }
        }
        rest
    }

    /// Takes what the socket writer would write now: each channel frame as (channel, seq).
    fn written(&mut self) -> Vec<(Uuid, i64)> {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut bytes = BytesMut::new();
        while let Poll::Ready(Some(Ok(chunk))) = Pin::new(&mut self.body).poll_next(&mut cx) {
            bytes.extend_from_slice(&chunk);
        }
        let mut codec = Codec::new().client_mode().max_size(1 << 24);
        let mut out = Vec::new();
        while let Ok(Some(frame)) = codec.decode(&mut bytes) {
            if let WsFrame::Text(text) = frame {
                let v: Value = serde_json::from_slice(&text).unwrap();
                let channel = v["channel_id"].as_str().and_then(|c| c.parse().ok()).unwrap_or_default();
                out.push((channel, v["seq"].as_i64().unwrap_or_default()));
            }
        }
        out
    }

    /// The seqs of `channel` written since the last look.
    fn seqs(&mut self, channel: Uuid) -> Vec<i64> {
        self.written().into_iter().filter(|(c, _)| *c == channel).map(|(_, s)| s).collect()
    }

    fn live(&self, channel: Uuid) -> bool {
        self.outbox.lane(channel).is_some_and(|l| l.live)
    }
}

fn read_after(channel: Uuid, after: i64, generation: u64) -> Command {
    Command::ReadBack { channel, after, generation }
}

// ---- in order, duplicates, gaps ------------------------------------------------------------------

#[test]
fn frames_in_order_go_out_once_each_and_the_lane_goes_live() {
    let mut r = rig(64);
    let c = r.channel(0, 0);
    assert_eq!(r.cursors.release(), vec![], "the actor's head is the position: nothing to read");
    assert!(r.live(c), "nothing held: channel actors queue directly");
    for seq in 1..=3 {
        assert_eq!(r.arrive(posted(c, seq)), vec![]);
    }
    assert_eq!(r.seqs(c), vec![1, 2, 3]);
}

#[test]
fn frames_handed_to_the_session_in_turn_go_out_in_order() {
    let mut r = rig(64);
    let c = r.channel(0, 0);
    r.cursors.release();
    r.outbox.set_live(c, false);
    for seq in 1..=3 {
        assert_eq!(r.cursors.deliver(posted(c, seq)), vec![]);
    }
    assert_eq!(r.seqs(c), vec![1, 2, 3]);
    assert!(r.live(c), "in step again: back on the direct path");
}

#[test]
fn a_duplicate_or_an_old_frame_is_dropped() {
    let mut r = rig(64);
    let c = r.channel(0, 0);
    r.cursors.release();
    r.arrive(posted(c, 1));
    r.arrive(posted(c, 2));
    assert_eq!(r.cursors.deliver(posted(c, 2)), vec![]);
    assert_eq!(r.cursors.deliver(posted(c, 1)), vec![]);
    assert_eq!(r.arrive(posted(c, 3)), vec![]);
    assert_eq!(r.seqs(c), vec![1, 2, 3]);
    assert!(r.live(c));
}

#[test]
fn a_gap_reads_the_log_back_and_then_the_lane_is_live_again() {
    let mut r = rig(64);
    let c = r.channel(0, 0);
    r.cursors.release();
    r.commit((1..=3).map(|s| posted(c, s)));
    r.arrive(posted(c, 1));
    // 2 was lost on the bus: 3 is not the lane's next, so the session reads back after 1.
    let read = r.arrive(posted(c, 3));
    assert_eq!(read, vec![read_after(c, 1, 0)]);
    assert!(!r.live(c), "off the direct path while reading back");
    assert_eq!(r.answer(&read[0]), vec![]);
    assert_eq!(r.seqs(c), vec![1, 2, 3], "3 from the log and from pending once");
    assert!(r.live(c));
}

#[test]
fn frames_arriving_during_a_read_back_wait_for_it_then_follow_in_order() {
    let mut r = rig(64);
    let c = r.channel(0, 0);
    r.cursors.release();
    r.commit((1..=3).map(|s| posted(c, s)));
    let read = r.arrive(posted(c, 3));
    assert_eq!(read, vec![read_after(c, 0, 0)]);
    // Committed after the read started: the read does not see them, the channel actor brings them.
    for seq in [5, 4] {
        assert_eq!(r.arrive(posted(c, seq)), vec![], "no second read while one is under way");
    }
    r.commit((4..=5).map(|s| posted(c, s)));
    assert_eq!(r.seqs(c), Vec::<i64>::new(), "nothing jumps ahead of the read-back");
    // The log answers as of the read (1..=3).
    let page: Vec<Frame> = (1..=3).map(|s| posted(c, s)).collect();
    assert_eq!(r.cursors.read_back(c, 0, Ok(page)), vec![]);
    assert_eq!(r.seqs(c), vec![1, 2, 3, 4, 5]);
    assert!(r.live(c));
}

#[test]
fn a_read_back_overlapping_frames_already_pending_or_queued_sends_each_once() {
    let mut r = rig(64);
    let c = r.channel(0, 0);
    r.cursors.release();
    r.commit((1..=6).map(|s| posted(c, s)));
    let read = r.arrive(posted(c, 2));
    for seq in [3, 4, 5] {
        r.arrive(posted(c, seq));
    }
    // The log is ahead of what arrived: the page holds the pending frames too, and one more.
    assert_eq!(r.answer(&read[0]), vec![]);
    assert_eq!(r.seqs(c), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(r.arrive(posted(c, 6)), vec![], "the channel actor's copy of 6 is a duplicate");
    assert_eq!(r.arrive(posted(c, 7)), vec![]);
    assert_eq!(r.seqs(c), vec![7]);
}

#[test]
fn two_channels_keep_their_own_order() {
    let mut r = rig(64);
    let (a, b) = (r.channel(0, 0), r.channel(0, 0));
    r.cursors.release();
    r.commit([posted(a, 1)]);
    let read = r.arrive(posted(a, 2));
    assert_eq!(read, vec![read_after(a, 0, 0)]);
    r.arrive(posted(b, 1));
    assert_eq!(r.written(), vec![(b, 1)], "a gap in one channel holds nothing of another");
    r.commit([posted(a, 2)]);
    r.answer(&read[0]);
    assert_eq!(r.written(), vec![(a, 1), (a, 2)]);
}

// ---- the resume window -------------------------------------------------------------------------

#[test]
fn nothing_of_a_channel_goes_out_during_the_resume_window_but_ephemeral_frames_do() {
    let mut r = rig(64);
    let c = r.channel(2, 2);
    for seq in 3..=4 {
        assert_eq!(r.arrive(posted(c, seq)), vec![]);
    }
    assert_eq!(r.arrive(typing(c)), vec![]);
    assert_eq!(r.cursors.deliver(typing(Uuid::now_v7())), vec![], "not a channel of the session");
    assert_eq!(r.written(), vec![(c, 0)], "only the typing frame");
    assert_eq!(r.cursors.release(), vec![]);
    assert_eq!(r.seqs(c), vec![3, 4], "held frames follow the window, in order");
}

/// b55d490: a reconnecting client's resume applies before anything is delivered (the rolling-restart
/// test on CI saw duplicates and reordering without the window).
#[test]
fn a_resume_in_the_window_moves_the_position_back_and_the_gap_is_read_once() {
    let mut r = rig(64);
    let c = r.channel(5, 5);
    r.commit((6..=7).map(|s| posted(c, s)));
    r.arrive(posted(c, 7));
    r.arrive(posted(c, 6));
    assert!(r.cursors.rewind(c, 3));
    let read = r.cursors.release();
    assert_eq!(read, vec![read_after(c, 3, 1)], "the actor's head (5) is past the client's position");
    assert_eq!(r.answer_all(read), vec![]);
    assert_eq!(r.seqs(c), vec![4, 5, 6, 7]);
}

#[test]
fn a_resume_for_a_channel_the_session_does_not_follow_is_refused() {
    let mut r = rig(64);
    r.channel(0, 0);
    assert!(!r.cursors.rewind(Uuid::now_v7(), 3));
}

/// bda0408: an up-to-date reconnect reads nothing; one behind reads what it missed.
#[test]
fn a_client_at_or_past_the_actors_head_reads_nothing_back_one_behind_reads_the_gap() {
    let mut r = rig(64);
    let up_to_date = r.channel(10, 10);
    let behind = Uuid::now_v7();
    r.commit((1..=12).map(|s| posted(behind, s)));
    r.cursors.open(behind, 10, false);
    assert_eq!(r.cursors.joined(behind, 12), vec![], "nothing is read during the window");
    assert!(r.cursors.rewind(up_to_date, 10));
    let reads = r.cursors.release();
    assert_eq!(reads, vec![read_after(behind, 10, 0)]);
    assert!(r.live(up_to_date));
    r.answer_all(reads);
    assert_eq!(r.written(), vec![(behind, 11), (behind, 12)]);
}

#[test]
fn a_channel_whose_actor_has_not_answered_yet_is_read_back_at_the_end_of_the_window() {
    let mut r = rig(64);
    let c = Uuid::now_v7();
    r.commit((1..=2).map(|s| posted(c, s)));
    r.cursors.open(c, 1, false);
    let reads = r.cursors.release();
    assert_eq!(reads, vec![read_after(c, 1, 0)]);
    r.answer_all(reads);
    assert_eq!(r.seqs(c), vec![2]);
}

/// 097fd06 (the chat benchmark at 2 000 posts/s lost one delivery): the node heard of a post late, so
/// the channel actor's head at the join was behind the handshake's position. The post arrived in the
/// window at or below that position, and the client then resumed below it.
#[test]
fn a_frame_at_or_below_the_handshake_position_is_kept_in_the_window_for_a_resume_below_it() {
    let mut r = rig(64);
    let c = Uuid::now_v7();
    r.commit((1..=11).map(|s| posted(c, s)));
    r.cursors.open(c, 11, false);
    assert_eq!(r.cursors.joined(c, 10), vec![]);
    r.arrive(posted(c, 11));
    assert!(r.cursors.rewind(c, 10));
    assert_eq!(r.cursors.release(), vec![], "the actor's head is the client's position: no read");
    assert_eq!(r.seqs(c), vec![11]);
}

#[test]
fn a_joined_channel_whose_actor_is_ahead_reads_back_after_the_window() {
    let mut r = rig(64);
    let c = r.channel(3, 3);
    r.cursors.release();
    r.commit((4..=5).map(|s| posted(c, s)));
    let reads = r.cursors.joined(c, 5);
    assert_eq!(reads, vec![read_after(c, 3, 0)]);
    r.answer_all(reads);
    assert_eq!(r.seqs(c), vec![4, 5]);
    assert_eq!(r.cursors.joined(c, 5), vec![], "a head the client has is nothing to read");
}

// ---- removal, leaving and joining again --------------------------------------------------------

/// d42a1c9: a removal during the resume window was dropped with the channel; the session now leaves
/// once it has delivered its own removal.
#[test]
fn a_removal_held_in_the_window_is_delivered_then_the_channel_is_left() {
    let mut r = rig(64);
    let c = r.channel(5, 5);
    let user = r.user;
    r.arrive(removed(c, 6, user));
    assert_eq!(r.cursors.left(c, 6), vec![], "the removal is still ahead of the socket");
    assert!(r.cursors.contains(c));
    assert_eq!(r.cursors.release(), vec![Command::Unsubscribe(c)]);
    assert_eq!(r.seqs(c), vec![6]);
    assert!(!r.cursors.contains(c) && r.outbox.lane(c).is_none());
    assert_eq!(r.cursors.deliver(posted(c, 7)), vec![], "nothing after the removal is theirs");
    assert_eq!(r.seqs(c), Vec::<i64>::new());
}

#[test]
fn a_removal_reached_by_a_read_back_ends_the_channel_there() {
    let mut r = rig(64);
    let c = Uuid::now_v7();
    let user = r.user;
    r.commit([posted(c, 1), removed(c, 2, user), posted(c, 3)]);
    r.cursors.open(c, 0, false);
    r.cursors.joined(c, 3);
    let reads = r.cursors.release();
    assert_eq!(r.answer_all(reads), vec![Command::Unsubscribe(c)]);
    assert_eq!(r.seqs(c), vec![1, 2]);
}

#[test]
fn a_removal_taken_on_the_direct_path_is_left_when_the_actor_says_so() {
    let mut r = rig(64);
    let c = r.channel(0, 0);
    let user = r.user;
    r.cursors.release();
    r.arrive(removed(c, 1, user));
    assert_eq!(r.cursors.left(c, 1), vec![Command::Unsubscribe(c)]);
    assert_eq!(r.seqs(c), vec![1]);
    assert_eq!(r.cursors.left(c, 1), vec![], "leaving twice unsubscribes once");
}

#[test]
fn another_members_removal_is_just_a_frame() {
    let mut r = rig(64);
    let c = r.channel(0, 0);
    r.cursors.release();
    r.outbox.set_live(c, false);
    assert_eq!(r.cursors.deliver(removed(c, 1, Uuid::now_v7())), vec![]);
    assert_eq!(r.cursors.deliver(posted(c, 2)), vec![]);
    assert_eq!(r.seqs(c), vec![1, 2]);
}

#[test]
fn a_channel_left_and_joined_again_reads_from_the_new_membership_only() {
    let mut r = rig(64);
    let c = r.channel(0, 0);
    let user = r.user;
    r.cursors.release();
    r.commit([posted(c, 1), removed(c, 2, user)]);
    r.arrive(posted(c, 1));
    r.arrive(removed(c, 2, user));
    assert_eq!(r.cursors.left(c, 2), vec![Command::Unsubscribe(c)]);
    // Posts while the user was out, then they are added back at 5 (`MembershipGranted`).
    r.commit((3..=6).map(|s| posted(c, s)));
    r.cursors.open(c, 4, true);
    let reads = r.cursors.catch_up(c);
    assert_eq!(reads, vec![read_after(c, 4, 0)]);
    r.answer_all(reads);
    assert_eq!(r.seqs(c), vec![1, 2, 5, 6]);
    assert!(r.live(c));
    assert_eq!(r.cursors.presence_channels().collect::<Vec<_>>(), vec![c]);
}

// ---- read-backs: pages, room, failures, stale answers --------------------------------------------

#[test]
fn a_long_read_back_goes_page_by_page() {
    let mut r = rig(4096);
    let c = Uuid::now_v7();
    r.commit((1..=450).map(|s| posted(c, s)));
    r.cursors.open(c, 0, false);
    let first = r.cursors.release();
    assert_eq!(first, vec![read_after(c, 0, 0)]);
    let second = r.answer(&first[0]);
    assert_eq!(second, vec![read_after(c, 200, 0)], "a full page: the log may hold more");
    let third = r.answer(&second[0]);
    assert_eq!(third, vec![read_after(c, 400, 0)]);
    assert_eq!(r.answer(&third[0]), vec![]);
    assert_eq!(r.seqs(c), (1..=450).collect::<Vec<_>>());
}

/// f9c34fe: a read-back fills the outbox only to half its bounds, so live frames always fit; the rest
/// waits for the socket writer.
#[test]
fn a_read_back_pauses_while_the_socket_is_full_and_goes_on_when_it_drains() {
    let mut r = rig(8);
    let c = Uuid::now_v7();
    r.commit((1..=450).map(|s| posted(c, s)));
    r.cursors.open(c, 0, false);
    let mut commands = r.cursors.release();
    let mut got = Vec::new();
    for _ in 0..1_000 {
        commands = r.answer_all(commands);
        assert_eq!(commands, vec![]);
        let written = r.seqs(c);
        assert!(written.len() <= 4, "at most half the frame bound queued at once ({})", written.len());
        got.extend(written);
        if got.len() == 450 {
            break;
        }
        commands = r.cursors.drained();
    }
    assert_eq!(got, (1..=450).collect::<Vec<_>>());
    assert!(r.live(c));
}

#[test]
fn a_read_back_wanted_while_the_socket_is_full_starts_when_it_drains() {
    let mut r = rig(8);
    let c = r.channel(0, 0);
    r.cursors.release();
    for _ in 0..4 {
        r.outbox.push_direct("{}".into()).unwrap();
    }
    r.commit((1..=2).map(|s| posted(c, s)));
    assert_eq!(r.cursors.joined(c, 2), vec![], "no room: the read waits");
    assert_eq!(r.cursors.deliver(posted(c, 3)), vec![], "and frames wait behind it");
    assert!(r.written().len() == 4 && !r.live(c));
    let reads = r.cursors.drained();
    assert_eq!(reads, vec![read_after(c, 0, 0)]);
    r.commit([posted(c, 3)]);
    r.answer_all(reads);
    assert_eq!(r.seqs(c), vec![1, 2, 3]);
}

#[test]
fn a_read_back_answered_after_a_resume_is_ignored_and_read_again_from_the_new_position() {
    let mut r = rig(64);
    let c = r.channel(6, 6);
    r.cursors.release();
    r.commit([posted(c, 7)]);
    let stale = r.arrive(posted(c, 8));
    assert_eq!(stale, vec![read_after(c, 6, 0)]);
    // The client resumes from 2 while that read is out (a second resume, after the window).
    assert!(r.cursors.rewind(c, 2));
    assert_eq!(r.cursors.catch_up(c), vec![], "one read at a time");
    r.commit([posted(c, 8)]);
    let fresh = r.answer(&stale[0]);
    assert_eq!(fresh, vec![read_after(c, 2, 1)]);
    assert_eq!(r.seqs(c), Vec::<i64>::new(), "the stale page sent nothing");
    r.answer_all(fresh);
    assert_eq!(r.seqs(c), (3..=8).collect::<Vec<_>>());
}

#[test]
fn a_failed_read_back_asks_to_retry_and_the_retry_reads_again() {
    let mut r = rig(64);
    let c = r.channel(2, 0);
    let reads = r.cursors.release();
    assert_eq!(reads, vec![read_after(c, 0, 0)]);
    let retry = r.cursors.read_back(c, 0, Err("database down".into()));
    assert_eq!(retry, vec![Command::RetryReadBack { channel: c, error: "database down".into() }]);
    let again = r.cursors.catch_up(c);
    assert_eq!(again, vec![read_after(c, 0, 0)]);
    r.answer_all(again);
    assert_eq!(r.seqs(c), vec![1, 2]);
}

// ---- slow consumers ----------------------------------------------------------------------------

#[test]
fn too_many_frames_held_behind_a_read_back_close_the_session_once() {
    let mut r = rig(2);
    let c = r.channel(0, 0);
    r.cursors.release();
    let read = r.arrive(posted(c, 2));
    assert_eq!(read, vec![read_after(c, 0, 0)]);
    let max_held = 2 * 4 + CATCH_UP_PAGE as i64;
    for seq in 3..=max_held + 1 {
        assert_eq!(r.cursors.deliver(posted(c, seq)), vec![], "{seq} frames held");
    }
    let closed = r.cursors.deliver(posted(c, max_held + 2));
    assert_eq!(closed, vec![Command::CloseSlow("too many frames held behind a gap or read-back")]);
    assert_eq!(r.cursors.deliver(posted(c, max_held + 3)), vec![], "closing: nothing more");
    assert_eq!(r.answer(&read[0]), vec![], "nor from a read-back");
}

#[test]
fn frames_held_for_a_woken_writer_that_has_not_run_yet_get_the_outboxs_grace() {
    let mut r = rig(1);
    let c = r.channel(0, 0);
    r.cursors.release();
    assert_eq!(r.written(), Vec::<(Uuid, i64)>::new(), "the writer waits for frames");
    r.outbox.push_direct("{}".into()).unwrap();
    assert!(r.outbox.queued().writer_due);
    r.arrive(posted(c, 2));
    for seq in 3..=300 {
        assert_eq!(r.cursors.deliver(posted(c, seq)), vec![], "held while the node is busy ({seq})");
    }
}

#[test]
fn a_channel_frame_the_full_outbox_refuses_closes_the_session() {
    let mut r = rig(2);
    let c = r.channel(0, 0);
    r.cursors.release();
    r.outbox.set_live(c, false);
    for _ in 0..2 {
        r.outbox.push_direct("{}".into()).unwrap();
    }
    assert_eq!(r.cursors.deliver(posted(c, 1)), vec![Command::CloseSlow("channel frame refused")]);
    assert_eq!(r.cursors.deliver(typing(c)), vec![], "closing: not even ephemeral frames");
}

#[test]
fn an_ephemeral_frame_the_full_outbox_refuses_closes_the_session() {
    let mut r = rig(2);
    let c = r.channel(0, 0);
    for _ in 0..2 {
        r.outbox.push_direct("{}".into()).unwrap();
    }
    assert_eq!(r.cursors.deliver(typing(c)), vec![Command::CloseSlow("ephemeral frame refused")]);
}

#[test]
fn a_stopped_session_queues_and_reads_nothing() {
    let mut r = rig(64);
    let c = r.channel(0, 0);
    r.cursors.stop();
    assert_eq!(r.cursors.release(), vec![]);
    assert!(!r.live(c), "never back on the direct path");
    assert_eq!(r.cursors.deliver(posted(c, 1)), vec![]);
    assert_eq!(r.seqs(c), Vec::<i64>::new());
}
