//! `AuthUser`: the caller, from `Authorization: Bearer <access token>`. The token's signature and expiry
//! are checked, then its session (revoked? expired?) and user (active?) in the database, so a revoked
//! token is refused on every node from the next request on. Each refusal logs `Invalid token` with the
//! reason and answers 401. A personal access token (`rcpat_…`) is checked against its stored hash
//! and its session the same way, and its use is recorded at most once a minute.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use sha2::{Digest, Sha256};

use super::TokenKeys;
use super::personal::PersonalToken;
use crate::domain::{SessionId, Timestamp, UserId};
use crate::error::{Error, ErrorCode};
use crate::state::AppState;
use crate::store::Store;
use crate::store::models::User;

/// How often a token's last use is written: a busy integration costs one write a minute, not one a
/// request.
const LAST_USED_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    pub session: SessionId,
}

impl AuthUser {
    pub fn id(&self) -> crate::domain::UserId {
        self.user.id
    }

    pub fn is_system_admin(&self) -> bool {
        self.user.is_system_admin
    }
}

/// The bearer token of a request, if any.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The access token a request carries: the bearer token, else the SSO cookie. A cookie rides on
/// requests other sites make too, so a cookie-authenticated request that changes something must show
/// it comes from a page of ours (`cookie_write_allowed`).
fn request_token(req: &HttpRequest) -> Result<Option<String>, Error> {
    if let Some(token) = bearer(req) {
        return Ok(Some(token.to_string()));
    }
    let Some(cookie) = access_cookie(req) else { return Ok(None) };
    cookie_write_allowed(req)?;
    Ok(Some(cookie))
}

/// CSRF protection for cookie-authenticated requests: one that is not a read must carry
/// `X-Requested-With` — a header a cross-site form cannot send, and a cross-site script cannot
/// either without a CORS preflight, which this server never grants.
pub fn cookie_write_allowed(req: &HttpRequest) -> Result<(), Error> {
    let read = matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    if read || req.headers().get("x-requested-with").is_some_and(|v| !v.is_empty()) {
        return Ok(());
    }
    tracing::warn!(method = %req.method(), path = req.path(), "cookie-authenticated write without X-Requested-With refused (CSRF protection)");
    Err(Error::forbidden(
        "a request authenticated by cookie that changes something must carry the X-Requested-With header",
    ))
}

/// The session and user a request's access token names, its signature and expiry checked; the database
/// is not asked. Callers check the session next: `AuthUser::of_session`, or inside their own statement.
pub fn token_claims(tokens: &TokenKeys, req: &HttpRequest) -> Result<(SessionId, UserId), Error> {
    claims_of(tokens, request_token(req)?)
}

/// The claims of the request's access token, once `request_token` found it (or found none).
fn claims_of(tokens: &TokenKeys, token: Option<String>) -> Result<(SessionId, UserId), Error> {
    let Some(token) = token else {
        tracing::info!("Unauthorized request: no bearer token");
        return Err(Error::new(ErrorCode::Unauthorized, "Unauthorized: send Authorization: Bearer <access token>"));
    };
    let claims = tokens.verify_access(&token).map_err(|reason| refuse(&reason))?;
    Ok((claims.sid, claims.sub))
}

/// The access token from the SSO cookie (browsers logged in through single sign-on).
pub fn access_cookie(req: &HttpRequest) -> Option<String> {
    cookie(req, "rustchat_access")
}

/// The value of the request's cookie `name`, if it sent one.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    let header = req.headers().get(actix_web::http::header::COOKIE)?.to_str().ok()?;
    header.split(';').map(str::trim).find_map(|c| c.strip_prefix(name)?.strip_prefix('=')).map(str::to_string)
}

/// The request's token when it is a personal access token.
fn personal_token(token: &Option<String>) -> Option<&str> {
    token.as_deref().filter(|t| PersonalToken::looks_like(t))
}

/// The login a request names: the session and user of its access token, its signature and expiry
/// checked (no database read), or of its personal access token, checked in full (one read). Callers
/// that check the session inside their own statement start here.
pub async fn request_login(store: &Store, tokens: &TokenKeys, req: &HttpRequest) -> Result<(SessionId, UserId), Error> {
    let token = request_token(req)?;
    if let Some(token) = personal_token(&token) {
        let (caller, _) = AuthUser::of_personal_token(store, token).await?;
        return Ok((caller.session, caller.id()));
    }
    claims_of(tokens, token)
}

fn refuse(reason: &str) -> Error {
    tracing::warn!(reason, "Invalid token");
    Error::new(ErrorCode::InvalidToken, "Unauthorized: the access token is missing, invalid, expired or revoked")
}

impl AuthUser {
    /// Authenticates a raw access token (the WebSocket handshake and its `authenticate` action),
    /// and says when the token expires: the socket it opens may not outlive it.
    pub async fn from_token_with_expiry(
        store: &Store,
        tokens: &TokenKeys,
        token: &str,
    ) -> Result<(AuthUser, std::time::SystemTime), Error> {
        if PersonalToken::looks_like(token) {
            return AuthUser::of_personal_token(store, token).await;
        }
        let claims = tokens.verify_access(token).map_err(|reason| refuse(&reason))?;
        let caller = AuthUser::of_session(store, claims.sid, claims.sub).await?;
        Ok((caller, claims.expires_at()))
    }

    /// Authenticates a personal access token: its secret against the stored hash, then its session and
    /// user as for any login. Says when its session ends.
    async fn of_personal_token(store: &Store, text: &str) -> Result<(AuthUser, std::time::SystemTime), Error> {
        let Some(token) = PersonalToken::parse(text) else {
            return Err(refuse("malformed personal access token"));
        };
        let now = Timestamp::now();
        let Some(found) = store.token_session(token.session, now).await? else {
            return Err(refuse("unknown personal access token"));
        };
        // Digests of the hashes compare in the same time whatever they share.
        if Sha256::digest(found.token_hash.as_bytes()) != Sha256::digest(token.hash().as_bytes()) {
            return Err(refuse("wrong personal access token secret"));
        }
        let session = found.session;
        if !session.live {
            return Err(refuse(session.why_not_live(now)));
        }
        let since = Timestamp::from(now.inner() - LAST_USED_EVERY);
        if found.last_used_at.is_none_or(|t| t < since) && store.touch_access_token(token.session, now, since).await? {
            tracing::info!(
                token_id = %token.session,
                user_id = %session.user.id,
                first_use = found.last_used_at.is_none(),
                "access token used"
            );
        }
        let expires = session.expires_at.on_node_clock();
        Ok((AuthUser { user: session.user, session: token.session }, expires))
    }

    /// The caller behind a login session, if it is still live and theirs (also used by WebSocket
    /// actions, which run in the name of the session the socket was opened with).
    pub async fn of_session(store: &Store, session: SessionId, user: UserId) -> Result<AuthUser, Error> {
        let now = Timestamp::now();
        let Some(found) = store.session_user(session, now).await? else {
            return Err(refuse("unknown session"));
        };
        if found.user.id != user {
            return Err(refuse("session belongs to another user"));
        }
        if !found.live {
            return Err(refuse(found.why_not_live(now)));
        }
        Ok(AuthUser { user: found.user, session })
    }
}

impl FromRequest for AuthUser {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        // Found once: a refused cookie write is refused (and logged) once.
        let token = request_token(req);
        let personal = token.as_ref().ok().and_then(personal_token).map(str::to_string);
        // A personal access token is no JWT: checking it as one would log a refusal for every use.
        let claims = match (&state, &personal) {
            (Some(s), None) => Some(token.and_then(|t| claims_of(&s.tokens, t))),
            _ => None,
        };
        Box::pin(async move {
            let Some(state) = state else {
                return Err(Error::internal(anyhow::anyhow!("AppState missing")));
            };
            if let Some(token) = personal {
                return AuthUser::of_personal_token(&state.store, &token).await.map(|(caller, _)| caller);
            }
            let Some(claims) = claims else {
                return Err(Error::internal(anyhow::anyhow!("token claims missing")));
            };
            let (session, user) = claims?;
            AuthUser::of_session(&state.store, session, user).await
        })
    }
}
