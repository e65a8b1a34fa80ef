//! Users: my profile, looking others up, and admins (de)activating accounts.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::json::Json;
use super::page_limit;
use super::params::{Path, Query};
use crate::auth::AuthUser;
use crate::domain::{DisplayName, Email, UserId};
use crate::error::{Error, Result};
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
    let display_name = body.display_name.as_deref().map(|d| DisplayName::parse(d, "display_name")).transpose()?;
    let email = body.email.as_deref().map(Email::parse).transpose()?;
    let user =
        state.store.update_profile(caller.id(), display_name.as_ref().map(DisplayName::as_str), email.as_ref()).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// Every channel the caller belongs to, with unread and mention counts.
#[utoipa::path(tag = "users", responses((status = 200, body = Vec<MyChannel>)), security(("bearer" = [])))]
#[get("/users/me/channels")]
pub async fn my_channels(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.store.my_channels(caller.id()).await?))
}

/// Find users by username or display-name prefix.
#[utoipa::path(tag = "users", params(UserSearch), responses((status = 200, body = Vec<PublicUser>)), security(("bearer" = [])))]
#[get("/users")]
pub async fn search_users(
    state: web::Data<AppState>,
    _caller: AuthUser,
    query: Query<UserSearch>,
) -> Result<HttpResponse> {
    let limit = page_limit(query.limit, 50)?;
    let q = query.q.as_deref().unwrap_or("");
    if q.chars().count() > 64 {
        return Err(Error::validation("q must be at most 64 characters"));
    }
    Ok(HttpResponse::Ok().json(state.store.search_users(q, limit).await?))
}

/// Most users one status request may ask about.
const MAX_STATUS_IDS: usize = 500;

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
    _caller: AuthUser,
    body: Json<Vec<UserId>>,
) -> Result<HttpResponse> {
    let mut ids = body.into_inner();
    if ids.len() > MAX_STATUS_IDS {
        return Err(Error::validation(format!("ask about at most {MAX_STATUS_IDS} users at a time")));
    }
    ids.sort();
    ids.dedup();
    let online: std::collections::HashSet<uuid::Uuid> = state
        .realtime
        .slots
        .online(ids.iter().map(|u| u.0).collect())
        .await
        .map_err(|e| Error::unavailable(format!("cannot tell who is online: {e}")))?
        .into_iter()
        .collect();
    let statuses: Vec<UserStatus> = ids
        .into_iter()
        .map(|u| UserStatus { user_id: u, status: if online.contains(&u.0) { "online" } else { "offline" } })
        .collect();
    Ok(HttpResponse::Ok().json(statuses))
}

/// One user, as other users see them.
#[utoipa::path(tag = "users", params(("user_id" = UserId, Path, description = "The user's id.")), responses((status = 200, body = PublicUser), (status = 404)), security(("bearer" = [])))]
#[get("/users/{user_id}")]
pub async fn get_user(state: web::Data<AppState>, _caller: AuthUser, path: Path<UserId>) -> Result<HttpResponse> {
    let user = state.store.user(path.into_inner()).await?.ok_or_else(|| Error::not_found("user"))?;
    Ok(HttpResponse::Ok().json(PublicUser::from(user)))
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
    let (user, ended) = crate::app::accounts::set_active(&state.store, caller, target, active).await?;
    if let Some(ended) = ended {
        state.realtime.end_logins(ended);
    }
    Ok(HttpResponse::Ok().json(user))
}
