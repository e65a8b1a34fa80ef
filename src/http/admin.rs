//! System administration: the site settings document, site-wide invite codes.

use actix_web::{HttpResponse, get, patch, post, web};

use super::json::Json;
use super::teams::{CreateInvite, Invite, issue_invite};
use crate::auth::AuthUser;
use crate::domain::SiteConfig;
use crate::error::{Error, Result};
use crate::state::AppState;

fn require_admin(caller: &AuthUser) -> Result<()> {
    if caller.is_system_admin() { Ok(()) } else { Err(Error::forbidden("system admins only")) }
}

/// The site settings.
#[utoipa::path(tag = "admin", responses((status = 200, body = SiteConfig), (status = 403)), security(("bearer" = [])))]
#[get("/admin/config/site")]
pub async fn get_site_config(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse> {
    require_admin(&caller)?;
    Ok(HttpResponse::Ok().json(state.store.site_config().await?))
}

/// Change site settings: the given keys are merged into the document. Takes effect on this node at
/// once and on every other node within the refresh interval.
#[utoipa::path(tag = "admin", request_body = Object, responses((status = 200, body = SiteConfig), (status = 400), (status = 403)), security(("bearer" = [])))]
#[patch("/admin/config/site")]
pub async fn patch_site_config(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse> {
    require_admin(&caller)?;
    let patch = body.into_inner();
    // Validate the merged result before storing anything: a typo must not reach other nodes.
    let mut merged = serde_json::to_value(state.store.site_config().await?).map_err(Error::internal)?;
    if let Some(object) = merged.as_object_mut() {
        for (k, v) in &patch {
            if !object.contains_key(k) {
                return Err(Error::validation(format!("unknown site setting '{k}'")));
            }
            object.insert(k.clone(), v.clone());
        }
    }
    let config: SiteConfig =
        serde_json::from_value(merged).map_err(|e| Error::validation(format!("invalid site settings: {e}")))?;
    config.validate()?;
    let stored = state.store.patch_site_config(&patch).await?;
    state.site.set(stored.clone());
    tracing::info!(by = %caller.id(), keys = ?patch.keys().collect::<Vec<_>>(), "site settings changed through the admin API");
    Ok(HttpResponse::Ok().json(stored))
}

/// Create a site-wide invite code (for invite-only registration).
#[utoipa::path(tag = "admin", request_body = CreateInvite, responses((status = 201, body = Invite), (status = 403)), security(("bearer" = [])))]
#[post("/admin/invites")]
pub async fn create_invite(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<CreateInvite>,
) -> Result<HttpResponse> {
    require_admin(&caller)?;
    Ok(HttpResponse::Created().json(issue_invite(&state, &caller, None, &body).await?))
}
