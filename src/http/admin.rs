//! System administration: the site settings document, site-wide invite codes.

use actix_web::{HttpResponse, delete, get, patch, post, web};

use super::json::Json;
use super::params::Path;
use super::teams::CreateInvite;
use crate::app;
use crate::app::invites::Invite;
use crate::auth::AuthUser;
use crate::domain::SiteConfig;
use crate::error::{Error, ErrorCode, Result};
use crate::state::AppState;

fn require_admin(caller: &AuthUser) -> Result<()> {
    if caller.is_system_admin() { Ok(()) } else { Err(Error::forbidden("system admins only")) }
}

/// The site settings.
#[utoipa::path(tag = "admin", responses((status = 200, body = SiteConfig), (status = 403)), security(("bearer" = [])))]
#[get("/admin/config/site")]
pub async fn get_site_config(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::site::settings(&state.store, &caller).await?))
}

/// Change site settings: the given keys are merged into the document. Takes effect on this node at
/// once and on every other node within the refresh interval.
#[utoipa::path(tag = "admin", request_body = Object, responses((status = 200, body = SiteConfig), (status = 400), (status = 403)), security(("bearer" = [])))]
#[patch("/admin/config/site")]
pub async fn patch_site_config(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<app::site::SitePatch>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::site::patch(&state.store, &state.site, &caller, &body).await?))
}

/// Create a site-wide invite code (for invite-only registration).
#[utoipa::path(tag = "admin", request_body = CreateInvite, responses((status = 201, body = Invite), (status = 403)), security(("bearer" = [])))]
#[post("/admin/invites")]
pub async fn create_invite(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<CreateInvite>,
) -> Result<HttpResponse> {
    let invite = app::invites::create_for_site(&state.store, &caller, &body.terms()).await?;
    Ok(HttpResponse::Created().json(invite))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct NewProvider {
    /// URL name, 1–32 characters of a-z, 0-9 and '-'.
    #[schema(pattern = "^[a-z0-9-]{1,32}$")]
    pub id: String,
    /// The provider's https URL (http allowed outside production).
    #[schema(pattern = "^https?://")]
    pub issuer: String,
    pub client_id: String,
    /// Stored sealed with RUSTCHAT_ENCRYPTION_KEY; never returned.
    pub client_secret: String,
    pub scopes: Option<String>,
    pub display_name: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    pub id: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: String,
    pub display_name: String,
    /// `environment` (RUSTCHAT_OIDC_*) or `database` (added here).
    pub source: &'static str,
    /// The id of the key that sealed the client secret.
    pub secret_key_id: Option<String>,
    pub redirect_uri: Option<String>,
}

/// Identity providers (system admins). Client secrets are never shown.
#[utoipa::path(tag = "admin", responses((status = 200, body = Vec<ProviderView>), (status = 403)), security(("bearer" = [])))]
#[get("/admin/oidc/providers")]
pub async fn list_oidc_providers(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse> {
    require_admin(&caller)?;
    let redirect = |id: &str| {
        state
            .oidc
            .site_url()
            .and_then(|s| s.join(&format!("api/v1/auth/oidc/{id}/callback")).ok())
            .map(|u| u.to_string())
    };
    let mut out = Vec::new();
    if let (Some(id), Some(env)) = (state.oidc.env_provider_id(), state.settings.oidc.as_ref()) {
        out.push(ProviderView {
            id: id.to_string(),
            issuer: env.issuer.to_string(),
            client_id: env.client_id.clone(),
            scopes: env.scopes.join(" "),
            display_name: env.display_name.clone(),
            source: "environment",
            secret_key_id: None,
            redirect_uri: redirect(id),
        });
    }
    for p in state.store.oidc_providers().await? {
        out.push(ProviderView {
            redirect_uri: redirect(&p.id),
            secret_key_id: crate::crypto::Vault::key_of(&p.client_secret_sealed).map(String::from),
            id: p.id,
            issuer: p.issuer,
            client_id: p.client_id,
            scopes: p.scopes,
            display_name: p.display_name,
            source: "database",
        });
    }
    Ok(HttpResponse::Ok().json(out))
}

/// Add an identity provider (system admins); its client secret is sealed before it is stored. The
/// issuer must answer OpenID Connect discovery (else 422).
#[utoipa::path(tag = "admin", request_body = NewProvider, responses((status = 201, body = ProviderView), (status = 400), (status = 403), (status = 409), (status = 422, description = "the issuer does not answer OpenID Connect discovery")), security(("bearer" = [])))]
#[post("/admin/oidc/providers")]
pub async fn create_oidc_provider(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<NewProvider>,
) -> Result<HttpResponse> {
    require_admin(&caller)?;
    let id = body.id.trim().to_string();
    if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(Error::validation("id must be 1-32 characters of a-z, 0-9 and '-'"));
    }
    if state.oidc.env_provider_id() == Some(id.as_str()) {
        return Err(Error::conflict("an identity provider with this id exists"));
    }
    let Some(site) = state.oidc.site_url() else {
        return Err(Error::validation("set RUSTCHAT_SITE_URL first: redirect URIs are built from it"));
    };
    let issuer = url::Url::parse(body.issuer.trim()).map_err(|_| Error::validation("issuer must be a URL"))?;
    if issuer.scheme() != "https" && (state.settings.is_production() || issuer.scheme() != "http") {
        return Err(Error::validation("issuer must be an https URL"));
    }
    if body.client_id.trim().is_empty() || body.client_secret.is_empty() || body.client_secret.len() > 4096 {
        return Err(Error::validation("client_id and client_secret are required (secret at most 4096 bytes)"));
    }
    // A typo in the issuer is refused now, not found out by every login failing with 503.
    if let Err(why) = crate::oidc::check_discovery(&issuer).await {
        tracing::info!(provider = %id, %issuer, reason = %why, "identity provider refused: discovery failed");
        return Err(Error::new(
            ErrorCode::Unprocessable,
            format!("issuer {issuer} does not answer OpenID Connect discovery ({why}); check the URL"),
        ));
    }
    let stored = crate::store::StoredProvider {
        id: id.clone(),
        issuer: issuer.to_string(),
        client_id: body.client_id.trim().to_string(),
        client_secret_sealed: state.oidc.vault().seal(&body.client_secret),
        scopes: body.scopes.clone().unwrap_or_else(|| "openid email profile".into()),
        display_name: body.display_name.clone().unwrap_or_else(|| id.clone()),
    };
    state.store.create_oidc_provider(&stored).await?;
    state.oidc.forget(&id);
    tracing::info!(provider = %id, by = %caller.id(), "identity provider added");
    Ok(HttpResponse::Created().json(ProviderView {
        redirect_uri: site.join(&format!("api/v1/auth/oidc/{id}/callback")).ok().map(|u| u.to_string()),
        secret_key_id: Some(state.oidc.vault().key_id().to_string()),
        id: stored.id,
        issuer: stored.issuer,
        client_id: stored.client_id,
        scopes: stored.scopes,
        display_name: stored.display_name,
        source: "database",
    }))
}

/// Remove an identity provider added through the API (system admins).
#[utoipa::path(tag = "admin", params(("id" = String, Path, description = "The identity provider's URL name.")), responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
#[delete("/admin/oidc/providers/{id}")]
pub async fn delete_oidc_provider(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<String>,
) -> Result<HttpResponse> {
    require_admin(&caller)?;
    if !state.store.delete_oidc_provider(&path).await? {
        return Err(Error::not_found("identity provider"));
    }
    state.oidc.forget(&path);
    Ok(HttpResponse::NoContent().finish())
}
