//! A WebSocket test client (tokio-tungstenite, with a small read buffer: its default 128 KiB one is
//! zero-filled per connection). It records every event it reads, so a test can assert on exactly what
//! a client saw, in order.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What reading the socket gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    Event(Value),
    Closed(Option<(u16, String)>),
    TimedOut,
}

pub struct Ws {
    stream: Stream,
    /// Every event read so far.
    pub seen: Vec<Value>,
    pub closed: Option<Option<(u16, String)>>,
    /// WebSocket pings the server sent, read so far (tungstenite answers each with a pong when it next
    /// reads or writes).
    pub pings: usize,
}

fn ws_url(base: &str) -> String {
    format!("{}/api/v1/ws", base.replacen("http://", "ws://", 1))
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096)
}

impl Ws {
    fn over(stream: Stream) -> Ws {
        Ws { stream, seen: Vec::new(), closed: None, pings: 0 }
    }

    /// Connects with `Authorization: Bearer <token>`; the handshake error when refused.
    pub async fn try_connect(base: &str, token: Option<&str>) -> Result<Ws, WsError> {
        let mut request = ws_url(base).into_client_request()?;
        if let Some(t) = token {
            request.headers_mut().insert("Authorization", format!("Bearer {t}").parse().unwrap());
        }
        let (stream, _) = tokio_tungstenite::connect_async_with_config(request, Some(config()), false).await?;
        Ok(Ws::over(stream))
    }

    /// Connects announcing a resume (`?resume=true`: events wait for the first frame) and waits for `hello`.
    pub async fn connect_announcing_resume(base: &str, token: &str) -> Ws {
        let mut request = format!("{}?resume=true", ws_url(base)).into_client_request().unwrap();
        request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
        let (stream, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config()), false).await.expect("handshake");
        let mut ws = Ws::over(stream);
        ws.expect("hello", Duration::from_secs(10)).await;
        ws
    }

    /// Connects and waits for `hello`.
    pub async fn connect(base: &str, token: &str) -> Ws {
        let mut ws = Ws::try_connect(base, Some(token)).await.expect("WebSocket handshake");
        let hello = ws.expect("hello", Duration::from_secs(10)).await;
        assert!(hello["data"]["connection_id"].is_string(), "{hello}");
        ws
    }

    /// Connects passing the token as a browser would, in `Sec-WebSocket-Protocol`.
    pub async fn connect_with_subprotocol(base: &str, token: &str) -> (Ws, Option<String>) {
        let mut request = ws_url(base).into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", format!("rustchat.bearer, {token}").parse().unwrap());
        let (stream, response) =
            tokio_tungstenite::connect_async_with_config(request, Some(config()), false).await.unwrap();
        let chosen = response.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap().to_string());
        let mut ws = Ws::over(stream);
        ws.expect("hello", Duration::from_secs(10)).await;
        (ws, chosen)
    }

    /// Connects through a socket with a tiny receive buffer, for a client that stops reading.
    pub async fn connect_slow(base: &str, token: &str) -> Ws {
        let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let mut request = ws_url(base).into_client_request().unwrap();
        request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
        let (stream, _) =
            tokio_tungstenite::client_async_with_config(request, MaybeTlsStream::Plain(tcp), Some(config()))
                .await
                .unwrap();
        let mut ws = Ws::over(stream);
        ws.expect("hello", Duration::from_secs(10)).await;
        ws
    }

    /// Sends a raw text frame (to test malformed input).
    pub async fn stream_send_raw(&mut self, text: &str) {
        self.stream.send(Message::text(text.to_string())).await.unwrap();
    }

    pub async fn send(&mut self, value: Value) {
        self.stream.send(Message::text(value.to_string())).await.unwrap();
    }

    /// The next event, a close, or a timeout.
    pub async fn read(&mut self, timeout: Duration) -> Read {
        if let Some(c) = &self.closed {
            return Read::Closed(c.clone());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await;
            let message = match next {
                Err(_) => return Read::TimedOut,
                Ok(None) => {
                    self.closed = Some(None);
                    return Read::Closed(None);
                }
                Ok(Some(Err(_))) => {
                    self.closed = Some(None);
                    return Read::Closed(None);
                }
                Ok(Some(Ok(m))) => m,
            };
            match message {
                Message::Text(text) => {
                    let v: Value =
                        serde_json::from_str(&text).unwrap_or_else(|e| panic!("server sent non-JSON ({e}): {text}"));
                    assert!(v["event"].is_string(), "every server frame names its event: {v}");
                    self.seen.push(v.clone());
                    return Read::Event(v);
                }
                Message::Close(frame) => {
                    let c = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    self.closed = Some(c.clone());
                    return Read::Closed(c);
                }
                Message::Ping(_) => self.pings += 1,
                _ => continue,
            }
        }
    }

    /// Reads until an event named `name`, panicking on close or timeout.
    pub async fn expect(&mut self, name: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read(left).await {
                Read::Event(v) if v["event"] == name => return v,
                Read::Event(_) => continue,
                other => panic!("waiting for '{name}': {other:?}; seen: {:?}", self.seen),
            }
        }
    }

    /// Reads until the socket closes; returns the close code and reason.
    pub async fn expect_close(&mut self, timeout: Duration) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read(left).await {
                Read::Event(_) => continue,
                Read::Closed(Some(c)) => return c,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Reads until `channel`'s events reach `seq` (or `timeout`), and returns that channel's
    /// persisted events seen so far, in the order received.
    pub async fn until_seq(&mut self, channel: &str, seq: i64, timeout: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.max_seq(channel) < seq {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read(left).await {
                Read::Event(_) => {}
                other => panic!("waiting for {channel} seq {seq}: {other:?}; got up to {}", self.max_seq(channel)),
            }
        }
        self.channel_events(channel)
    }

    pub fn channel_events(&self, channel: &str) -> Vec<Value> {
        self.seen.iter().filter(|e| e["channel_id"] == channel && e["seq"].as_i64().unwrap_or(0) > 0).cloned().collect()
    }

    pub fn max_seq(&self, channel: &str) -> i64 {
        self.channel_events(channel).iter().filter_map(|e| e["seq"].as_i64()).max().unwrap_or(0)
    }

    pub async fn close(mut self) {
        let _ = self
            .stream
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
    }

    /// Sends a close frame (1000) and returns the code of the server's answering close frame, or
    /// `None` if none came within `timeout`.
    pub async fn close_handshake(mut self, timeout: Duration) -> Option<u16> {
        let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame { code: CloseCode::Normal, reason: "".into() };
        self.stream.close(Some(frame)).await.ok()?;
        let answer = tokio::time::timeout(timeout, async {
            while let Some(Ok(message)) = self.stream.next().await {
                if let tokio_tungstenite::tungstenite::Message::Close(frame) = message {
                    return frame.map(|f| u16::from(f.code));
                }
            }
            None
        });
        answer.await.ok().flatten()
    }

    /// Drops the TCP connection without a close handshake (a network blip).
    pub fn drop_connection(self) {
        drop(self.stream);
    }
}

/// Asserts `events` have strictly consecutive seqs from `first` (in order, no gap, no duplicate).
pub fn assert_contiguous(events: &[Value], first: i64) {
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let want: Vec<i64> = (first..first + seqs.len() as i64).collect();
    assert_eq!(seqs, want, "events must arrive in seq order without gaps or duplicates");
}
