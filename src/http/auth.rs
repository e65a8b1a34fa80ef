//! Accounts and sessions: register, log in, refresh, log out, change password.
//! Login never reveals whether an account exists: unknown user, wrong password and deactivated
//! account all answer the same 401, after the same amount of hashing work.

use actix_web::{HttpRequest, HttpResponse, post, web};
use rustchat_actors::login::{EndReason, LoginScope, LoginsEnded};
use serde::Deserialize;
use utoipa::ToSchema;

use super::json::Json;
use crate::auth::{AuthUser, REFRESH_TTL, RefreshToken, TokenPair, hash_password, verify_password};
use crate::domain::{DisplayName, Email, Password, Registration, Role, Timestamp, Username};
use crate::error::{Error, ErrorCode, Result};
use crate::ratelimit::Limit;
use crate::state::AppState;
use crate::store::RefreshOutcome;
use crate::store::models::User;

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
    pub refresh_token: String,
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 8–256 bytes.
    #[schema(min_length = 8)]
    pub new_password: String,
}

/// Opens a session for `user` and issues its first token pair.
pub(crate) async fn open_session(state: &AppState, req: &HttpRequest, user: User) -> Result<TokenPair> {
    let user_agent: String = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(256)
        .collect();
    let placeholder = RefreshToken::generate(crate::domain::SessionId::new());
    let expires = Timestamp::now().plus(REFRESH_TTL);
    let session = state
        .store
        .create_session(user.id, &placeholder.hash(), expires, &user_agent, state.tokens.secret_ids().0)
        .await?;
    // The refresh token names its session; the secret stored above is the one issued below.
    let token = RefreshToken { session, secret: placeholder.secret };
    Ok(TokenPair {
        access_token: state.tokens.issue_access(user.id, session)?,
        refresh_token: token.to_text(),
        expires_in: crate::auth::ACCESS_TTL.as_secs(),
        token_type: "Bearer",
        user,
    })
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
    let username = Username::parse(&body.username)?;
    let email = Email::parse(&body.email)?;
    let password = Password::parse(&body.password, "password")?;
    let display_name = match body.display_name.as_deref().filter(|d| !d.trim().is_empty()) {
        Some(d) => DisplayName::parse(d, "display_name")?.into_inner(),
        None => String::new(),
    };

    let first_user = state.store.user_count().await? == 0;
    let mut invite_team = None;
    if !first_user {
        match state.site.get().registration {
            Registration::Open => {}
            Registration::Closed => {
                return Err(Error::forbidden("registration is closed on this site"));
            }
            Registration::InviteOnly => {
                let code = body.invite_code.as_deref().unwrap_or("");
                if code.is_empty() {
                    return Err(Error::forbidden("registration is by invitation: an invite_code is required"));
                }
                match state.store.redeem_invite(&crate::auth::hash_invite(code)).await? {
                    Some(team) => invite_team = team,
                    None => {
                        return Err(Error::forbidden("the invite code is unknown, used up or expired"));
                    }
                }
            }
        }
    }
    let hash = hash_password(&password).await?;
    let user = state.store.create_user(&username, &email, &display_name, Some(&hash)).await?;
    if let Some(team) = invite_team {
        state.store.add_team_member(team, user.id, Role::Member).await?;
    }
    tracing::info!(user_id = %user.id, admin = user.is_system_admin, "account registered");
    Ok(HttpResponse::Created().json(open_session(&state, &req, user).await?))
}

/// Log in with username or email and password.
#[utoipa::path(tag = "auth", request_body = LoginRequest, responses((status = 200, body = TokenPair), (status = 401)))]
#[post("/auth/login")]
pub async fn login(state: web::Data<AppState>, req: HttpRequest, body: Json<LoginRequest>) -> Result<HttpResponse> {
    let ip = state.client_ip(&req);
    state.rate_limit(Limit::Auth, &ip, &ip).await?;
    // Per account too, so guessing one password from many addresses is limited as well.
    state.rate_limit(Limit::Login, &body.login.trim().to_lowercase(), &ip).await?;
    let found = state.store.user_credentials(&body.login).await?;
    let (user, hash) = match found {
        Some(c) => (Some(c.user), c.password_hash),
        None => (None, None),
    };
    let ok = verify_password(&body.password, hash).await?;
    match user {
        Some(user) if ok && user.is_active => Ok(HttpResponse::Ok().json(open_session(&state, &req, user).await?)),
        _ => {
            tracing::info!("Unauthorized: auth login failed");
            Err(Error::unauthorized("Unauthorized: invalid login or password"))
        }
    }
}

/// Exchange a refresh token for a new token pair. Each refresh token works once; presenting a used
/// one again revokes its session.
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses((status = 200, body = TokenPair), (status = 401)))]
#[post("/auth/refresh")]
pub async fn refresh(state: web::Data<AppState>, req: HttpRequest, body: Json<RefreshRequest>) -> Result<HttpResponse> {
    let ip = state.client_ip(&req);
    state.rate_limit(Limit::Auth, &ip, &ip).await?;
    let invalid =
        || Error::new(ErrorCode::InvalidToken, "Unauthorized: the refresh token is invalid, expired or revoked");
    let Some(presented) = RefreshToken::parse(&body.refresh_token) else {
        tracing::warn!(reason = "malformed refresh token", "Invalid token");
        return Err(invalid());
    };
    let next = RefreshToken::generate(presented.session);
    let expires = Timestamp::now().plus(REFRESH_TTL);
    match state
        .store
        .rotate_refresh(presented.session, &presented.hash(), &next.hash(), expires, state.tokens.secret_ids())
        .await?
    {
        RefreshOutcome::Rotated(user_id) => {
            let user = state.store.user(user_id).await?.filter(|u| u.is_active).ok_or_else(invalid)?;
            Ok(HttpResponse::Ok().json(TokenPair {
                access_token: state.tokens.issue_access(user.id, presented.session)?,
                refresh_token: next.to_text(),
                expires_in: crate::auth::ACCESS_TTL.as_secs(),
                token_type: "Bearer",
                user,
            }))
        }
        RefreshOutcome::Reused(user) => {
            tracing::warn!(session_id = %presented.session, reason = "refresh token reused; session revoked", "Invalid token");
            state.realtime.end_logins(LoginsEnded {
                user: user.0,
                scope: LoginScope::Only(presented.session.0),
                reason: EndReason::Revoked,
            });
            Err(invalid())
        }
        RefreshOutcome::Invalid => {
            tracing::warn!(reason = "unknown or stale refresh token", "Invalid token");
            Err(invalid())
        }
    }
}

/// End the current session: its access and refresh tokens stop working everywhere.
#[utoipa::path(tag = "auth", responses((status = 204)), security(("bearer" = [])))]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse> {
    state.realtime.end_logins(crate::app::accounts::logout(&state.store, &caller).await?);
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
        crate::app::accounts::change_password(&state.store, &caller, &body.current_password, &body.new_password)
            .await?;
    state.realtime.end_logins(ended);
    Ok(HttpResponse::NoContent().finish())
}
