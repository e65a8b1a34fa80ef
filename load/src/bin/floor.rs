//! `rustchat-floor`: the floor RustChat's fan-out is measured against (issue #21) — a minimal
//! broadcast server on hyper and tokio-tungstenite that speaks just enough of RustChat's API for
//! `rustchat-load --scenario fanout`: it registers anyone, keeps nothing on disk, checks no token, and
//! sends each post to every socket that named its channel. What it does per delivery is the least any
//! WebSocket server must do: put the frame on each socket's queue, wake its task, write it. The
//! difference between its figures and a node's is what RustChat's guarantees cost (persistence,
//! ordering, authorization, the cluster bus).
//!
//! `rustchat-floor --port 3000` (one thread, as `scripts/bench` runs each node with one worker).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

type Body = Full<Bytes>;

/// A channel: its seq and the queues of the sockets that follow it.
#[derive(Default)]
struct Channel {
    seq: AtomicI64,
    sockets: Mutex<HashMap<u64, mpsc::UnboundedSender<Utf8Bytes>>>,
}

#[derive(Default)]
struct Floor {
    channels: Mutex<HashMap<String, Arc<Channel>>>,
    next_id: AtomicU64,
}

impl Floor {
    fn channel(&self, id: &str) -> Arc<Channel> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).entry(id.to_string()).or_default().clone()
    }

    fn id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }
}

fn json_response(status: StatusCode, v: Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    r
}

async fn serve(floor: Arc<Floor>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let parts: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    if req.headers().contains_key("sec-websocket-key") && path == "/api/v1/ws" {
        return Ok(upgrade(floor, req));
    }
    let method = req.method().clone();
    let body: Value = match req.into_body().collect().await {
        Ok(b) => serde_json::from_slice(&b.to_bytes()).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let ok = |v| Ok(json_response(StatusCode::OK, v));
    match (method, parts.as_slice()) {
        (Method::GET, ["health", "ready"]) => ok(json!({"status": "ready"})),
        (Method::POST, ["auth", "register"]) => {
            let id = floor.id();
            Ok(json_response(
                StatusCode::CREATED,
                json!({"user": {"id": id, "username": body["username"]}, "access_token": id, "refresh_token": id}),
            ))
        }
        (Method::POST, ["auth", "refresh"]) => {
            let token = body["refresh_token"].clone();
            ok(json!({"user": {"id": token}, "access_token": token, "refresh_token": token}))
        }
        (Method::POST, ["teams"]) | (Method::POST, ["teams", _, "channels"]) => ok(json!({"id": floor.id()})),
        (Method::POST, ["teams", _, "join"]) | (Method::POST, ["channels", _, "members"]) => ok(json!({})),
        (Method::GET, ["channels", id]) => {
            ok(json!({"id": id, "last_seq": floor.channel(id).seq.load(Ordering::SeqCst)}))
        }
        (Method::POST, ["channels", id, "posts"]) => {
            let channel = floor.channel(id);
            // The seq is taken and the frame queued under the sockets' lock: each socket sees seq order.
            let sockets = channel.sockets.lock().unwrap_or_else(|p| p.into_inner());
            let seq = channel.seq.fetch_add(1, Ordering::SeqCst) + 1;
            let frame = json!({"event": "posted", "channel_id": id, "seq": seq, "data": {"post": {"message": body["message"]}}});
            let text = Utf8Bytes::from(frame.to_string());
            for tx in sockets.values() {
                let _ = tx.send(text.clone());
            }
            drop(sockets);
            Ok(json_response(StatusCode::CREATED, json!({"seq": seq})))
        }
        _ => Ok(json_response(StatusCode::NOT_FOUND, json!({"error": {"code": "not_found"}}))),
    }
}

fn upgrade(floor: Arc<Floor>, mut req: Request<Incoming>) -> Response<Body> {
    let key = req.headers().get("sec-websocket-key").map(|k| derive_accept_key(k.as_bytes())).unwrap_or_default();
    tokio::task::spawn_local(async move {
        let Ok(upgraded) = hyper::upgrade::on(&mut req).await else { return };
        let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
        session(floor, ws).await;
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert("upgrade", HeaderValue::from_static("websocket"));
    h.insert("connection", HeaderValue::from_static("Upgrade"));
    if let Ok(v) = key.parse() {
        h.insert("sec-websocket-accept", v);
    }
    r
}

/// One socket: its first frame (`resume`) names its channels; from then on it gets their posts.
async fn session(floor: Arc<Floor>, ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>) {
    let (mut sink, mut stream) = ws.split();
    let Some(Ok(Message::Text(first))) = stream.next().await else { return };
    let resume: Value = serde_json::from_str(first.as_str()).unwrap_or(Value::Null);
    let names: Vec<String> = resume["since"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let me = floor.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let channels: Vec<Arc<Channel>> = names.iter().map(|n| floor.channel(n)).collect();
    for c in &channels {
        c.sockets.lock().unwrap_or_else(|p| p.into_inner()).insert(me, tx.clone());
    }
    drop(tx);
    let reply = json!({"event": "reply", "id": "r", "status": "ok", "data": {"resumed": names, "unknown": []}});
    let hello = json!({"event": "hello", "data": {"connection_id": me.to_string(), "channels": names.len()}});
    let greeted = async {
        sink.feed(Message::text(reply.to_string())).await?;
        sink.send(Message::text(hello.to_string())).await
    };
    if greeted.await.is_ok() {
        loop {
            tokio::select! {
                frame = rx.recv() => {
                    let Some(frame) = frame else { break };
                    // Whatever queued meanwhile leaves in the same write, as RustChat's outbox does.
                    if sink.feed(Message::Text(frame)).await.is_err() { break }
                    while let Ok(more) = rx.try_recv() {
                        if sink.feed(Message::Text(more)).await.is_err() { break }
                    }
                    if sink.flush().await.is_err() { break }
                }
                msg = stream.next() => match msg {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    _ => {}
                },
            }
        }
    }
    for c in &channels {
        c.sockets.lock().unwrap_or_else(|p| p.into_inner()).remove(&me);
    }
}

fn main() -> anyhow::Result<()> {
    let mut port = 3000u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).ok_or_else(|| anyhow::anyhow!("--port N"))?,
            other => anyhow::bail!("unknown option {other}: rustchat-floor [--port N]"),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        eprintln!("rustchat-floor listening on 127.0.0.1:{port}");
        let floor = Arc::new(Floor::default());
        loop {
            let (tcp, _) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            let floor = floor.clone();
            tokio::task::spawn_local(async move {
                let service = hyper::service::service_fn(move |req| serve(floor.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades()
                    .await;
            });
        }
    })
}
