//! Read-backs (pages, room, failures, stale answers) and slow consumers.

use super::*;

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
