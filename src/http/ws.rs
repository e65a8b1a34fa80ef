//! `GET /api/v1/ws`: the WebSocket endpoint. Authentication happens before the upgrade, from
//! `Authorization: Bearer <token>` (what `websocat -H` sends) or, for browsers, the subprotocol pair
//! `Sec-WebSocket-Protocol: rustchat.bearer, <token>` — never from the query string, which ends up in
//! logs. Then the per-user connection limit (cluster-wide) is checked, and a `WsSession` actor takes
//! the socket. The protocol is documented in `docs/websocket.md`.

use actix_http::body::{BodyStream, MessageBody};
use actix_http::ws::{CloseCode, CloseReason};
use actix_web::{HttpRequest, HttpResponse, get, web};
use rustchat_actors::WsSession;
use rustchat_actors::inbound::Inbound;
use rustchat_actors::outbox::{Bounds, Outbox};
use rustchat_actors::session::SessionParts;
use tracing::Instrument;

use crate::auth::{AuthUser, bearer};
use crate::error::{Error, ErrorCode, Result};
use crate::state::AppState;

/// The subprotocol a browser names to pass its token as the next subprotocol entry.
pub const BEARER_PROTOCOL: &str = "rustchat.bearer";
/// Largest client frame accepted.
pub const MAX_FRAME: usize = 64 * 1024;

fn token_from_protocols(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    let mut parts = header.split(',').map(str::trim);
    parts.find(|p| *p == BEARER_PROTOCOL)?;
    parts.next().filter(|t| !t.is_empty()).map(str::to_string)
}

/// `?name=true|false|1|0` (absent: false); anything else is refused rather than guessed.
fn query_flag(req: &HttpRequest, name: &str) -> std::result::Result<bool, String> {
    let value = url::form_urlencoded::parse(req.query_string().as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v);
    match value.as_deref() {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(format!("{name} must be true or false, not '{other}'")),
    }
}

/// Open a WebSocket (see docs/websocket.md for the protocol).
#[utoipa::path(tag = "realtime", responses((status = 101, description = "switching protocols"), (status = 401)), security(("bearer" = [])))]
#[get("/ws")]
pub async fn connect(state: web::Data<AppState>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse> {
    let conn = uuid::Uuid::now_v7();
    let span = tracing::info_span!("ws_handler", conn = %conn, user = tracing::field::Empty);
    let ip = state.client_ip(&req);
    async move {
        state.rate_limit(crate::ratelimit::Limit::Ws, &ip, &ip).await?;
        let token = bearer(&req).map(str::to_string).or_else(|| token_from_protocols(&req));
        let Some(token) = token else {
            tracing::info!(ip, "Unauthorized WebSocket: no bearer token");
            return Err(Error::new(
                ErrorCode::Unauthorized,
                "Unauthorized: send Authorization: Bearer <token> or the rustchat.bearer subprotocol",
            ));
        };
        let caller = AuthUser::from_token(&state, &token).await?;
        tracing::Span::current().record("user", tracing::field::display(caller.id()));

        let limit = state.site.get().max_simultaneous_connections;
        let admitted = state.realtime.slots.acquire(caller.id().0, conn, limit).await.unwrap_or(true);
        let resume_announced = match query_flag(&req, "resume") {
            Ok(flag) => flag,
            Err(message) => {
                if admitted {
                    state.realtime.slots.release(caller.id().0, conn).await;
                }
                return Err(Error::new(ErrorCode::ValidationFailed, message));
            }
        };
        let mut response = match actix_http::ws::handshake(req.head()) {
            Ok(response) => response,
            Err(e) => {
                if admitted {
                    state.realtime.slots.release(caller.id().0, conn).await;
                }
                return Err(Error::new(ErrorCode::BadRequest, format!("not a WebSocket upgrade: {e}")));
            }
        };
        if token_from_protocols(&req).is_some() {
            response.insert_header((actix_web::http::header::SEC_WEBSOCKET_PROTOCOL, BEARER_PROTOCOL));
        }
        let realtime = &state.realtime;
        let config = &realtime.session_config;
        let outbox = Outbox::new(
            Bounds { frames: config.max_queued_frames, bytes: config.max_queued_bytes },
            config.counters.clone(),
        );
        let response: HttpResponse = match response.message_body(BodyStream::new(outbox.body()).boxed()) {
            Ok(response) => response.into(),
            Err(e) => {
                if admitted {
                    state.realtime.slots.release(caller.id().0, conn).await;
                }
                return Err(Error::new(ErrorCode::Internal, format!("cannot build the upgrade response: {e}")));
            }
        };
        if !admitted {
            tracing::warn!(ip, user = %caller.id(), limit, "Too many connections: WebSocket refused");
            let reason = CloseReason {
                code: CloseCode::Policy,
                description: Some(format!("Too many connections: at most {limit} per user")),
            };
            outbox.close(reason, false);
            return Ok(response);
        }
        WsSession::start(
            SessionParts {
                conn,
                user: caller.id().0,
                outbox: outbox.clone(),
                resume_announced,
                supervisor: realtime.supervisor.clone(),
                log: realtime.log.clone(),
                actions: realtime.actions.clone(),
                config: config.clone(),
                span: tracing::Span::current(),
            },
            Inbound::new(body.into_inner(), outbox, MAX_FRAME),
        );
        tracing::info!(ip, user = %caller.id(), "WebSocket connected");
        Ok(response)
    }
    .instrument(span)
    .await
}
