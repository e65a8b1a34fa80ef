//! Outgoing webhooks: create, list, read, revoke, and the calls each made. The rules are in
//! [`crate::app::outgoing`]; the token is answered to the hook's managers (they check requests with
//! it) and never logged.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::json::Json;
use super::params::{Path, Query};
use crate::app::outgoing::{self, HookSpec};
use crate::auth::AuthUser;
use crate::domain::{ChannelId, OutgoingHookId, TeamId};
use crate::error::Result;
use crate::state::AppState;
use crate::store::deliveries::DeliveryStatus;
use crate::store::outgoing::OutgoingHook;

#[derive(Deserialize, ToSchema)]
pub struct CreateOutgoingHook {
    /// The channel whose posts trigger the hook; absent: every public channel of the team (then
    /// `trigger_words` is required, and only team admins may create it).
    pub channel_id: Option<ChannelId>,
    #[serde(default)]
    #[schema(max_length = 64)]
    pub display_name: String,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
    /// Words that trigger the hook; none: every message of the channel.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub trigger_words: Vec<String>,
    /// 0: the message's first word is a trigger word; 1: the message starts with one.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1)]
    pub trigger_when: i16,
    /// Where calls go: 1 to 5 http(s) URLs.
    #[schema(min_items = 1, max_items = 5)]
    pub callback_urls: Vec<String>,
    /// `application/json` (default) or `application/x-www-form-urlencoded`.
    pub content_type: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct DeliveriesQuery {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Create an outgoing webhook (channel members for their channel; team admins for the team).
#[utoipa::path(tag = "integrations", params(("team_id" = TeamId, Path, description = "The team's id.")), request_body = CreateOutgoingHook, responses((status = 201, body = OutgoingHook), (status = 400), (status = 403), (status = 404)), security(("bearer" = [])))]
#[post("/teams/{team_id}/outgoing_webhooks")]
pub async fn create_outgoing_webhook(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<TeamId>,
    body: Json<CreateOutgoingHook>,
) -> Result<HttpResponse> {
    let spec = HookSpec {
        team_id: path.into_inner(),
        channel_id: body.channel_id,
        display_name: &body.display_name,
        description: &body.description,
        trigger_words: &body.trigger_words,
        trigger_when: body.trigger_when,
        callback_urls: &body.callback_urls,
        content_type: body.content_type.as_deref(),
    };
    let hook =
        outgoing::create(&state.store, &state.webhooks.guard, &caller, state.site.get().enable_outgoing_webhooks, spec)
            .await?;
    Ok(HttpResponse::Created().json(hook))
}

/// The team's outgoing webhooks the caller manages (team admins: all).
#[utoipa::path(tag = "integrations", params(("team_id" = TeamId, Path, description = "The team's id.")), responses((status = 200, body = Vec<OutgoingHook>), (status = 404)), security(("bearer" = [])))]
#[get("/teams/{team_id}/outgoing_webhooks")]
pub async fn list_outgoing_webhooks(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<TeamId>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(outgoing::list(&state.store, &caller, path.into_inner()).await?))
}

/// One outgoing webhook (its creator, team admins).
#[utoipa::path(tag = "integrations", params(("hook_id" = OutgoingHookId, Path, description = "The hook's id.")), responses((status = 200, body = OutgoingHook), (status = 404)), security(("bearer" = [])))]
#[get("/outgoing_webhooks/{hook_id}")]
pub async fn get_outgoing_webhook(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<OutgoingHookId>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(outgoing::manageable(&state.store, &caller, path.into_inner()).await?))
}

/// Revoke an outgoing webhook; its calls not yet made are given up.
#[utoipa::path(tag = "integrations", params(("hook_id" = OutgoingHookId, Path, description = "The hook's id.")), responses((status = 204), (status = 404)), security(("bearer" = [])))]
#[delete("/outgoing_webhooks/{hook_id}")]
pub async fn revoke_outgoing_webhook(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<OutgoingHookId>,
) -> Result<HttpResponse> {
    outgoing::revoke(&state.store, &caller, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The hook's newest calls: pending (with the next try's time), delivered, or dead (given up).
#[utoipa::path(tag = "integrations", params(("hook_id" = OutgoingHookId, Path, description = "The hook's id."), DeliveriesQuery), responses((status = 200, body = Vec<DeliveryStatus>), (status = 404)), security(("bearer" = [])))]
#[get("/outgoing_webhooks/{hook_id}/deliveries")]
pub async fn list_outgoing_deliveries(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<OutgoingHookId>,
    query: Query<DeliveriesQuery>,
) -> Result<HttpResponse> {
    let limit = super::page_limit(query.limit, 50)?;
    Ok(HttpResponse::Ok().json(outgoing::deliveries(&state.store, &caller, path.into_inner(), limit).await?))
}
