//! Start-up and session routes: `system/ping`, the client config and license a client reads first,
//! login (the session token in the `Token` header and the `MMAUTHTOKEN`/`MMUSERID`/`MMCSRF` cookies)
//! and logout.

use actix_web::http::header::SET_COOKIE;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::{CSRF_COOKIE, Caller, TOKEN_COOKIE, USER_COOKIE, csrf_token};
use super::error::{MmError, MmResult};
use super::input::{json, ok, status_ok};
use super::models;
use crate::app;
use crate::ratelimit::Limit;
use crate::state::AppState;

/// The Mattermost server version RustChat answers as (`X-Version-Id`, `hello`): the API level whose
/// subset it serves.
pub const MM_VERSION: &str = "9.11.0";

pub fn version_id() -> String {
    format!("{MM_VERSION}.{}.rustchat.false", env!("CARGO_PKG_VERSION"))
}

pub async fn ping() -> HttpResponse {
    ok(json!({ "status": "OK", "ActiveSearchBackend": "database", "version": version_id() }))
}

/// The client configuration (only `format=old` exists, as in Mattermost 9+).
pub async fn client_config(state: web::Data<AppState>) -> HttpResponse {
    let site = state.site.get();
    ok(json!({
        "Version": MM_VERSION,
        "BuildNumber": env!("CARGO_PKG_VERSION"),
        "SiteName": "RustChat",
        "DiagnosticsEnabled": "false",
        "EnableSignUpWithEmail": if matches!(site.registration, crate::domain::Registration::Closed) { "false" } else { "true" },
        "EnableSignInWithEmail": "true",
        "EnableSignInWithUsername": "true",
        "EnableOpenServer": "false",
        "EnableCustomEmoji": "false",
        "EnableFileAttachments": "false",
        "CollapsedThreads": "disabled",
        "EnableReliableWebSockets": "true",
        "MaxPostSize": crate::domain::MAX_MESSAGE_CHARS.to_string(),
        "ExperimentalEnableAuthenticationTransfer": "false",
        "FeatureFlagCollapsedThreads": "false",
    }))
}

pub async fn client_license() -> HttpResponse {
    ok(json!({ "IsLicensed": "false" }))
}

#[derive(Deserialize)]
pub struct LoginBody {
    login_id: String,
    password: String,
    /// An MFA code; RustChat has no MFA, so it is ignored.
    #[serde(default)]
    #[allow(dead_code)]
    token: Option<String>,
}

pub async fn login(state: web::Data<AppState>, req: HttpRequest, body: web::Payload) -> MmResult<HttpResponse> {
    let ip = state.client_ip(&req);
    state.rate_limit(Limit::Auth, &ip, &ip).await?;
    let body: LoginBody = json(body).await?;
    state.rate_limit(Limit::Login, &body.login_id.trim().to_lowercase(), &ip).await?;
    let agent = super::input::user_agent(&req);
    let (user, token, expires) =
        app::sessions::session_token(&state.store, &state.tokens, &body.login_id, &body.password, agent)
            .await
            .map_err(|e| match e.code {
                crate::error::ErrorCode::Unauthorized => MmError::new(
                    actix_web::http::StatusCode::UNAUTHORIZED,
                    "api.user.login.invalid_credentials_email_username",
                    "Enter a valid email or username and/or password.",
                ),
                _ => e.into(),
            })?;
    let max_age = (expires.unix_seconds() - crate::domain::Timestamp::now().unix_seconds()).max(0);
    let secure = if req.connection_info().scheme() == "https" { "; Secure" } else { "" };
    let cookie = |name: &str, value: &str, http_only: bool| {
        let http_only = if http_only { "; HttpOnly" } else { "" };
        format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax{http_only}{secure}")
    };
    let csrf = csrf_token(&token);
    Ok(HttpResponse::Ok()
        .insert_header(("Token", token.clone()))
        .append_header((SET_COOKIE, cookie(TOKEN_COOKIE, &token, true)))
        .append_header((SET_COOKIE, cookie(USER_COOKIE, &models::id(user.id.0), false)))
        .append_header((SET_COOKIE, cookie(CSRF_COOKIE, &csrf, false)))
        .json(models::user(&user, true)))
}

pub async fn logout(state: web::Data<AppState>, caller: Caller) -> MmResult<HttpResponse> {
    state.realtime.end_logins(app::accounts::logout(&state.store, &caller).await?);
    let mut response = status_ok();
    for name in [TOKEN_COOKIE, USER_COOKIE, CSRF_COOKIE] {
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&format!("{name}=; Path=/; Max-Age=0")) {
            response.headers_mut().append(SET_COOKIE, v);
        }
    }
    Ok(response)
}
