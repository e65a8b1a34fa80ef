//! `GET /api/v4/websocket`: Mattermost's WebSocket over the same sessions as our v1 socket (channel
//! actors, ordering, read-backs from the event log), with [`face::MmFace`] speaking Mattermost's
//! frames. Authentication by the `Authorization` header or `MMAUTHTOKEN` cookie at the upgrade, or
//! by the `authentication_challenge` action within [`AUTH_WAIT`]. A reconnect with `connection_id`
//! and `sequence_number` resumes from the position in [`position`], on any node.

pub mod directory;
pub mod face;
pub mod position;
pub mod render;
pub mod sockets;

use std::sync::Arc;
use std::time::Duration;

use actix_http::body::{BodyStream, MessageBody};
use actix_http::ws::{CloseCode, CloseReason, Message};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use rustchat_actors::WsSession;
use rustchat_actors::inbound::Inbound;
use rustchat_actors::outbox::{Bounds, Outbox};
use rustchat_actors::ports::EventLog;
use rustchat_actors::session::SessionParts;
use serde::Deserialize;
use serde_json::json;

use self::face::{MmFace, reply};
use self::position::{Record, Resume};
use super::auth::request_token;
use super::error::{MmError, MmResult};
use crate::auth::AuthUser;
use crate::state::AppState;

/// Largest client frame accepted (as on the v1 socket).
pub const MAX_FRAME: usize = 64 * 1024;

/// How long an unauthenticated socket may wait for its `authentication_challenge`.
pub const AUTH_WAIT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct ConnectQuery {
    #[serde(default)]
    connection_id: String,
    #[serde(default)]
    sequence_number: i64,
}

pub async fn connect(state: web::Data<AppState>, req: HttpRequest, body: web::Payload) -> MmResult<HttpResponse> {
    let ip = state.client_ip(&req);
    state.rate_limit(crate::ratelimit::Limit::Ws, &ip, &ip).await?;
    let query: ConnectQuery = super::input::query(&req)?;
    let token = request_token(&req).map(|(t, _)| t);
    let mut response = actix_http::ws::handshake(req.head())
        .map_err(|e| MmError::bad_request(format!("not a WebSocket upgrade: {e}")))?;
    let sockets = &state.mattermost;
    let config = state.realtime.session_config.clone();
    let bounds = Bounds { frames: config.max_queued_frames, bytes: config.max_queued_bytes };
    let face = Arc::new(MmFace::new(sockets.directory.clone()));
    let outbox = Outbox::with_face(bounds, config.counters.clone(), face.clone());
    let response: HttpResponse = response
        .message_body(BodyStream::new(outbox.body()).boxed())
        .map_err(|e| crate::error::Error::internal(anyhow::anyhow!("cannot build the upgrade response: {e}")))?
        .into();
    let inbound = Inbound::new(body.into_inner(), outbox.clone(), MAX_FRAME);
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        if let Err(reason) = start(&state, face, &outbox, inbound, token, query).await {
            tracing::info!(ip, reason, "Mattermost WebSocket refused");
            outbox.close(CloseReason { code: CloseCode::Policy, description: Some(reason.to_string()) }, false);
        }
    });
    Ok(response)
}

/// Authenticates the socket (waiting for the challenge if the upgrade carried no token), decides
/// whether it resumes, and hands it to a session.
async fn start(
    state: &AppState,
    face: Arc<MmFace>,
    outbox: &Arc<Outbox>,
    mut inbound: Inbound,
    token: Option<String>,
    query: ConnectQuery,
) -> Result<(), &'static str> {
    let (token, challenge) = match token {
        Some(t) => (t, None),
        None => {
            let wait = async {
                while let Some(message) = inbound.next().await {
                    let Ok(Message::Text(text)) = message else { continue };
                    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    let seq = v["seq"].as_i64().unwrap_or(0);
                    match (v["action"].as_str(), v["data"]["token"].as_str()) {
                        (Some("authentication_challenge"), Some(t)) if seq > 0 => return Some((t.to_string(), seq)),
                        _ => {
                            let error = json!({ "id": "api.web_socket_router.not_authenticated.app_error",
                                                "message": "authenticate first (authentication_challenge)" });
                            let _ = outbox.push_direct(reply(seq, "FAIL", None, Some(error)));
                        }
                    }
                }
                None
            };
            match tokio::time::timeout(AUTH_WAIT, wait).await {
                Ok(Some((t, seq))) => (t, Some(seq)),
                _ => return Err("not authenticated in time"),
            }
        }
    };
    let (caller, expires) =
        AuthUser::from_token_with_expiry(&state.store, &state.tokens, &token).await.map_err(|_| "invalid token")?;
    let user = caller.id().0;
    let sockets = &state.mattermost;
    let realtime = &state.realtime;
    let memberships = realtime.log.memberships(user).await.map_err(|_| "cannot read the user's channels")?;
    if let Err(e) = sockets.directory.load_for(&state.store, caller.id()).await {
        tracing::warn!(error = ?e, "cannot load the names a Mattermost socket's events carry");
    }
    // Resume (Mattermost's three cases), from a position kept in Redis: any node can resume it.
    let previous = match query.connection_id.as_str() {
        "" => None,
        id => sockets.positions.load(id).await.filter(|r| r.user == user).map(|r| (id.to_string(), r)),
    };
    let resume = previous.and_then(|(id, record)| match record.resume(query.sequence_number) {
        Resume::From(pos) => Some((id, pos)),
        Resume::Lost => None,
    });
    let (connection_id, record, initial, hello) = match resume {
        Some((id, pos)) => {
            let since: serde_json::Map<String, serde_json::Value> =
                pos.iter().map(|(c, s)| (c.to_string(), json!(s.max(&0)))).collect();
            let record = Record { user, next: query.sequence_number, pos, ..Record::default() };
            let action = json!({ "action": "resume", "id": "mm-resume", "since": since }).to_string();
            (id, record, vec![action], false)
        }
        None => {
            let pos = memberships.iter().map(|m| (m.channel, m.last_seq)).collect();
            (super::ids::random(), Record { user, next: 0, pos, ..Record::default() }, Vec::new(), true)
        }
    };
    let next = record.next;
    let sent = position::spawn_writer(sockets.positions.clone(), connection_id.clone(), record);
    face.begin(user, connection_id, next, hello, sent);
    if let Some(seq) = challenge {
        let _ = outbox.push_direct(reply(seq, "OK", None, None));
    }
    let limit = state.site.get().max_simultaneous_connections;
    let conn = uuid::Uuid::now_v7();
    if !realtime.slots.acquire(user, conn, limit).await.unwrap_or(true) {
        return Err("too many connections");
    }
    let resume_announced = !initial.is_empty();
    WsSession::start(
        SessionParts {
            conn,
            user,
            login: caller.session.0,
            token_expires_at: expires,
            outbox: outbox.clone(),
            resume_announced,
            supervisor: realtime.supervisor.clone(),
            log: realtime.log.clone(),
            actions: realtime.actions.clone(),
            logins: realtime.logins.clone(),
            config: realtime.session_config.clone(),
            span: tracing::info_span!("mm_ws", conn = %conn, user = %user),
            memberships,
            translate: Some(Arc::new(face::translate)),
            initial,
        },
        inbound,
    );
    tracing::info!(user = %user, resumed = resume_announced, "Mattermost WebSocket connected");
    Ok(())
}
