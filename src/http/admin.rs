//! System administration: the site settings document, site-wide invite codes, identity providers
//! (rules in `app::site`, `app::invites`, `app::providers`).

use actix_web::{HttpResponse, delete, get, patch, post, web};

use super::json::Json;
use super::params::Path;
use super::teams::CreateInvite;
use crate::app;
use crate::app::invites::Invite;
use crate::app::providers::ProviderView;
use crate::auth::AuthUser;
use crate::domain::SiteConfig;
use crate::error::Result;
use crate::state::AppState;

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

/// Identity providers (system admins). Client secrets are never shown.
#[utoipa::path(tag = "admin", responses((status = 200, body = Vec<ProviderView>), (status = 403)), security(("bearer" = [])))]
#[get("/admin/oidc/providers")]
pub async fn list_oidc_providers(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse> {
    let providers = app::providers::list(&state.store, &state.oidc, state.settings.oidc.as_ref(), &caller).await?;
    Ok(HttpResponse::Ok().json(providers))
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
    let new = app::providers::NewProvider {
        id: &body.id,
        issuer: &body.issuer,
        client_id: &body.client_id,
        client_secret: &body.client_secret,
        scopes: body.scopes.as_deref(),
        display_name: body.display_name.as_deref(),
    };
    let production = state.settings.is_production();
    let view = app::providers::create(&state.store, &state.oidc, production, &caller, new).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Remove an identity provider added through the API (system admins).
#[utoipa::path(tag = "admin", params(("id" = String, Path, description = "The identity provider's URL name.")), responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
#[delete("/admin/oidc/providers/{id}")]
pub async fn delete_oidc_provider(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<String>,
) -> Result<HttpResponse> {
    app::providers::delete(&state.store, &state.oidc, &caller, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}
