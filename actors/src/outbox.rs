//! `Outbox`: a session's outbound side, shared by its `WsSession`, the `ChannelActor`s it is subscribed
//! to, and the response body that writes to the socket.
//!
//! Frames are encoded into one buffer as they are queued, so however many arrive between two socket
//! writes, they leave in a single `write`. A channel actor hands a live frame straight to the outbox
//! when the session's lane for that channel is *live* (nothing held, nothing pending, no read-back
//! running): no actor message per delivery. Otherwise the frame goes to the session actor, which
//! orders it, reads back gaps and pushes through the same [`Outbox::push_next`]. Every channel frame,
//! whichever way it comes, enters the buffer only as the lane's `delivered + 1`: that check and the
//! write happen under one lock, so each client sees each channel exactly once and in `seq` order.

use crate::channel_map::ChannelMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use actix::WeakRecipient;
use actix_http::ws::{CloseReason, Codec, Message};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;
use tokio_util::codec::Encoder;
use uuid::Uuid;

use crate::counters::{SessionCounters, Stage};
use crate::frame::Frame;

/// The socket writer took the buffer: a read-back the session paused for room may go on.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Drained;

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The lane is not live, or the frame is not the next one: the session actor must handle it.
    NotNext,
    /// The buffer is past its bounds: the client is a slow consumer.
    Full,
    /// The session is closing or its socket is gone: nothing more is sent.
    Closed,
}

/// How long frames queued for a woken socket writer are the node's delay, not the client's.
const WRITER_GRACE: Duration = Duration::from_secs(1);

/// A snapshot of the queue, for the slow-consumer log line and the session's own bound.
#[derive(Debug, Clone, Copy)]
pub struct Queued {
    pub frames: usize,
    pub bytes: usize,
    pub writer_due: bool,
}

/// Bounds of the buffer: past either, the session closes as a slow consumer.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub frames: usize,
    pub bytes: usize,
}

/// Another protocol spoken over the same machinery (the Mattermost API's WebSocket): it renders each
/// frame for its client as it is queued, under the outbox's lock, so it can number what it sends in
/// the order the client receives it. `None` drops the frame for this client.
pub trait Face: Send + Sync {
    fn channel(&self, frame: &Frame) -> Option<ByteString>;
    fn direct(&self, text: ByteString) -> Option<ByteString>;
}

pub struct Outbox {
    state: Mutex<State>,
    face: Option<Arc<dyn Face>>,
    bounds: Bounds,
    counters: Arc<SessionCounters>,
}

struct State {
    queue: Queue,
    lanes: ChannelMap<Lane>,
    /// The client reader, told when the socket writer is gone.
    reader: Option<Waker>,
    /// The session asked to hear when the buffer drains (a read-back paused for room).
    wants_room: bool,
    /// Told when the buffer drains, if it asked (`wants_room`); weak, so it never keeps a session alive.
    session: Option<WeakRecipient<Drained>>,
}

/// One channel's position in this session.
#[derive(Debug, Default, Clone, Copy)]
pub struct Lane {
    /// The newest seq queued to the client.
    pub delivered: i64,
    /// Channel actors may queue the next frame directly.
    pub live: bool,
}

/// The encoded bytes waiting for the socket, apart from the lanes so a lane can be read and the queue
/// written under one lock.
#[derive(Default)]
struct Queue {
    buf: BytesMut,
    /// Frames in `buf`, not yet taken by the socket writer.
    frames: usize,
    /// The socket writer, waiting for frames.
    writer: Option<Waker>,
    /// When the waiting writer was woken for frames it has not taken yet.
    woken_at: Option<Instant>,
    /// When the oldest frame in `buf` was queued (the write stage's start).
    since: Option<Instant>,
    /// A close frame is queued: nothing after it.
    closing: bool,
    /// The socket writer is gone (connection closed).
    gone: bool,
}

impl Queue {
    fn push(&mut self, text: ByteString, bounds: Bounds) -> Result<(), Refused> {
        if self.closing || self.gone {
            return Err(Refused::Closed);
        }
        if (self.frames >= bounds.frames && !self.writer_due()) || self.buf.len() + text.len() > bounds.bytes {
            return Err(Refused::Full);
        }
        self.encode(Message::Text(text)).map_err(|_| Refused::Closed)?;
        self.frames += 1;
        Ok(())
    }

    /// Encodes `message` after what is queued and wakes the writer.
    fn encode(&mut self, message: Message) -> Result<(), actix_http::ws::ProtocolError> {
        Codec::new().encode(message, &mut self.buf)?;
        // One clock read per wake-up at most: the writer was waiting, so the buffer was empty.
        if let Some(w) = self.writer.take() {
            let now = Instant::now();
            self.woken_at = Some(now);
            self.since = Some(now);
            w.wake();
        } else if self.since.is_none() {
            self.since = Some(Instant::now());
        }
        Ok(())
    }

    /// The writer was idle, waiting for frames, and has been woken for them but not run yet. Frames
    /// that pile up meanwhile measure how busy this node is, not how slow the client reads, so for
    /// `WRITER_GRACE` they do not count against the frame bound (the byte bound still holds). A writer
    /// held back by a full socket is never waiting, so a slow client gets no grace.
    fn writer_due(&self) -> bool {
        self.woken_at.is_some_and(|at| at.elapsed() < WRITER_GRACE)
    }
}

impl Outbox {
    pub fn new(bounds: Bounds, counters: Arc<SessionCounters>) -> Arc<Outbox> {
        Arc::new(Outbox::build(bounds, counters, None))
    }

    /// An outbox whose frames `face` renders.
    pub fn with_face(bounds: Bounds, counters: Arc<SessionCounters>, face: Arc<dyn Face>) -> Arc<Outbox> {
        Arc::new(Outbox::build(bounds, counters, Some(face)))
    }

    fn build(bounds: Bounds, counters: Arc<SessionCounters>, face: Option<Arc<dyn Face>>) -> Outbox {
        Outbox {
            state: Mutex::new(State {
                queue: Queue::default(),
                lanes: ChannelMap::new(),
                reader: None,
                wants_room: false,
                session: None,
            }),
            bounds,
            counters,
            face,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the buffer half-written (encoding is one call),
        // so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session that owns this outbox (told when the buffer drains).
    pub fn attach(&self, session: WeakRecipient<Drained>) {
        self.lock().session = Some(session);
    }

    /// Queues a frame that belongs to no channel log (hello, replies, user events).
    pub fn push_direct(&self, text: ByteString) -> Result<(), Refused> {
        let mut st = self.lock();
        let text = match &self.face {
            Some(face) => match face.direct(text) {
                Some(t) => t,
                None => return Ok(()),
            },
            None => text,
        };
        st.queue.push(text, self.bounds)?;
        self.counters.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Queues `frame` if it is its lane's next seq (or ephemeral, for a subscribed channel). With
    /// `live_only`, only a live lane takes it (the channel actor's direct path).
    pub fn push_next(&self, frame: &Frame, live_only: bool) -> Result<(), Refused> {
        let mut st = self.lock();
        let State { queue, lanes, .. } = &mut *st;
        let Some(lane) = lanes.get_mut(&frame.channel) else {
            return Err(Refused::NotNext);
        };
        let text = |frame: &Frame| match &self.face {
            Some(face) => face.channel(frame),
            None => Some(frame.text.clone()),
        };
        if frame.is_ephemeral() {
            if let Some(t) = text(frame) {
                queue.push(t, self.bounds)?;
            }
        } else {
            if (live_only && !lane.live) || frame.seq != lane.delivered + 1 {
                return Err(Refused::NotNext);
            }
            if let Some(t) = text(frame) {
                queue.push(t, self.bounds)?;
            }
            lane.delivered = frame.seq;
            if let Some(observe) = self.counters.fanout_latency.get() {
                observe(frame.arrived.elapsed().as_secs_f64());
            }
        }
        self.counters.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Queues a ping (control frames bypass the bounds: they are tiny and keep the connection alive).
    pub fn ping(&self) {
        self.push_control(Message::Ping(Bytes::new()));
    }

    pub fn pong(&self, payload: Bytes) {
        self.push_control(Message::Pong(payload));
    }

    fn push_control(&self, message: Message) {
        let queue = &mut self.lock().queue;
        if !(queue.closing || queue.gone) {
            let _ = queue.encode(message);
        }
    }

    /// Queues a close frame after whatever is queued (or, with `discard`, instead of it); nothing is
    /// queued after it, and the socket writer ends once it is written.
    pub fn close(&self, reason: CloseReason, discard: bool) {
        let queue = &mut self.lock().queue;
        if queue.closing {
            return;
        }
        if discard {
            queue.buf.clear();
            queue.frames = 0;
        }
        queue.closing = true;
        let _ = queue.encode(Message::Close(Some(reason)));
    }

    /// What is queued and not yet taken by the socket writer: frames, bytes, and whether the writer
    /// has been woken for them (the node is behind, not necessarily the client).
    pub fn queued(&self) -> Queued {
        let st = self.lock();
        Queued { frames: st.queue.frames, bytes: st.queue.buf.len(), writer_due: st.queue.writer_due() }
    }

    /// Whether a read-back may add more (it fills the buffer only to half its bounds, so live frames
    /// always fit); if not, the session is told (`Drained`) when the socket writer takes the buffer.
    pub fn has_room_or_notify(&self) -> bool {
        let mut st = self.lock();
        let room = st.queue.frames < self.bounds.frames / 2 && st.queue.buf.len() < self.bounds.bytes / 2;
        if !room {
            st.wants_room = true;
        }
        room
    }

    // ---- lanes ------------------------------------------------------------------------------

    /// Opens a lane at `delivered`, not live (the session decides when it is).
    pub fn open_lane(&self, channel: Uuid, delivered: i64) {
        self.lock().lanes.insert(channel, Lane { delivered, live: false });
    }

    pub fn close_lane(&self, channel: Uuid) {
        self.lock().lanes.remove(&channel);
    }

    pub fn lane(&self, channel: Uuid) -> Option<Lane> {
        self.lock().lanes.get(&channel).copied()
    }

    /// Moves a lane's position (a client's resume) and takes it off the direct path.
    pub fn rewind(&self, channel: Uuid, delivered: i64) {
        if let Some(lane) = self.lock().lanes.get_mut(&channel) {
            lane.delivered = delivered;
            lane.live = false;
        }
    }

    pub fn set_live(&self, channel: Uuid, live: bool) {
        if let Some(lane) = self.lock().lanes.get_mut(&channel) {
            lane.live = live;
        }
    }

    // ---- the socket's two sides ---------------------------------------------------------------

    /// The response body: the bytes to write, until the close frame has gone.
    pub fn body(self: &Arc<Self>) -> OutboxBody {
        OutboxBody { outbox: self.clone() }
    }

    /// Whether the socket writer is gone; if not, `cx` is woken when it goes.
    pub fn poll_gone(&self, cx: &mut Context<'_>) -> bool {
        let mut st = self.lock();
        if !st.queue.gone {
            st.reader = Some(cx.waker().clone());
        }
        st.queue.gone
    }
}

/// The WebSocket response body: takes the whole buffer on each poll, so queued frames leave together.
pub struct OutboxBody {
    outbox: Arc<Outbox>,
}

impl Stream for OutboxBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut st = self.outbox.lock();
        if !st.queue.buf.is_empty() {
            // Taking (not splitting) leaves an idle session holding no buffer at all.
            let bytes = std::mem::take(&mut st.queue.buf).freeze();
            st.queue.frames = 0;
            st.queue.woken_at = None;
            if let (Some(since), Some(observe)) = (st.queue.since.take(), self.outbox.counters.stages.get()) {
                observe(Stage::Write, since.elapsed().as_secs_f64());
            }
            let notify = std::mem::take(&mut st.wants_room).then(|| st.session.clone()).flatten();
            drop(st);
            if let Some(session) = notify.and_then(|s| s.upgrade()) {
                session.do_send(Drained);
            }
            return Poll::Ready(Some(Ok(bytes)));
        }
        if st.queue.closing {
            return Poll::Ready(None);
        }
        st.queue.writer = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for OutboxBody {
    fn drop(&mut self) {
        let mut st = self.outbox.lock();
        st.queue = Queue { gone: true, ..Queue::default() };
        if let Some(r) = st.reader.take() {
            r.wake();
        }
    }
}

#[cfg(test)]
mod tests;
