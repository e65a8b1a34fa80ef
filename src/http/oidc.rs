//! Single sign-on endpoints. The browser goes to `/auth/oidc/{provider}/login`, is sent to the
//! provider, and comes back to `/auth/oidc/{provider}/callback` — on any node: the login's state is
//! kept in Redis. The login is bound to the browser that began it: `/login` sets a short-lived
//! HttpOnly cookie whose hash the state keeps, and the callback refuses a state without it (so an
//! attacker's half-finished login cannot sign a victim's browser in as the attacker). Which account an
//! identity signs in as is `app::sso`. A signed-in user links a provider to their account with
//! `POST /auth/oidc/{provider}/link`, then the same round trip.
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
use crate::error::{Error, ErrorCode, Result};
use crate::oidc::{LoginState, STATE_TTL};
use crate::state::AppState;

/// How long a one-time exchange code lives.
pub const EXCHANGE_CODE_TTL: Duration = Duration::from_secs(60);
/// Binds a login's state to the browser that began it.
pub const LOGIN_COOKIE: &str = "rustchat_oidc_login";
const LOGIN_COOKIE_PATH: &str = "/api/v1/auth/oidc";

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

#[derive(Serialize, ToSchema)]
pub struct LinkStart {
    /// Send the browser here (the provider's login page); it comes back to the callback.
    pub url: String,
}

/// Begins a round trip to the provider: its URL, the state kept until the callback (with the hash of
/// the browser's binding value, and the account to link to, if any), and the binding cookie to set.
async fn begin(state: &AppState, provider_id: &str, link_to: Option<uuid::Uuid>) -> Result<(String, String)> {
    let oidc = provider(state, provider_id).await?;
    let (url, csrf, mut keep) = oidc.begin().await?;
    let binding = crate::auth::generate_invite_code();
    keep.browser = crate::auth::hash_invite(&binding);
    keep.link_to = link_to;
    let value = serde_json::to_string(&keep).map_err(Error::internal)?;
    state.one_time.put(OAuthKind::State, &csrf, &value, STATE_TTL).await?;
    let secure = if state.settings.is_production() { "; Secure" } else { "" };
    let cookie = format!(
        "{LOGIN_COOKIE}={binding}; Path={LOGIN_COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        STATE_TTL.as_secs()
    );
    Ok((url, cookie))
}

/// Start a login: redirects to the provider.
#[utoipa::path(tag = "auth", params(("provider" = String, Path, description = "The identity provider's URL name, e.g. `sso`.")), responses((status = 302, description = "to the provider"), (status = 404), (status = 503)))]
#[get("/auth/oidc/{provider}/login")]
pub async fn login(state: web::Data<AppState>, req: HttpRequest, path: Path<String>) -> Result<HttpResponse> {
    let ip = state.client_ip(&req);
    state.rate_limit(crate::ratelimit::Limit::Auth, &ip, &ip).await?;
    let (url, cookie) = begin(&state, &path, None).await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .insert_header((header::SET_COOKIE, cookie))
        .finish())
}

/// Link a provider to your account: answers the provider's URL to send the browser to (and sets the
/// binding cookie); coming back, the provider's identity is linked to you and the browser lands on
/// the site with `?sso_linked=<provider>`.
#[utoipa::path(tag = "auth", params(("provider" = String, Path, description = "The identity provider's URL name, e.g. `sso`.")), responses((status = 200, body = LinkStart), (status = 401), (status = 404), (status = 503)), security(("bearer" = [])))]
#[post("/auth/oidc/{provider}/link")]
pub async fn link(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: crate::auth::AuthUser,
    path: Path<String>,
) -> Result<HttpResponse> {
    let ip = state.client_ip(&req);
    state.rate_limit(crate::ratelimit::Limit::Auth, &caller.id().to_string(), &ip).await?;
    let (url, cookie) = begin(&state, &path, Some(caller.id().0)).await?;
    Ok(HttpResponse::Ok().insert_header((header::SET_COOKIE, cookie)).json(LinkStart { url }))
}

/// The binding value the browser holds, if any.
fn login_cookie(req: &HttpRequest) -> Option<String> {
    crate::auth::cookie(req, LOGIN_COOKIE)
}

fn clear_login_cookie() -> String {
    format!("{LOGIN_COOKIE}=; Path={LOGIN_COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age=0")
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
    // The state was taken above either way: a login refused here cannot be finished by anyone.
    let bound = login_cookie(&req).is_some_and(|b| crate::auth::hash_invite(&b) == kept.browser);
    if !bound {
        return Err(refuse_state("not begun in this browser", &ip));
    }
    let code =
        query.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| Error::validation("the callback has no code"))?;
    let identity = oidc.finish(code, &kept).await?;
    if let Some(user) = kept.link_to {
        let user = crate::app::sso::link(&state.store, crate::domain::UserId(user), &identity, &ip).await?;
        let mut target = url::Url::parse(&site_of(&state)).map_err(Error::internal)?;
        target.query_pairs_mut().append_pair("sso_linked", &oidc.settings.id);
        tracing::info!(user_id = %user.id, issuer = %identity.issuer, "SSO provider linked");
        return Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, target.to_string()))
            .insert_header((header::SET_COOKIE, clear_login_cookie()))
            .finish());
    }
    let site = state.site.get();
    let user = crate::app::sso::account_for(&state.store, &site, state.oidc.policy(), &identity, &ip).await?;
    tracing::info!(user_id = %user.id, issuer = %identity.issuer, "SSO login");
    let pair = crate::app::sessions::open(&state.store, &state.tokens, user, super::auth::user_agent(&req)).await?;
    let mut answer = deliver(&state, pair).await?;
    answer
        .headers_mut()
        .append(header::SET_COOKIE, header::HeaderValue::from_str(&clear_login_cookie()).map_err(Error::internal)?);
    Ok(answer)
}

fn site_of(state: &AppState) -> String {
    state.settings.site_url.as_ref().map(|u| u.to_string()).unwrap_or_else(|| "/".into())
}

async fn deliver(state: &AppState, pair: TokenPair) -> Result<HttpResponse> {
    let site = site_of(state);
    match state.settings.oauth_token_delivery {
        TokenDelivery::Cookie => {
            let [access, refresh] = super::cookies::session_cookies(state, &pair);
            Ok(HttpResponse::Found()
                .insert_header((header::LOCATION, site))
                .append_header((header::SET_COOKIE, access))
                .append_header((header::SET_COOKIE, refresh))
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
