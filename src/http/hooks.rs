//! Incoming webhooks: managing them under `/api/v1` (rules in `app::hooks`), and posting through one
//! at `/hooks/{secret}`, at the root where Mattermost serves it, so Slack and Mattermost senders work
//! unchanged. The secret in that path is the credential: the request log shows the path redacted.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::json::Json;
use super::params::{Path, Query};
use crate::app;
use crate::app::hooks::{CreatedHook, HookRequest};
use crate::auth::AuthUser;
use crate::domain::hooks::HookPayload;
use crate::domain::{ChannelId, HookId};
use crate::error::{Error, ErrorCode, Result};
use crate::state::AppState;
use crate::store::IncomingHook;

/// Largest body `/hooks/{secret}` reads (Mattermost's payloads are far smaller; a longer one is 413).
pub const MAX_HOOK_BODY: usize = 100 * 1024;

#[derive(Deserialize, ToSchema)]
pub struct CreateHook {
    /// 0–64 characters.
    #[schema(max_length = 64)]
    pub display_name: String,
    /// 0–500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
    /// Refuse payloads that name another channel.
    #[serde(default)]
    pub channel_locked: bool,
}

#[derive(Deserialize, IntoParams)]
pub struct HookListQuery {
    /// Only the hooks of this channel.
    pub channel_id: Option<ChannelId>,
}

/// Create an incoming webhook for a channel (its members, or only admins where the site says so).
/// The answer's `url` is shown this once.
#[utoipa::path(tag = "hooks", params(("channel_id" = ChannelId, Path, description = "The channel's id.")), request_body = CreateHook, responses((status = 201, body = CreatedHook), (status = 403)), security(("bearer" = [])))]
#[post("/channels/{channel_id}/hooks")]
pub async fn create_hook(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<ChannelId>,
    body: Json<CreateHook>,
) -> Result<HttpResponse> {
    let req = HookRequest {
        display_name: &body.display_name,
        description: &body.description,
        channel_locked: body.channel_locked,
    };
    let created = app::hooks::create(&state.store, &state.site.get(), &caller, path.into_inner(), req).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Incoming webhooks: the caller's own; every hook for a system admin. Secrets are never shown.
#[utoipa::path(tag = "hooks", params(HookListQuery), responses((status = 200, body = Vec<IncomingHook>)), security(("bearer" = [])))]
#[get("/hooks/incoming")]
pub async fn list_hooks(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: Query<HookListQuery>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::hooks::list(&state.store, &caller, query.channel_id).await?))
}

/// Revoke an incoming webhook (its creator, an admin of its channel or team, a system admin); its URL
/// answers 404 at once.
#[utoipa::path(tag = "hooks", params(("hook_id" = HookId, Path, description = "The hook's public id.")), responses((status = 204)), security(("bearer" = [])))]
#[delete("/hooks/incoming/{hook_id}")]
pub async fn revoke_hook(state: web::Data<AppState>, caller: AuthUser, path: Path<HookId>) -> Result<HttpResponse> {
    app::hooks::revoke(&state.store, &caller, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Whether the body is a form (`payload=<json>`) rather than JSON. A body without a type is read as
/// JSON, as Mattermost reads it; any other type is refused (415).
fn body_kind(req: &HttpRequest) -> Result<bool> {
    let Some(value) = req.headers().get(actix_web::http::header::CONTENT_TYPE) else { return Ok(false) };
    let mime = value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" => Ok(true),
        "application/json" => Ok(false),
        m if m.ends_with("+json") => Ok(false),
        _ => Err(Error::new(
            ErrorCode::UnsupportedMediaType,
            "expected Content-Type: application/json, or application/x-www-form-urlencoded with a `payload` field",
        )),
    }
}

/// Post through an incoming webhook: a Slack-compatible payload (`text`, `username`, `icon_url`,
/// `channel`, `attachments`) as JSON (also without a Content-Type), or as a form whose `payload` field
/// holds the JSON; any other type is 415. Answers `ok` (text/plain), as Mattermost does. Limits: 100 KB a body (413), the site's posts a minute per hook
/// (429 with Retry-After); text over 16 000 characters is split over several posts.
#[utoipa::path(tag = "hooks", params(("secret" = String, Path, description = "The hook's secret, from its URL.")), request_body(content((HookPayload = "application/json"), (HookPayload = "application/x-www-form-urlencoded"))), responses((status = 200, description = "posted", body = String, content_type = "text/plain"), (status = 403, description = "the channel is archived or locked, or the creator may not post there"), (status = 404, description = "no such hook (unknown or revoked)"), (status = 413), (status = 429)))]
#[post("/hooks/{secret}")]
pub async fn post_to_hook(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse> {
    let form = body_kind(&req)?;
    let too_large =
        || Error::new(ErrorCode::PayloadTooLarge, format!("request body is larger than {MAX_HOOK_BODY} bytes"));
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_HOOK_BODY) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| Error::new(ErrorCode::BadRequest, format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > MAX_HOOK_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let site = state.site.get();
    let presence = state.realtime.slots.as_ref();
    let delivered =
        app::hooks::deliver(&state.store, presence, &site, &state.rate_limits, path.as_str(), form, &body).await?;
    delivered.events.iter().for_each(|e| state.realtime.publish_event(e));
    Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok"))
}
