//! Channels: team channels (public, private), direct and group messages, members, read state and the
//! channel's event log. Every lookup goes through [`crate::access`]: what the caller may not see is 404.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::json::Json;
use super::params::{Path, Query};
use crate::access::{member_team, readable_channel};
use crate::app;
use crate::auth::AuthUser;
use crate::domain::{ChannelId, ChannelKind, DisplayName, Slug, TeamId, Text, UserId};
use crate::error::{Error, Result};
use crate::realtime::render::EventBody;
use crate::state::AppState;
use crate::store::models::{Channel, ChannelMember, ReadState};
use crate::store::{ChannelPatch, NewChannel};

#[derive(Deserialize, ToSchema)]
pub struct CreateChannel {
    /// URL name: 2–64 characters of a-z, 0-9, '-', '_'.
    #[schema(pattern = "^[A-Za-z0-9_-]{2,64}$")]
    pub name: String,
    #[schema(min_length = 1, max_length = 64)]
    pub display_name: Option<String>,
    /// `public` (default) or `private`.
    pub kind: Option<ChannelKind>,
    #[schema(max_length = 250)]
    pub purpose: Option<String>,
    #[schema(max_length = 1024)]
    pub header: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateChannel {
    #[schema(pattern = "^[A-Za-z0-9_-]{2,64}$")]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 64)]
    pub display_name: Option<String>,
    #[schema(max_length = 250)]
    pub purpose: Option<String>,
    #[schema(max_length = 1024)]
    pub header: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct ListChannels {
    #[serde(default)]
    pub include_archived: bool,
}

#[derive(Deserialize, ToSchema)]
pub struct AddChannelMember {
    pub user_id: UserId,
}

#[derive(Deserialize, ToSchema)]
pub struct DirectRequest {
    pub user_id: UserId,
}

#[derive(Deserialize, ToSchema)]
pub struct GroupRequest {
    /// The other members: 2–7 users (the group has 3–8 with the caller).
    #[schema(min_items = 2, max_items = 7)]
    pub user_ids: Vec<UserId>,
}

#[derive(Serialize, ToSchema)]
pub struct MembershipChange {
    pub channel_id: ChannelId,
    pub user_id: UserId,
    /// The seq of the `member_added` event; absent when nothing changed.
    pub seq: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Return events with a greater seq (default 0: from the start of the retained log).
    #[param(minimum = 0)]
    pub after_seq: Option<i64>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Create a public or private channel in a team (team members).
#[utoipa::path(tag = "channels", params(("team_id" = TeamId, Path, description = "The team's id.")), request_body = CreateChannel, responses((status = 201, body = Channel), (status = 404), (status = 409)), security(("bearer" = [])))]
#[post("/teams/{team_id}/channels")]
pub async fn create_channel(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<TeamId>,
    body: Json<CreateChannel>,
) -> Result<HttpResponse> {
    let team = path.into_inner();
    let kind = body.kind.unwrap_or(ChannelKind::Public);
    let name = Slug::parse(&body.name, "name")?;
    let display_name = DisplayName::parse(body.display_name.as_deref().unwrap_or(name.as_str()), "display_name")?;
    let purpose = Text::parse(body.purpose.as_deref().unwrap_or(""), "purpose", crate::domain::CHANNEL_PURPOSE_MAX)?;
    let header = Text::parse(body.header.as_deref().unwrap_or(""), "header", crate::domain::CHANNEL_HEADER_MAX)?;
    let new = NewChannel {
        team,
        kind,
        name: &name,
        display_name: display_name.as_str(),
        purpose: purpose.as_str(),
        header: header.as_str(),
        creator: caller.id(),
    };
    let (channel, event) = app::channels::create(&state.store, &caller, team, new).await?;
    state.realtime.publish_event(&event);
    Ok(HttpResponse::Created().json(channel))
}

/// The team's channels the caller may see: all public ones, and private ones they belong to.
#[utoipa::path(tag = "channels", params(("team_id" = TeamId, Path, description = "The team's id."), ListChannels), responses((status = 200, body = Vec<Channel>), (status = 404)), security(("bearer" = [])))]
#[get("/teams/{team_id}/channels")]
pub async fn list_team_channels(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<TeamId>,
    query: Query<ListChannels>,
) -> Result<HttpResponse> {
    let (team, _) = member_team(&state.store, &caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(state.store.team_channels(team.id, caller.id(), query.include_archived).await?))
}

/// One channel.
#[utoipa::path(tag = "channels", params(("channel_id" = ChannelId, Path, description = "The channel's id.")), responses((status = 200, body = Channel), (status = 404)), security(("bearer" = [])))]
#[get("/channels/{channel_id}")]
pub async fn get_channel(state: web::Data<AppState>, caller: AuthUser, path: Path<ChannelId>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(readable_channel(&state.store, &caller, path.into_inner()).await?.channel))
}

/// Rename (channel/team admins) or change the purpose and header (members) of a team channel.
#[utoipa::path(tag = "channels", params(("channel_id" = ChannelId, Path, description = "The channel's id.")), request_body = UpdateChannel, responses((status = 200, body = Channel), (status = 403), (status = 404)), security(("bearer" = [])))]
#[patch("/channels/{channel_id}")]
pub async fn update_channel(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<ChannelId>,
    body: Json<UpdateChannel>,
) -> Result<HttpResponse> {
    let name = body.name.as_deref().map(|n| Slug::parse(n, "name")).transpose()?;
    let display_name = body.display_name.as_deref().map(|d| DisplayName::parse(d, "display_name")).transpose()?;
    let purpose =
        body.purpose.as_deref().map(|p| Text::parse(p, "purpose", crate::domain::CHANNEL_PURPOSE_MAX)).transpose()?;
    let header =
        body.header.as_deref().map(|h| Text::parse(h, "header", crate::domain::CHANNEL_HEADER_MAX)).transpose()?;
    let patch = ChannelPatch {
        name: name.as_ref(),
        display_name: display_name.as_ref().map(DisplayName::as_str),
        purpose: purpose.as_ref().map(Text::as_str),
        header: header.as_ref().map(Text::as_str),
    };
    let (channel, event) = app::channels::update(&state.store, &caller, path.into_inner(), patch).await?;
    state.realtime.publish_event(&event);
    Ok(HttpResponse::Ok().json(channel))
}

/// Archive a team channel (channel/team admins): it becomes read-only.
#[utoipa::path(tag = "channels", params(("channel_id" = ChannelId, Path, description = "The channel's id.")), responses((status = 200, body = Channel), (status = 403), (status = 404)), security(("bearer" = [])))]
#[delete("/channels/{channel_id}")]
pub async fn archive_channel(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<ChannelId>,
) -> Result<HttpResponse> {
    let (channel, event) = app::channels::archive(&state.store, &caller, path.into_inner()).await?;
    state.realtime.publish_event(&event);
    Ok(HttpResponse::Ok().json(channel))
}

/// The channel's members.
#[utoipa::path(tag = "channels", params(("channel_id" = ChannelId, Path, description = "The channel's id.")), responses((status = 200, body = Vec<ChannelMember>), (status = 404)), security(("bearer" = [])))]
#[get("/channels/{channel_id}/members")]
pub async fn list_channel_members(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<ChannelId>,
) -> Result<HttpResponse> {
    let access = readable_channel(&state.store, &caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(state.store.channel_members(access.channel.id).await?))
}

/// Join a public channel (your own id), or add a team member to a channel you belong to.
#[utoipa::path(tag = "channels", params(("channel_id" = ChannelId, Path, description = "The channel's id.")), request_body = AddChannelMember, responses((status = 201, body = MembershipChange), (status = 200, body = MembershipChange), (status = 403), (status = 404)), security(("bearer" = [])))]
#[post("/channels/{channel_id}/members")]
pub async fn add_channel_member(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<ChannelId>,
    body: Json<AddChannelMember>,
) -> Result<HttpResponse> {
    let target = body.user_id;
    let (channel_id, event) = app::channels::add_member(&state.store, &caller, path.into_inner(), target).await?;
    if let Some(event) = &event {
        state.realtime.publish_event(event);
    }
    let seq = event.map(|e| e.seq);
    let change = MembershipChange { channel_id, user_id: target, seq };
    Ok(if seq.is_some() { HttpResponse::Created().json(change) } else { HttpResponse::Ok().json(change) })
}

/// Leave a channel (yourself), or remove a member (channel/team admins).
#[utoipa::path(tag = "channels", params(("channel_id" = ChannelId, Path, description = "The channel's id."), ("user_id" = UserId, Path, description = "The user's id.")), responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
#[delete("/channels/{channel_id}/members/{user_id}")]
pub async fn remove_channel_member(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<(ChannelId, UserId)>,
) -> Result<HttpResponse> {
    let (channel_id, target) = path.into_inner();
    let event = app::channels::remove_member(&state.store, &caller, channel_id, target).await?;
    state.realtime.publish_event(&event);
    Ok(HttpResponse::NoContent().finish())
}

/// The direct-message channel with another user, created on first use.
#[utoipa::path(tag = "channels", request_body = DirectRequest, responses((status = 200, body = Channel), (status = 404)), security(("bearer" = [])))]
#[post("/channels/direct")]
pub async fn open_direct(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<DirectRequest>,
) -> Result<HttpResponse> {
    let (channel, founding) = app::channels::open_direct(&state.store, &caller, body.user_id).await?;
    founding.iter().for_each(|e| state.realtime.publish_event(e));
    Ok(HttpResponse::Ok().json(channel))
}

/// The group-message channel of exactly these users and the caller (3–8), created on first use.
#[utoipa::path(tag = "channels", request_body = GroupRequest, responses((status = 200, body = Channel), (status = 400)), security(("bearer" = [])))]
#[post("/channels/group")]
pub async fn open_group(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<GroupRequest>,
) -> Result<HttpResponse> {
    let (channel, founding) = app::channels::open_group(&state.store, &caller, &body.user_ids).await?;
    founding.iter().for_each(|e| state.realtime.publish_event(e));
    Ok(HttpResponse::Ok().json(channel))
}

/// Mark everything in the channel read.
#[utoipa::path(tag = "channels", params(("channel_id" = ChannelId, Path, description = "The channel's id.")), responses((status = 200, body = ReadState), (status = 404)), security(("bearer" = [])))]
#[post("/channels/{channel_id}/view")]
pub async fn view_channel(state: web::Data<AppState>, caller: AuthUser, path: Path<ChannelId>) -> Result<HttpResponse> {
    let read = app::reads::mark_read(&state.store, &caller, path.into_inner()).await?;
    state.realtime.publish_to_user(
        caller.id(),
        serde_json::json!({ "event": "channel_viewed", "channel_id": read.channel_id, "data": &read }),
    );
    Ok(HttpResponse::Ok().json(read))
}

/// The caller's unread and mention counts in the channel.
#[utoipa::path(tag = "channels", params(("channel_id" = ChannelId, Path, description = "The channel's id.")), responses((status = 200, body = ReadState), (status = 404)), security(("bearer" = [])))]
#[get("/channels/{channel_id}/read")]
pub async fn read_state(state: web::Data<AppState>, caller: AuthUser, path: Path<ChannelId>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::reads::read_state(&state.store, &caller, path.into_inner()).await?))
}

/// The channel's events after a seq, oldest first: what a client that was away missed.
#[utoipa::path(tag = "channels", params(("channel_id" = ChannelId, Path, description = "The channel's id."), EventsQuery), responses((status = 200, body = Vec<EventBody>), (status = 404)), security(("bearer" = [])))]
#[get("/channels/{channel_id}/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<ChannelId>,
    query: Query<EventsQuery>,
) -> Result<HttpResponse> {
    let access = readable_channel(&state.store, &caller, path.into_inner()).await?;
    let limit = super::page_limit(query.limit, 100)?;
    let after = query.after_seq.unwrap_or(0);
    if after < 0 {
        return Err(Error::validation("after_seq must be >= 0"));
    }
    let events = state.store.events_after(access.channel.id, after, limit).await?;
    Ok(HttpResponse::Ok().json(events.iter().map(EventBody::from).collect::<Vec<_>>()))
}
