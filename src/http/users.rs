//! Users: my profile, looking others up, and admins (de)activating accounts (rules in `app::users`,
//! `app::search` and `app::accounts`).

use actix_web::{HttpResponse, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::json::Json;
use super::page_limit;
use super::params::{Path, Query};
use crate::app;
use crate::auth::AuthUser;
use crate::domain::UserId;
use crate::error::Result;
use crate::state::AppState;
use crate::store::models::{MyChannel, PublicUser, User};

#[derive(Deserialize, ToSchema)]
pub struct UpdateProfile {
    #[schema(min_length = 1, max_length = 64)]
    pub display_name: Option<String>,
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct UserSearch {
    /// Prefix of a username or display name.
    #[param(max_length = 64)]
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// The caller's own account.
#[utoipa::path(tag = "users", responses((status = 200, body = User)), security(("bearer" = [])))]
#[get("/users/me")]
pub async fn get_me(caller: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(caller.user)
}

/// Update the caller's display name or email.
#[utoipa::path(tag = "users", request_body = UpdateProfile, responses((status = 200, body = User)), security(("bearer" = [])))]
#[patch("/users/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<UpdateProfile>,
) -> Result<HttpResponse> {
    let user =
        app::users::update_profile(&state.store, &caller, body.display_name.as_deref(), body.email.as_deref()).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// Every channel the caller belongs to, with unread and mention counts.
#[utoipa::path(tag = "users", responses((status = 200, body = Vec<MyChannel>)), security(("bearer" = [])))]
#[get("/users/me/channels")]
pub async fn my_channels(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::reads::my_channels(&state.store, &caller).await?))
}

/// Find users by username or display-name prefix.
#[utoipa::path(tag = "users", params(UserSearch), responses((status = 200, body = Vec<PublicUser>)), security(("bearer" = [])))]
#[get("/users")]
pub async fn search_users(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: Query<UserSearch>,
) -> Result<HttpResponse> {
    let limit = page_limit(query.limit, 50)?;
    let users = app::search::users(&state.store, &caller, query.q.as_deref().unwrap_or(""), limit).await?;
    Ok(HttpResponse::Ok().json(users))
}

#[derive(Serialize, ToSchema)]
pub struct UserStatus {
    pub user_id: UserId,
    /// `online` (a connection open anywhere in the cluster) or `offline`.
    pub status: &'static str,
}

/// Whether users are connected, for clients showing people of channels too large for `presence`
/// events (`RUSTCHAT_WS_PRESENCE_MAX_MEMBERS`). Body: a JSON array of at most 500 user ids.
#[utoipa::path(tag = "users", request_body = Vec<UserId>, responses((status = 200, body = Vec<UserStatus>), (status = 400), (status = 503)), security(("bearer" = [])))]
#[post("/users/status/ids")]
pub async fn user_statuses(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<Vec<UserId>>,
) -> Result<HttpResponse> {
    let online = app::users::online(state.realtime.slots.as_ref(), &caller, body.into_inner()).await?;
    let statuses: Vec<UserStatus> = online
        .into_iter()
        .map(|(user_id, online)| UserStatus { user_id, status: if online { "online" } else { "offline" } })
        .collect();
    Ok(HttpResponse::Ok().json(statuses))
}

/// One user, as other users see them.
#[utoipa::path(tag = "users", params(("user_id" = UserId, Path, description = "The user's id.")), responses((status = 200, body = PublicUser), (status = 404)), security(("bearer" = [])))]
#[get("/users/{user_id}")]
pub async fn get_user(state: web::Data<AppState>, caller: AuthUser, path: Path<UserId>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::users::public_profile(&state.store, &caller, path.into_inner()).await?))
}

/// Deactivate an account (system admins): its sessions end at once.
#[utoipa::path(tag = "users", params(("user_id" = UserId, Path, description = "The user's id.")), responses((status = 200, body = User), (status = 403)), security(("bearer" = [])))]
#[post("/users/{user_id}/deactivate")]
pub async fn deactivate_user(state: web::Data<AppState>, caller: AuthUser, path: Path<UserId>) -> Result<HttpResponse> {
    set_active(&state, &caller, path.into_inner(), false).await
}

/// Reactivate an account (system admins).
#[utoipa::path(tag = "users", params(("user_id" = UserId, Path, description = "The user's id.")), responses((status = 200, body = User), (status = 403)), security(("bearer" = [])))]
#[post("/users/{user_id}/activate")]
pub async fn activate_user(state: web::Data<AppState>, caller: AuthUser, path: Path<UserId>) -> Result<HttpResponse> {
    set_active(&state, &caller, path.into_inner(), true).await
}

async fn set_active(state: &AppState, caller: &AuthUser, target: UserId, active: bool) -> Result<HttpResponse> {
    let (user, ended) = app::accounts::set_active(&state.store, caller.into(), target, active).await?;
    for ended in ended {
        state.realtime.end_logins(ended);
    }
    Ok(HttpResponse::Ok().json(user))
}
