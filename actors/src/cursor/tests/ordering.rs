//! In order, duplicates, gaps, frames during and overlapping a read-back, channels apart.

use super::*;

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
