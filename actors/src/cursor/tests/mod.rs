//! Every ordering case of a session's cursors, driven as the actors drive them: frames arrive the way
//! a channel actor fans out (straight into a live lane, else to the session), read-backs are answered
//! from a fake log, and what the client gets is read back off the socket's bytes. Cases the load tool
//! and CI once found are named after the commit that fixed them.

mod ordering;
mod reading;
mod window;

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
