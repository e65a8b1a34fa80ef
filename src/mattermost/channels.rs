//! Channels: one by id or name, creating one, direct and group conversations, members, and marking
//! a channel viewed.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::error::{MmError, MmResult};
use super::input::{Paging, Seg, Seg2, created, id, json, ok, query, status_ok};
use super::models;
use super::users::only_me;
use crate::access::readable_channel;
use crate::app;
use crate::domain::{ChannelId, ChannelKind, DisplayName, Slug, TeamId, Text, Timestamp, UserId};
use crate::state::AppState;
use crate::store::NewChannel;

pub fn channel_param(text: &str) -> MmResult<ChannelId> {
    Ok(ChannelId(id(text, "channel_id")?))
}

pub async fn get_channel(state: web::Data<AppState>, caller: Caller, path: Seg) -> MmResult<HttpResponse> {
    let access = readable_channel(&state.store, &caller, channel_param(&path)?).await?;
    Ok(ok(models::channel(&access.channel)))
}

pub async fn by_name(state: web::Data<AppState>, caller: Caller, path: Seg2) -> MmResult<HttpResponse> {
    let team = app::teams::visible(&state.store, &caller, TeamId(id(&path.0, "team_id")?)).await?;
    let channels = state.store.team_channels(team.id, caller.id(), true).await?;
    let name = path.1.to_lowercase();
    let channel = channels.iter().find(|c| c.name == name).ok_or_else(|| MmError::not_found("channel"))?;
    Ok(ok(models::channel(channel)))
}

#[derive(Deserialize)]
struct CreateBody {
    team_id: String,
    name: String,
    display_name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    header: String,
}

pub async fn create(state: web::Data<AppState>, caller: Caller, body: web::Payload) -> MmResult<HttpResponse> {
    let body: CreateBody = json(body).await?;
    let team = TeamId(id(&body.team_id, "team_id")?);
    let kind = match body.kind.as_deref().unwrap_or("O") {
        "O" => ChannelKind::Public,
        "P" => ChannelKind::Private,
        _ => return Err(MmError::bad_request("type must be O or P (use /channels/direct or /channels/group)")),
    };
    let name = Slug::parse(&body.name, "name")?;
    let display_name = DisplayName::parse(body.display_name.as_deref().unwrap_or(name.as_str()), "display_name")?;
    let purpose = Text::parse(&body.purpose, "purpose", crate::domain::CHANNEL_PURPOSE_MAX)?;
    let header = Text::parse(&body.header, "header", crate::domain::CHANNEL_HEADER_MAX)?;
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
    Ok(created(models::channel(&channel)))
}

fn user_ids(texts: &[String]) -> MmResult<Vec<UserId>> {
    texts.iter().map(|t| id(t, "user_id").map(UserId)).collect()
}

/// `POST /channels/direct` with `[me, other]`.
pub async fn direct(state: web::Data<AppState>, caller: Caller, body: web::Payload) -> MmResult<HttpResponse> {
    let ids = user_ids(&json::<Vec<String>>(body).await?)?;
    let [a, b] = ids[..] else {
        return Err(MmError::bad_request("a direct channel takes exactly two user ids"));
    };
    let other = match (a == caller.id(), b == caller.id()) {
        (true, _) => b,
        (_, true) => a,
        _ => return Err(MmError::forbidden("one of the two users must be you")),
    };
    let (channel, founding) = app::channels::open_direct(&state.store, &caller, other).await?;
    founding.iter().for_each(|e| state.realtime.publish_event(e));
    Ok(created(models::channel(&channel)))
}

/// `POST /channels/group` with the members' ids (the caller may be among them).
pub async fn group(state: web::Data<AppState>, caller: Caller, body: web::Payload) -> MmResult<HttpResponse> {
    let ids = user_ids(&json::<Vec<String>>(body).await?)?;
    if ids.len() > 16 {
        return Err(MmError::bad_request("too many users for a group"));
    }
    let others: Vec<UserId> = ids.into_iter().filter(|u| *u != caller.id()).collect();
    let (channel, founding) = app::channels::open_group(&state.store, &caller, &others).await?;
    founding.iter().for_each(|e| state.realtime.publish_event(e));
    Ok(created(models::channel(&channel)))
}

pub async fn members(
    state: web::Data<AppState>,
    caller: Caller,
    path: Seg,
    req: HttpRequest,
) -> MmResult<HttpResponse> {
    let paging: Paging = query(&req)?;
    let (offset, per) = paging.window()?;
    let access = readable_channel(&state.store, &caller, channel_param(&path)?).await?;
    let members = state.store.channel_members(access.channel.id).await?;
    let out: Vec<Value> = members
        .iter()
        .skip(offset as usize)
        .take(per as usize)
        .map(|m| models::member_of(m.channel_id.0, m.user_id.0, m.role, m.joined_at))
        .collect();
    Ok(ok(out))
}

#[derive(Deserialize)]
struct AddMember {
    user_id: String,
}

pub async fn add_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: Seg,
    body: web::Payload,
) -> MmResult<HttpResponse> {
    let body: AddMember = json(body).await?;
    let target = UserId(id(&body.user_id, "user_id")?);
    let (channel, event) = app::channels::add_member(&state.store, &caller, channel_param(&path)?, target).await?;
    if let Some(event) = &event {
        state.realtime.publish_event(event);
    }
    let role = state.store.channel_role(channel, target).await?.unwrap_or(crate::domain::Role::Member);
    Ok(created(models::member_of(channel.0, target.0, role, Timestamp::now())))
}

pub async fn remove_member(state: web::Data<AppState>, caller: Caller, path: Seg2) -> MmResult<HttpResponse> {
    let channel = channel_param(&path.0)?;
    let target = UserId(id(&path.1, "user_id")?);
    let event = app::channels::remove_member(&state.store, &caller, channel, target).await?;
    state.realtime.publish_event(&event);
    Ok(status_ok())
}

#[derive(Deserialize)]
struct ViewBody {
    channel_id: String,
    #[serde(default)]
    #[allow(dead_code)]
    prev_channel_id: Option<String>,
}

/// `POST /channels/members/{user_id}/view`: marks the channel read for the caller.
pub async fn view(state: web::Data<AppState>, caller: Caller, path: Seg, body: web::Payload) -> MmResult<HttpResponse> {
    only_me(&caller, &path)?;
    let body: ViewBody = json(body).await?;
    let channel = channel_param(&body.channel_id)?;
    let read = app::reads::mark_read(&state.store, &caller, channel).await?;
    state.realtime.publish_to_user(
        caller.id(),
        json!({ "event": "channel_viewed", "channel_id": read.channel_id, "data": &read }),
    );
    let now = models::millis(Timestamp::now());
    Ok(ok(json!({ "status": "OK", "last_viewed_at_times": { models::id(channel.0): now } })))
}
