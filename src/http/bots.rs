//! Bot accounts over REST (rules in `app::bots`); their tokens are in `tokens.rs`.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::json::Json;
use super::params::Path;
use crate::app;
use crate::app::bots::{BotDraft, BotPatch};
use crate::auth::AuthUser;
use crate::domain::UserId;
use crate::error::Result;
use crate::state::AppState;
use crate::store::Bot;

#[derive(Deserialize, ToSchema)]
pub struct CreateBot {
    /// 3–22 characters of a-z, 0-9, '.', '_' or '-', starting with a letter (stored lower-case).
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9._-]{2,21}$")]
    pub username: String,
    #[schema(max_length = 64)]
    pub display_name: Option<String>,
    #[schema(max_length = 1024)]
    pub description: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateBot {
    #[schema(max_length = 64)]
    pub display_name: Option<String>,
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// False disables the bot and revokes its tokens; true enables it again.
    pub active: Option<bool>,
}

/// Create a bot owned by the caller (system admins, or anyone where the site allows it).
#[utoipa::path(tag = "bots", request_body = CreateBot, responses((status = 201, body = Bot), (status = 403), (status = 409)), security(("bearer" = [])))]
#[post("/bots")]
pub async fn create_bot(state: web::Data<AppState>, caller: AuthUser, body: Json<CreateBot>) -> Result<HttpResponse> {
    let draft = BotDraft::parse(&body.username, body.display_name.as_deref(), body.description.as_deref())?;
    let site = state.site.get();
    Ok(HttpResponse::Created().json(app::bots::create(&state.store, &site, &caller, &draft).await?))
}

/// The bots the caller owns (every bot, for system admins).
#[utoipa::path(tag = "bots", responses((status = 200, body = Vec<Bot>)), security(("bearer" = [])))]
#[get("/bots")]
pub async fn list_bots(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::bots::list(&state.store, &caller).await?))
}

/// A bot the caller manages.
#[utoipa::path(tag = "bots", params(("bot_id" = UserId, Path, description = "The bot's user id.")), responses((status = 200, body = Bot), (status = 404)), security(("bearer" = [])))]
#[get("/bots/{bot_id}")]
pub async fn get_bot(state: web::Data<AppState>, caller: AuthUser, path: Path<UserId>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::bots::managed(&state.store, &caller, path.into_inner()).await?))
}

/// Change a bot's display name or description, or disable (revoking its tokens) or enable it.
#[utoipa::path(tag = "bots", params(("bot_id" = UserId, Path, description = "The bot's user id.")), request_body = UpdateBot, responses((status = 200, body = Bot), (status = 404)), security(("bearer" = [])))]
#[patch("/bots/{bot_id}")]
pub async fn update_bot(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<UserId>,
    body: Json<UpdateBot>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let patch = BotPatch { display_name: body.display_name, description: body.description, active: body.active };
    let (bot, ended) = app::bots::update(&state.store, &caller, path.into_inner(), patch).await?;
    if let Some(ended) = ended {
        state.realtime.end_logins(ended);
    }
    Ok(HttpResponse::Ok().json(bot))
}
