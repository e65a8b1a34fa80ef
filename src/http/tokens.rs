//! Personal access tokens over REST: the caller's own, and those of the bots they manage (rules in
//! `app::tokens`). A token's secret is in the creation answer only.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::json::Json;
use super::params::Path;
use crate::app;
use crate::app::tokens::CreatedToken;
use crate::auth::AuthUser;
use crate::domain::{SessionId, UserId};
use crate::error::Result;
use crate::state::AppState;
use crate::store::AccessToken;

#[derive(Deserialize, ToSchema)]
pub struct CreateToken {
    /// What the token is for, e.g. "CI deploys".
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}

/// Create a personal access token (where the site enables them); its secret is shown only here.
#[utoipa::path(tag = "tokens", request_body = CreateToken, responses((status = 201, body = CreatedToken), (status = 403), (status = 409)), security(("bearer" = [])))]
#[post("/users/me/tokens")]
pub async fn create_my_token(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<CreateToken>,
) -> Result<HttpResponse> {
    let site = state.site.get();
    let created = app::tokens::create_personal(&state.store, &site, &state.tokens, &caller, &body.name).await?;
    Ok(HttpResponse::Created().json(created))
}

/// The caller's live personal access tokens, newest first (never their secrets).
#[utoipa::path(tag = "tokens", responses((status = 200, body = Vec<AccessToken>)), security(("bearer" = [])))]
#[get("/users/me/tokens")]
pub async fn list_my_tokens(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::tokens::list_personal(&state.store, &caller).await?))
}

/// Revoke one of the caller's tokens: it stops working and its sockets close on every node.
#[utoipa::path(tag = "tokens", params(("token_id" = SessionId, Path, description = "The token's id.")), responses((status = 204), (status = 404)), security(("bearer" = [])))]
#[delete("/users/me/tokens/{token_id}")]
pub async fn revoke_my_token(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<SessionId>,
) -> Result<HttpResponse> {
    let ended = app::tokens::revoke_personal(&state.store, &caller, path.into_inner()).await?;
    state.realtime.end_logins(ended);
    Ok(HttpResponse::NoContent().finish())
}

/// Create a token for a bot the caller owns (or any bot, for system admins); shown only here.
#[utoipa::path(tag = "bots", params(("bot_id" = UserId, Path, description = "The bot's user id.")), request_body = CreateToken, responses((status = 201, body = CreatedToken), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
#[post("/bots/{bot_id}/tokens")]
pub async fn create_bot_token(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<UserId>,
    body: Json<CreateToken>,
) -> Result<HttpResponse> {
    let site = state.site.get();
    let created =
        app::tokens::create_for_bot(&state.store, &site, &state.tokens, &caller, path.into_inner(), &body.name).await?;
    Ok(HttpResponse::Created().json(created))
}

/// A managed bot's live tokens (never their secrets).
#[utoipa::path(tag = "bots", params(("bot_id" = UserId, Path, description = "The bot's user id.")), responses((status = 200, body = Vec<AccessToken>), (status = 404)), security(("bearer" = [])))]
#[get("/bots/{bot_id}/tokens")]
pub async fn list_bot_tokens(state: web::Data<AppState>, caller: AuthUser, path: Path<UserId>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::tokens::list_for_bot(&state.store, &caller, path.into_inner()).await?))
}

/// Revoke a managed bot's token: it stops working and its sockets close on every node.
#[utoipa::path(tag = "bots", params(("bot_id" = UserId, Path, description = "The bot's user id."), ("token_id" = SessionId, Path, description = "The token's id.")), responses((status = 204), (status = 404)), security(("bearer" = [])))]
#[delete("/bots/{bot_id}/tokens/{token_id}")]
pub async fn revoke_bot_token(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<(UserId, SessionId)>,
) -> Result<HttpResponse> {
    let (bot, token) = path.into_inner();
    let ended = app::tokens::revoke_for_bot(&state.store, &caller, bot, token).await?;
    state.realtime.end_logins(ended);
    Ok(HttpResponse::NoContent().finish())
}
