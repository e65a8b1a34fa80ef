//! Single sign-on endpoints. The browser goes to `/auth/oidc/{provider}/login`, is sent to the
//! provider, and comes back to `/auth/oidc/{provider}/callback` — on any node: the login's state is
//! kept in Redis. Accounts are matched by (issuer, subject); a first login links to an existing
//! account only through an email address the provider says is verified, otherwise it creates one.
//! Tokens are handed over per `RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY`: HttpOnly cookies, or a
//! one-time code (60 s, single use) that the client exchanges at `POST /auth/oidc/exchange`.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::json::Json;
use super::params::{Path, Query};
use crate::auth::TokenPair;
use crate::cluster::OAuthKind;
use crate::config::TokenDelivery;
use crate::domain::{DisplayName, Email, Username};
use crate::error::{Error, ErrorCode, Result};
use crate::oidc::{Identity, LoginState, STATE_TTL};
use crate::state::AppState;
use crate::store::models::User;

/// How long a one-time exchange code lives.
pub const EXCHANGE_CODE_TTL: Duration = Duration::from_secs(60);
pub const ACCESS_COOKIE: &str = "rustchat_access";
pub const REFRESH_COOKIE: &str = "rustchat_refresh";

#[derive(Serialize, ToSchema)]
pub struct ProviderInfo {
    pub id: String,
    pub display_name: String,
    pub login_url: String,
}

#[derive(Deserialize, IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ExchangeRequest {
    pub code: String,
}

async fn provider(state: &AppState, id: &str) -> Result<std::sync::Arc<crate::oidc::Oidc>> {
    state.oidc.get(id).await?.ok_or_else(|| Error::not_found("identity provider"))
}

/// The configured identity providers.
#[utoipa::path(tag = "auth", responses((status = 200, body = Vec<ProviderInfo>)))]
#[get("/auth/oidc/providers")]
pub async fn list_providers(state: web::Data<AppState>) -> Result<HttpResponse> {
    let list: Vec<ProviderInfo> = state
        .oidc
        .list()
        .await?
        .into_iter()
        .map(|(id, display_name)| ProviderInfo { login_url: format!("/api/v1/auth/oidc/{id}/login"), id, display_name })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Start a login: redirects to the provider.
#[utoipa::path(tag = "auth", params(("provider" = String, Path, description = "The identity provider's URL name, e.g. `sso`.")), responses((status = 302, description = "to the provider"), (status = 404), (status = 503)))]
#[get("/auth/oidc/{provider}/login")]
pub async fn login(state: web::Data<AppState>, req: HttpRequest, path: Path<String>) -> Result<HttpResponse> {
    let ip = state.client_ip(&req);
    state.rate_limit(crate::ratelimit::Limit::Auth, &ip, &ip).await?;
    let oidc = provider(&state, &path).await?;
    let (url, csrf, keep) = oidc.begin().await?;
    let value = serde_json::to_string(&keep).map_err(Error::internal)?;
    state.one_time.put(OAuthKind::State, &csrf, &value, STATE_TTL).await?;
    Ok(HttpResponse::Found().insert_header((header::LOCATION, url)).finish())
}

fn refuse_state(why: &str, ip: &str) -> Error {
    tracing::warn!(ip, reason = why, "OAuth state {why}: login refused");
    Error::new(ErrorCode::BadRequest, format!("OAuth state {why}: start the login again"))
}

/// The provider sends the browser back here.
#[utoipa::path(tag = "auth", params(("provider" = String, Path, description = "The identity provider's URL name, e.g. `sso`."), CallbackQuery), responses((status = 302, description = "logged in"), (status = 400), (status = 401), (status = 503)))]
#[get("/auth/oidc/{provider}/callback")]
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<String>,
    query: Query<CallbackQuery>,
) -> Result<HttpResponse> {
    let ip = state.client_ip(&req);
    let oidc = provider(&state, &path).await?;
    if let Some(error) = &query.error {
        let detail = query.error_description.as_deref().unwrap_or("");
        let hint = if error == "invalid_request" && detail.contains("redirect_uri") {
            format!(
                " — register {} as the redirect URI at the provider (it is built from RUSTCHAT_SITE_URL)",
                oidc.redirect_uri()
            )
        } else {
            String::new()
        };
        return Err(Error::new(
            ErrorCode::BadRequest,
            format!("the identity provider refused the login: {error} {detail}{hint}"),
        ));
    }
    let Some(csrf) = query.state.as_deref().filter(|s| !s.is_empty()) else { return Err(refuse_state("missing", &ip)) };
    let Some(kept) = state.one_time.take(OAuthKind::State, csrf).await? else {
        return Err(refuse_state("unknown, expired or already used", &ip));
    };
    let kept: LoginState = serde_json::from_str(&kept).map_err(Error::internal)?;
    if kept.provider != oidc.settings.id {
        return Err(refuse_state("mismatched (another provider's login)", &ip));
    }
    let code =
        query.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| Error::validation("the callback has no code"))?;
    let identity = oidc.finish(code, &kept).await?;
    let user = account_for(&state, &identity).await?;
    tracing::info!(user_id = %user.id, issuer = %identity.issuer, "SSO login");
    let pair = crate::app::sessions::open(&state.store, &state.tokens, user, super::auth::user_agent(&req)).await?;
    deliver(&state, pair).await
}

/// The account for a verified identity: linked before, linked now by verified email, or new.
async fn account_for(state: &AppState, identity: &Identity) -> Result<User> {
    if let Some(user) = state.store.user_by_identity(&identity.issuer, &identity.subject).await? {
        return if user.is_active {
            Ok(user)
        } else {
            Err(Error::unauthorized("Unauthorized: the account is deactivated"))
        };
    }
    let email = identity.email.as_deref().map(Email::parse).transpose().ok().flatten();
    if let Some(email) = &email
        && let Some(existing) = state.store.user_by_email(email.as_str()).await?
    {
        if !identity.email_verified {
            return Err(Error::conflict(
                "an account with this email exists; the provider has not verified the address, so it is not linked",
            ));
        }
        state.store.link_identity(&identity.issuer, &identity.subject, existing.id).await?;
        return Ok(existing);
    }
    crate::app::registration::admit_sso_account(&state.store, &state.site.get()).await?;
    let email =
        email.ok_or_else(|| Error::validation("the provider shared no email address; add the 'email' scope"))?;
    let wanted = identity
        .preferred_username
        .clone()
        .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("user").to_string());
    let cleaned: String =
        wanted.to_lowercase().chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).take(22).collect();
    let username = Username::parse(&cleaned)
        .or_else(|_| Username::parse(&format!("user{}", &uuid::Uuid::new_v4().simple().to_string()[..8])))?;
    let display = identity
        .name
        .as_deref()
        .and_then(|n| DisplayName::parse(n, "name").ok())
        .map(DisplayName::into_inner)
        .unwrap_or_default();
    let user = state.store.create_sso_user(&username, &email, &display).await?;
    state.store.link_identity(&identity.issuer, &identity.subject, user.id).await?;
    Ok(user)
}

async fn deliver(state: &AppState, pair: TokenPair) -> Result<HttpResponse> {
    let site = state.settings.site_url.as_ref().map(|u| u.to_string()).unwrap_or_else(|| "/".into());
    match state.settings.oauth_token_delivery {
        TokenDelivery::Cookie => {
            let secure = if state.settings.is_production() { "; Secure" } else { "" };
            Ok(HttpResponse::Found()
                .insert_header((header::LOCATION, site))
                .append_header((
                    header::SET_COOKIE,
                    format!(
                        "{ACCESS_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                        pair.access_token, pair.expires_in
                    ),
                ))
                .append_header((
                    header::SET_COOKIE,
                    format!(
                        "{REFRESH_COOKIE}={}; Path=/api/v1/auth; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                        pair.refresh_token,
                        crate::auth::REFRESH_TTL.as_secs()
                    ),
                ))
                .finish())
        }
        TokenDelivery::Code => {
            let code = crate::auth::generate_invite_code();
            let value = serde_json::to_string(&pair).map_err(Error::internal)?;
            state.one_time.put(OAuthKind::Code, &code, &value, EXCHANGE_CODE_TTL).await?;
            let mut target = url::Url::parse(&site).map_err(Error::internal)?;
            target.query_pairs_mut().append_pair("sso_code", &code);
            Ok(HttpResponse::Found().insert_header((header::LOCATION, target.to_string())).finish())
        }
    }
}

/// Trade a one-time SSO code for tokens (valid 60 s, works once).
#[utoipa::path(tag = "auth", request_body = ExchangeRequest, responses((status = 200, body = TokenPair), (status = 400)))]
#[post("/auth/oidc/exchange")]
pub async fn exchange(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<ExchangeRequest>,
) -> Result<HttpResponse> {
    let ip = state.client_ip(&req);
    state.rate_limit(crate::ratelimit::Limit::Auth, &ip, &ip).await?;
    match state.one_time.take(OAuthKind::Code, body.code.trim()).await? {
        Some(pair) => Ok(HttpResponse::Ok().content_type("application/json").body(pair)),
        None => {
            tracing::warn!(ip, "OAuth exchange code unknown, expired or already used");
            Err(Error::new(ErrorCode::BadRequest, "the exchange code is unknown, expired or already used"))
        }
    }
}
