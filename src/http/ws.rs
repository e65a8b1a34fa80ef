//! `GET /api/v1/ws`: the WebSocket endpoint. Authentication happens before the upgrade, from
//! `Authorization: Bearer <token>` (what `websocat -H` sends) or, for browsers, the subprotocol pair
//! `Sec-WebSocket-Protocol: rustchat.bearer, <token>`, or the SSO cookie `rustchat_access` when the
//! handshake's `Origin` is the node's own site (the web client in cookie mode; another site's page
//! cannot open a socket with it) — never from the query string, which ends up in logs. Then the per-user connection limit (cluster-wide) is checked, and a `WsSession` actor takes
//! the socket. The protocol is documented in `docs/websocket.md`.

use actix_http::body::{BodyStream, MessageBody};
use actix_http::ws::{CloseCode, CloseReason};
use actix_web::{HttpRequest, HttpResponse, get, web};
use rustchat_actors::WsSession;
use rustchat_actors::inbound::Inbound;
use rustchat_actors::outbox::{Bounds, Outbox};
use rustchat_actors::ports::EventLog;
use rustchat_actors::session::SessionParts;
use tracing::Instrument;

use super::params::Query;
use crate::auth::{AuthUser, access_cookie, bearer};
use crate::error::{Error, ErrorCode, Result};
use crate::state::AppState;

/// The subprotocol a browser names to pass its token as the next subprotocol entry.
pub const BEARER_PROTOCOL: &str = "rustchat.bearer";
/// Largest client frame accepted.
pub const MAX_FRAME: usize = 64 * 1024;
/// How long a handshake may wait for its turn at the database before it is refused with 503.
const ADMISSION_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn token_from_protocols(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    let mut parts = header.split(',').map(str::trim);
    parts.find(|p| *p == BEARER_PROTOCOL)?;
    parts.next().filter(|t| !t.is_empty()).map(str::to_string)
}

/// The SSO cookie's token, only for a handshake from the site's own pages (cross-site WebSocket
/// hijacking): `Origin` must be the origin of `RUSTCHAT_SITE_URL`, or without one the host the request
/// was sent to. Browsers always send `Origin` on WebSocket handshakes and a page cannot forge it.
fn token_from_same_origin_cookie(req: &HttpRequest, site: Option<&url::Url>) -> Option<String> {
    let headers = req.headers();
    let origin = headers.get(actix_web::http::header::ORIGIN)?.to_str().ok()?;
    let ours = match site {
        Some(site) => url::Url::parse(origin).is_ok_and(|o| o.origin() == site.origin()),
        None => {
            let host = headers.get(actix_web::http::header::HOST)?.to_str().ok()?;
            let origin_host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"))?;
            !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
        }
    };
    if !ours {
        tracing::warn!(origin, "WebSocket handshake with the SSO cookie from another site's page refused");
    }
    ours.then(|| access_cookie(req)).flatten()
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct ConnectQuery {
    /// The client's first frame will be a `resume`: hold channel events until it comes.
    #[serde(default)]
    resume: bool,
}

/// Open a WebSocket (see docs/websocket.md for the protocol).
#[utoipa::path(tag = "realtime", params(ConnectQuery), responses((status = 101, description = "switching protocols"), (status = 401)), security(("bearer" = [])))]
#[get("/ws")]
pub async fn connect(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: Query<ConnectQuery>,
    body: web::Payload,
) -> Result<HttpResponse> {
    let conn = uuid::Uuid::now_v7();
    let span = tracing::info_span!("ws_handler", conn = %conn, user = tracing::field::Empty);
    let ip = state.client_ip(&req);
    // The handshake's own awaits are boxed: a future is as large as its largest await, and during a
    // connect burst thousands of handshakes wait at the admission below at once. Inline, the token
    // check's database future made each waiting handshake several KiB, freed right after; glibc keeps
    // such holes between the sockets' long-lived blocks (docs/benchmarks.md, issue #21).
    async move {
        Box::pin(state.rate_limit(crate::ratelimit::Limit::Ws, &ip, &ip)).await?;
        let browser_token = token_from_protocols(&req);
        let Some(token) = bearer(&req)
            .map(str::to_string)
            .or_else(|| browser_token.clone())
            .or_else(|| token_from_same_origin_cookie(&req, state.settings.site_url.as_ref()))
        else {
            tracing::info!(ip, "Unauthorized WebSocket: no bearer token");
            return Err(Error::new(
                ErrorCode::Unauthorized,
                "Unauthorized: send Authorization: Bearer <token> or the rustchat.bearer subprotocol",
            ));
        };
        let realtime = &state.realtime;
        // Authentication and the user's channels are the handshake's database reads; they wait their
        // turn here, and a node that cannot get to them soon says so before upgrading.
        let Ok(Ok(admitted)) = tokio::time::timeout(ADMISSION_WAIT, realtime.admission.acquire()).await else {
            tracing::warn!(ip, "WebSocket refused: too many handshakes waiting for the database");
            let mut busy = Error::unavailable("Too many connections are opening at once: retry shortly");
            busy.retry_after = Some(1);
            return Err(busy);
        };
        let (caller, token_expires_at) =
            Box::pin(AuthUser::from_token_with_expiry(&state.store, &state.tokens, &token)).await?;
        tracing::Span::current().record("user", tracing::field::display(caller.id()));
        let memberships = realtime.log.memberships(caller.id().0).await.map_err(|e| {
            tracing::warn!(ip, user = %caller.id(), error = %e, "WebSocket refused: cannot read the user's channels");
            let mut busy = Error::unavailable("Cannot load your channels right now: retry shortly");
            busy.retry_after = Some(1);
            busy
        })?;
        drop(admitted);

        // Everything that can refuse the upgrade comes before the connection slot is taken.
        let mut response = actix_http::ws::handshake(req.head())
            .map_err(|e| Error::new(ErrorCode::BadRequest, format!("not a WebSocket upgrade: {e}")))?;
        if browser_token.is_some() {
            response.insert_header((actix_web::http::header::SEC_WEBSOCKET_PROTOCOL, BEARER_PROTOCOL));
        }
        let config = &realtime.session_config;
        let outbox = Outbox::new(
            Bounds { frames: config.max_queued_frames, bytes: config.max_queued_bytes },
            config.counters.clone(),
        );
        let response: HttpResponse = response
            .message_body(BodyStream::new(outbox.body()).boxed())
            .map_err(|e| Error::new(ErrorCode::Internal, format!("cannot build the upgrade response: {e}")))?
            .into();

        let limit = state.site.get().max_simultaneous_connections;
        if !realtime.slots.acquire(caller.id().0, conn, limit).await.unwrap_or(true) {
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
                login: caller.session.0,
                token_expires_at,
                outbox: outbox.clone(),
                resume_announced: query.resume,
                supervisor: realtime.supervisor.clone(),
                log: realtime.log.clone(),
                actions: realtime.actions.clone(),
                logins: realtime.logins.clone(),
                config: config.clone(),
                span: tracing::Span::current(),
                memberships,
                translate: None,
                initial: Vec::new(),
            },
            Inbound::new(body.into_inner(), outbox, MAX_FRAME),
        );
        tracing::info!(ip, user = %caller.id(), "WebSocket connected");
        Ok(response)
    }
    .instrument(span)
    .await
}
