//! One WebSocket client: connects (from its source address), resumes every channel from the highest
//! seq it holds as its first frame, reads and checks events, and after any close — server restart
//! (1012), slow-consumer close (4008), idle close, a dead TCP connection, or its own churn — reconnects
//! to the next target with a short backoff until the run ends, timing close → `hello`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Notify, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

use crate::plan::ClientPlan;
use crate::tally::{Arrival, SeqTally, histogram};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding a tally must not hide the tally from the report.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

pub struct Target {
    pub ws_url: String,
    pub addr: SocketAddr,
}

/// What every client of one process adds to.
pub struct Shared {
    pub targets: Vec<Target>,
    pub stop: watch::Receiver<bool>,
    pub open: AtomicI64,
    pub connected_once: AtomicU64,
    pub reconnects: AtomicU64,
    pub deliveries: AtomicU64,
    pub connect_errors: AtomicU64,
    pub resume_errors: AtomicU64,
    pub resume_unknown: AtomicU64,
    pub foreign_events: AtomicU64,
    pub hello_mismatch: AtomicU64,
    pub bad_frames: AtomicU64,
    /// Post→delivery at readers (slow consumers excluded), µs from the post's intended send time.
    pub latency: Mutex<Histogram<u64>>,
    /// close → `hello` for churned connections, and for every other reconnect.
    pub reconnect_churn: Mutex<Histogram<u64>>,
    pub reconnect_other: Mutex<Histogram<u64>>,
    /// Why connections ended: close codes the server sent, `io` for a dead connection, `churn`.
    pub closes: Mutex<BTreeMap<String, u64>>,
    /// Slow consumers at the end: closed by the server with 4008, closed otherwise, still open.
    pub slow_outcomes: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    pub fn new(targets: Vec<Target>, stop: watch::Receiver<bool>) -> Shared {
        Shared {
            targets,
            stop,
            open: AtomicI64::new(0),
            connected_once: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            resume_errors: AtomicU64::new(0),
            resume_unknown: AtomicU64::new(0),
            foreign_events: AtomicU64::new(0),
            hello_mismatch: AtomicU64::new(0),
            bad_frames: AtomicU64::new(0),
            latency: Mutex::new(histogram()),
            reconnect_churn: Mutex::new(histogram()),
            reconnect_other: Mutex::new(histogram()),
            closes: Mutex::default(),
            slow_outcomes: Mutex::default(),
        }
    }

    fn count(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
        *lock(map).entry(key.to_string()).or_default() += 1;
    }
}

/// A client's tallies, readable by its worker while it runs (drain checks, final results).
pub struct ClientState {
    pub tallies: Vec<SeqTally>,
    pub connected_once: bool,
    /// Persisted events that arrived, duplicates included (for `--self-test-drop`).
    pub arrived: u64,
}

impl ClientState {
    pub fn new(plan: &ClientPlan) -> ClientState {
        ClientState {
            tallies: plan.channels.iter().map(|c| SeqTally::new(c.base_seq)).collect(),
            connected_once: false,
            arrived: 0,
        }
    }
}

type Ws = WebSocketStream<TcpStream>;

/// Why a session's read loop stopped.
enum Next {
    Stall,
    Stop,
    Churn(Instant),
    Lost(String),
}

/// How a session ended.
enum Ended {
    Stop,
    /// Our own clean close; when it was asked for.
    Churn(Instant),
    /// The server or the network ended it: why, and when.
    Lost(String, Instant),
}

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default, borrow)]
    channel_id: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<i64>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<Data<'a>>,
}

/// What the checks need from any frame, should `data` ever take a shape `Incoming` does not expect:
/// an event must never go unchecked because of a field the tool does not even use.
#[derive(Deserialize)]
struct Minimal<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default, borrow)]
    channel_id: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<i64>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(default, borrow)]
    post: Option<PostData<'a>>,
    /// `hello`: channels the session is subscribed to.
    #[serde(default)]
    channels: Option<u64>,
    /// `reply` to resume: channels the server did not know the client in.
    #[serde(default)]
    unknown: Option<Vec<serde::de::IgnoredAny>>,
}

#[derive(Deserialize)]
struct PostData<'a> {
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

/// The intended send time the poster put in the message: `t=<unix µs> …`.
pub fn intended_us(message: &str) -> Option<u64> {
    message.strip_prefix("t=")?.split(' ').next()?.parse().ok()
}

pub struct Client {
    pub plan: ClientPlan,
    pub shared: Arc<Shared>,
    pub state: Arc<Mutex<ClientState>>,
    pub churn: Arc<Notify>,
    /// Ignore the N-th event, as if the server had lost it (a self-test of the checks).
    pub drop_nth: Option<u64>,
}

impl Client {
    pub async fn run(self) {
        let n = self.shared.targets.len();
        let mut stop = self.shared.stop.clone();
        let mut target = self.plan.first_target % n;
        // Set while disconnected: since when, and whether we closed on purpose.
        let mut down: Option<(Instant, bool)> = None;
        let mut backoff = Duration::from_millis(50);
        loop {
            if *stop.borrow() {
                return;
            }
            let ws =
                match connect(&self.shared.targets[target], self.plan.source, &self.plan.token, self.plan.slow).await {
                    Ok(ws) => ws,
                    Err(e) => {
                        if self.shared.connect_errors.fetch_add(1, Ordering::Relaxed) == 0 || rate_limited(&e) {
                            explain_once(&e);
                        }
                        target = (target + 1) % n;
                        if pause(backoff, &mut stop).await {
                            return;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        continue;
                    }
                };
            backoff = Duration::from_millis(50);
            match self.session(ws, &mut down, &mut stop).await {
                Ended::Stop => return,
                Ended::Churn(at) => {
                    Shared::count(&self.shared.closes, "churn");
                    down = Some((at, true));
                }
                Ended::Lost(why, at) => {
                    Shared::count(&self.shared.closes, &why);
                    // A socket that died before its hello does not restart the clock: the reconnect
                    // is timed from the first close.
                    down.get_or_insert((at, false));
                    if self.plan.slow {
                        // A consumer that stopped reading does not come back.
                        Shared::count(&self.shared.slow_outcomes, &format!("closed {why}"));
                        return;
                    }
                    // Spread the herd a node restart creates, a little.
                    let jitter = Duration::from_micros(now_us() % 50_000);
                    if pause(jitter, &mut stop).await {
                        return;
                    }
                }
            }
            target = (target + 1) % n;
        }
    }

    fn since(&self) -> serde_json::Value {
        let state = lock(&self.state);
        let since: serde_json::Map<String, serde_json::Value> = self
            .plan
            .channels
            .iter()
            .zip(&state.tallies)
            .map(|(c, t)| (c.id.clone(), serde_json::json!(t.resume_from())))
            .collect();
        serde_json::json!({"action": "resume", "id": "r", "since": since})
    }

    async fn session(&self, mut ws: Ws, down: &mut Option<(Instant, bool)>, stop: &mut watch::Receiver<bool>) -> Ended {
        // The first frame, before anything is delivered: the server applies it before sending events.
        if ws.send(Message::text(self.since().to_string())).await.is_err() {
            return Ended::Lost("io".into(), Instant::now());
        }
        let mut hello = false;
        let next = {
            // Made once per socket rather than once per frame: re-creating them for every message
            // cost the tool about 6 % of its CPU.
            let stopped = stop.changed();
            let churned = self.churn.notified();
            tokio::pin!(stopped, churned);
            loop {
                if hello && self.plan.slow {
                    break Next::Stall;
                }
                tokio::select! {
                    biased;
                    // `stop` only ever turns true (or its sender goes away): either way, stop.
                    _ = &mut stopped => break Next::Stop,
                    _ = &mut churned, if hello => break Next::Churn(Instant::now()),
                    msg = ws.next() => match msg {
                        Some(Ok(Message::Text(text))) => self.on_text(text.as_str(), &mut hello, down),
                        Some(Ok(Message::Close(frame))) => {
                            break Next::Lost(
                                frame.map(|f| u16::from(f.code).to_string()).unwrap_or_else(|| "no code".into()),
                            );
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => break Next::Lost("io".to_string()),
                    },
                }
            }
        };
        let at = Instant::now();
        if hello && !matches!(next, Next::Stall) {
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
        }
        match next {
            Next::Stall => self.stall(ws, stop).await,
            Next::Stop => {
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                Ended::Stop
            }
            Next::Churn(at) => {
                self.close_cleanly(ws).await;
                Ended::Churn(at)
            }
            Next::Lost(why) => Ended::Lost(why, at),
        }
    }

    /// Churn: a normal close, then straight on to a new socket, as a real client would. Whatever the
    /// old socket still carries is left unread (the resume brings it again on the new one); the close
    /// handshake finishes in the background, where the server may take a while to answer it.
    async fn close_cleanly(&self, mut ws: Ws) {
        let frame = CloseFrame { code: CloseCode::Normal, reason: "churn".into() };
        if ws.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), async { while let Some(Ok(_)) = ws.next().await {} })
                .await;
        });
    }

    /// A slow consumer: holds the socket without reading until the run ends, then looks for the
    /// server's close (it reads whatever is queued, without checking it).
    async fn stall(&self, mut ws: Ws, stop: &mut watch::Receiver<bool>) -> Ended {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        let outcome = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => {
                        return format!(
                            "closed {}",
                            frame.map(|f| u16::from(f.code).to_string()).unwrap_or_else(|| "no code".into())
                        );
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return "closed io".to_string(),
                }
            }
        })
        .await
        .unwrap_or_else(|_| "still open".to_string());
        Shared::count(&self.shared.slow_outcomes, &outcome);
        if outcome.starts_with("closed") {
            Shared::count(&self.shared.closes, outcome.trim_start_matches("closed "));
        }
        self.shared.open.fetch_sub(1, Ordering::Relaxed);
        Ended::Stop
    }

    fn on_text(&self, text: &str, hello: &mut bool, down: &mut Option<(Instant, bool)>) {
        let frame = match serde_json::from_str::<Incoming>(text) {
            Ok(frame) => frame,
            Err(_) => match serde_json::from_str::<Minimal>(text) {
                Ok(m) => Incoming {
                    event: m.event,
                    channel_id: m.channel_id,
                    seq: m.seq,
                    id: None,
                    status: None,
                    data: None,
                },
                Err(_) => {
                    self.shared.bad_frames.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
        };
        if frame.seq.unwrap_or(0) > 0 {
            return self.on_event(&frame);
        }
        match frame.event.as_ref() {
            "hello" => {
                *hello = true;
                self.shared.open.fetch_add(1, Ordering::Relaxed);
                let first = {
                    let mut state = lock(&self.state);
                    !std::mem::replace(&mut state.connected_once, true)
                };
                if first {
                    self.shared.connected_once.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                if let Some((at, churned)) = down.take() {
                    let h = if churned { &self.shared.reconnect_churn } else { &self.shared.reconnect_other };
                    lock(h).saturating_record(at.elapsed().as_micros().max(1) as u64);
                }
                let channels = frame.data.as_ref().and_then(|d| d.channels);
                if channels.is_some_and(|n| n != self.plan.channels.len() as u64) {
                    self.shared.hello_mismatch.fetch_add(1, Ordering::Relaxed);
                }
            }
            "reply" if frame.id.as_deref() == Some("r") => {
                if frame.status.as_deref() != Some("ok") {
                    self.shared.resume_errors.fetch_add(1, Ordering::Relaxed);
                }
                let unknown = frame.data.as_ref().and_then(|d| d.unknown.as_ref()).map_or(0, Vec::len);
                self.shared.resume_unknown.fetch_add(unknown as u64, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    fn on_event(&self, frame: &Incoming) {
        let channel = frame.channel_id.as_deref().unwrap_or("");
        let Some(i) = self.plan.channels.iter().position(|c| c.id == channel) else {
            self.shared.foreign_events.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let arrival = {
            let mut state = lock(&self.state);
            state.arrived += 1;
            if self.drop_nth == Some(state.arrived) {
                return;
            }
            state.tallies[i].record(frame.seq.unwrap_or(0))
        };
        if arrival == Arrival::Duplicate {
            return;
        }
        self.shared.deliveries.fetch_add(1, Ordering::Relaxed);
        if frame.event == "posted"
            && !self.plan.slow
            && let Some(sent) = frame
                .data
                .as_ref()
                .and_then(|d| d.post.as_ref())
                .and_then(|p| p.message.as_deref())
                .and_then(intended_us)
        {
            lock(&self.shared.latency).saturating_record(now_us().saturating_sub(sent).max(1));
        }
    }
}

/// Sleeps, unless the run stops first (then `true`).
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

fn rate_limited(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<tokio_tungstenite::tungstenite::Error>(),
        Some(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status().as_u16() == 429)
}

/// Says on stderr why sockets fail to connect: the first failure, and the first 429 (with what to raise).
fn explain_once(e: &anyhow::Error) {
    static FIRST: std::sync::Once = std::sync::Once::new();
    static LIMITED: std::sync::Once = std::sync::Once::new();
    if rate_limited(e) {
        LIMITED.call_once(|| eprintln!("WebSocket handshake refused: 429{}", crate::api::hint(429)));
    } else {
        FIRST.call_once(|| eprintln!("first WebSocket connect error (retrying): {e:#}"));
    }
}

async fn connect(target: &Target, source: Ipv4Addr, token: &str, slow: bool) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    if slow {
        // A small receive window makes a stalled reader back up into the server's queue quickly.
        socket.set_recv_buffer_size(4096)?;
    }
    // Churned sockets leave ports in TIME_WAIT; binding first (to pick the source address) would
    // otherwise skip them, and one address has only ~28 k ephemeral ports.
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::new(source.into(), 0))?;
    let tcp = tokio::time::timeout(Duration::from_secs(5), socket.connect(target.addr)).await??;
    tcp.set_nodelay(true)?;
    let mut req = target.ws_url.as_str().into_client_request()?;
    req.headers_mut().insert("Authorization", format!("Bearer {token}").parse()?);
    // tungstenite's default 128 KiB read buffer is zeroed per connection: 133 KiB RSS each.
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async_with_config(req, tcp, Some(config)),
    )
    .await??;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_intended_time() {
        assert_eq!(intended_us("t=1700000000123456 n=5 load"), Some(1_700_000_000_123_456));
        assert_eq!(intended_us("hello"), None);
    }

    #[test]
    fn parses_the_frames_it_needs() {
        let f: Incoming = serde_json::from_str(
            r#"{"event":"posted","channel_id":"c1","seq":42,"data":{"post":{"id":"p","message":"t=5 x"},"mentions":{"usernames":[]}}}"#,
        )
        .unwrap();
        assert_eq!((f.event.as_ref(), f.channel_id.as_deref(), f.seq), ("posted", Some("c1"), Some(42)));
        assert_eq!(f.data.unwrap().post.unwrap().message.as_deref(), Some("t=5 x"));
        let r: Incoming = serde_json::from_str(
            r#"{"event":"reply","id":"r","status":"ok","data":{"resumed":["a"],"unknown":["b"]}}"#,
        )
        .unwrap();
        assert_eq!(r.data.unwrap().unknown.unwrap().len(), 1);
        let h: Incoming =
            serde_json::from_str(r#"{"event":"hello","data":{"connection_id":"x","channels":2,"user_id":"u"}}"#)
                .unwrap();
        assert_eq!(h.data.unwrap().channels, Some(2));
        let p: Incoming = serde_json::from_str(
            r#"{"event":"presence","channel_id":"c","seq":0,"data":{"user_id":"u","status":"online"}}"#,
        )
        .unwrap();
        assert_eq!(p.seq, Some(0));
        // `data` of an unexpected shape fails the full parse; the minimal one still yields the seq.
        let odd = r#"{"event":"posted","channel_id":"c","seq":7,"data":{"post":"not an object"}}"#;
        assert!(serde_json::from_str::<Incoming>(odd).is_err());
        assert_eq!(serde_json::from_str::<Minimal>(odd).unwrap().seq, Some(7));
    }
}
