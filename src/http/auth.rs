//! Accounts and sessions: register, log in, refresh, log out, change password. The rules are in
//! `app::registration`, `app::sessions` and `app::accounts`; here the requests are rate-limited per
//! client address, parsed and answered.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::json::Json;
use crate::app;
use crate::app::accounts::NewAccount;
use crate::auth::{AuthUser, TokenPair};
use crate::error::Result;
use crate::ratelimit::Limit;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3–22 characters of a-z, 0-9, '.', '_' or '-', starting with a letter (stored lower-case).
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9._-]{2,21}$")]
    pub username: String,
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8–256 bytes.
    #[schema(min_length = 8)]
    pub password: String,
    #[schema(max_length = 64)]
    pub display_name: Option<String>,
    /// Required when registration is invite-only.
    pub invite_code: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Username or email.
    #[serde(alias = "username", alias = "email")]
    pub login: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// Omit it to refresh an SSO cookie session from its `rustchat_refresh` cookie.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 8–256 bytes.
    #[schema(min_length = 8)]
    pub new_password: String,
}

/// The request's user agent, kept with the session it opens.
pub(crate) fn user_agent(req: &HttpRequest) -> &str {
    req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Create an account. The first account on a site becomes system admin.
#[utoipa::path(tag = "auth", request_body = RegisterRequest, responses((status = 201, body = TokenPair)))]
#[post("/auth/register")]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse> {
    let ip = state.client_ip(&req);
    state.rate_limit(Limit::Auth, &ip, &ip).await?;
    let new = NewAccount::parse(&body.username, &body.email, &body.password, body.display_name.as_deref())?;
    let user = app::registration::register(&state.store, &state.site.get(), &new, body.invite_code.as_deref()).await?;
    let pair = app::sessions::open(&state.store, &state.tokens, user, user_agent(&req)).await?;
    Ok(HttpResponse::Created().json(pair))
}

/// Log in with username or email and password.
#[utoipa::path(tag = "auth", request_body = LoginRequest, responses((status = 200, body = TokenPair), (status = 401)))]
#[post("/auth/login")]
pub async fn login(state: web::Data<AppState>, req: HttpRequest, body: Json<LoginRequest>) -> Result<HttpResponse> {
    let ip = state.client_ip(&req);
    state.rate_limit(Limit::Auth, &ip, &ip).await?;
    // Per account too, so guessing one password from many addresses is limited as well.
    state.rate_limit(Limit::Login, &body.login.trim().to_lowercase(), &ip).await?;
    let pair = app::sessions::login(&state.store, &state.tokens, &body.login, &body.password, user_agent(&req)).await?;
    Ok(HttpResponse::Ok().json(pair))
}

/// Exchange a refresh token for a new token pair. Each refresh token works once; presenting a used
/// one again revokes its session. Without `refresh_token`, an SSO cookie session refreshes from its
/// `rustchat_refresh` cookie (with `X-Requested-With`): 204 and new cookies, no token in the body.
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses((status = 200, body = TokenPair), (status = 204, description = "cookie session refreshed: new cookies set"), (status = 401), (status = 403)))]
#[post("/auth/refresh")]
pub async fn refresh(state: web::Data<AppState>, req: HttpRequest, body: Json<RefreshRequest>) -> Result<HttpResponse> {
    let ip = state.client_ip(&req);
    state.rate_limit(Limit::Auth, &ip, &ip).await?;
    let (presented, from_cookie) = match &body.refresh_token {
        Some(token) => (token.clone(), false),
        None => {
            crate::auth::cookie_write_allowed(&req)?;
            let cookie = super::cookies::refresh_cookie(&req).ok_or_else(|| {
                crate::error::Error::new(
                    crate::error::ErrorCode::InvalidToken,
                    "Unauthorized: send refresh_token, or the rustchat_refresh cookie",
                )
            })?;
            (cookie, true)
        }
    };
    let refreshed = app::sessions::refresh(&state.store, &state.tokens, &presented).await?;
    if let Some(ended) = refreshed.ended {
        state.realtime.end_logins(ended);
    }
    let pair = refreshed.answer?;
    if from_cookie {
        let mut answer = HttpResponse::NoContent();
        for cookie in super::cookies::session_cookies(&state, &pair) {
            answer.append_header((actix_web::http::header::SET_COOKIE, cookie));
        }
        return Ok(answer.finish());
    }
    Ok(HttpResponse::Ok().json(pair))
}

/// End the current session: its access and refresh tokens stop working everywhere.
#[utoipa::path(tag = "auth", responses((status = 204)), security(("bearer" = [])))]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse> {
    state.realtime.end_logins(app::accounts::logout(&state.store, &caller).await?);
    Ok(HttpResponse::NoContent().finish())
}

/// Change the password; every other session of the account ends.
#[utoipa::path(tag = "auth", request_body = ChangePasswordRequest, responses((status = 204), (status = 401)), security(("bearer" = [])))]
#[post("/auth/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<ChangePasswordRequest>,
) -> Result<HttpResponse> {
    let ended =
        app::accounts::change_password(&state.store, &caller, &body.current_password, &body.new_password).await?;
    state.realtime.end_logins(ended);
    Ok(HttpResponse::NoContent().finish())
}
