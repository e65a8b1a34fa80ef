//! Users: me and others, by ids and usernames, lists by team or channel, statuses, and preferences.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::error::{MmError, MmResult};
use super::input::{Paging, Seg, id, json, ok, query, status_ok};
use super::models;
use crate::access::readable_channel;
use crate::app;
use crate::domain::{ChannelId, TeamId, UserId};
use crate::state::AppState;
use crate::store::Preference;
use crate::store::models::PublicUser;

/// Most ids or usernames one lookup takes.
const MAX_LOOKUP: usize = 200;

/// A path's user: `me` or an id.
pub fn user_param(caller: &Caller, text: &str) -> MmResult<UserId> {
    if text == "me" { Ok(caller.id()) } else { Ok(UserId(id(text, "user_id")?)) }
}

/// A path's user that must be the caller (their teams, channels, preferences).
pub fn only_me(caller: &Caller, text: &str) -> MmResult<UserId> {
    let user = user_param(caller, text)?;
    if user != caller.id() {
        return Err(MmError::forbidden("You do not have the appropriate permissions."));
    }
    Ok(user)
}

pub async fn get_user(state: web::Data<AppState>, caller: Caller, path: Seg) -> MmResult<HttpResponse> {
    let user = user_param(&caller, &path)?;
    if user == caller.id() {
        return Ok(ok(models::user(&caller.user.user, true)));
    }
    let found = state.store.user(user).await?.ok_or_else(|| MmError::not_found("user"))?;
    Ok(ok(models::user(&found, false)))
}

pub async fn by_ids(state: web::Data<AppState>, caller: Caller, body: web::Payload) -> MmResult<HttpResponse> {
    let ids: Vec<String> = json(body).await?;
    if ids.len() > MAX_LOOKUP {
        return Err(MmError::bad_request(format!("at most {MAX_LOOKUP} ids at once")));
    }
    let mut out = Vec::new();
    for text in &ids {
        if let Some(u) = state.store.user(UserId(id(text, "user_id")?)).await? {
            out.push(models::user(&u, u.id == caller.id()));
        }
    }
    Ok(ok(out))
}

pub async fn by_usernames(state: web::Data<AppState>, caller: Caller, body: web::Payload) -> MmResult<HttpResponse> {
    let names: Vec<String> = json(body).await?;
    if names.len() > MAX_LOOKUP {
        return Err(MmError::bad_request(format!("at most {MAX_LOOKUP} usernames at once")));
    }
    let mut out = Vec::new();
    for name in &names {
        let name = name.trim().to_lowercase();
        if let Some(c) = state.store.user_credentials(&name).await?.filter(|c| c.user.username == name) {
            out.push(models::user(&c.user, c.user.id == caller.id()));
        }
    }
    Ok(ok(out))
}

#[derive(Deserialize)]
struct ListQuery {
    in_team: Option<String>,
    in_channel: Option<String>,
    #[serde(default)]
    page: u32,
    #[serde(default = "default_per_page")]
    per_page: u32,
}

fn default_per_page() -> u32 {
    60
}

/// `GET /users?in_team=&in_channel=&page=&per_page=`: members of a team or channel the caller can
/// see, or everyone, by username.
pub async fn list(state: web::Data<AppState>, caller: Caller, req: HttpRequest) -> MmResult<HttpResponse> {
    let q: ListQuery = query(&req)?;
    let (offset, per) = Paging { page: q.page, per_page: q.per_page }.window()?;
    let page = |all: Vec<Value>| all.into_iter().skip(offset as usize).take(per as usize).collect::<Vec<_>>();
    if let Some(channel) = &q.in_channel {
        let access = readable_channel(&state.store, &caller, ChannelId(id(channel, "channel_id")?)).await?;
        let members = state.store.channel_members(access.channel.id).await?;
        let users = members.iter().map(|m| named(m.user_id, &m.username, &m.display_name)).collect();
        return Ok(ok(page(users)));
    }
    if let Some(team) = &q.in_team {
        let members = app::teams::members(&state.store, &caller, TeamId(id(team, "team_id")?)).await?;
        let users = members.iter().map(|m| named(m.user_id, &m.username, &m.display_name)).collect();
        return Ok(ok(page(users)));
    }
    let fetch = offset.saturating_add(per);
    if fetch > 1000 {
        return Err(MmError::bad_request("page past the first 1000 users: filter with in_team or in_channel"));
    }
    let users = state.store.list_users(None, fetch).await?;
    Ok(ok(page(users.iter().map(|u| models::user(u, u.id == caller.id())).collect())))
}

fn named(user: UserId, username: &str, display_name: &str) -> Value {
    models::public_user(&PublicUser {
        id: user,
        username: username.to_string(),
        display_name: display_name.to_string(),
        is_active: true,
        is_bot: false,
    })
}

pub async fn statuses(state: web::Data<AppState>, caller: Caller, body: web::Payload) -> MmResult<HttpResponse> {
    let ids: Vec<String> = json(body).await?;
    let ids = ids.iter().map(|t| id(t, "user_id").map(UserId)).collect::<MmResult<Vec<_>>>()?;
    let online = app::users::online(state.realtime.slots.as_ref(), &caller, ids).await?;
    let out: Vec<Value> = online
        .into_iter()
        .map(|(u, on)| {
            json!({ "user_id": models::id(u.0), "status": if on { "online" } else { "offline" },
                    "manual": false, "last_activity_at": 0 })
        })
        .collect();
    Ok(ok(out))
}

pub async fn get_preferences(state: web::Data<AppState>, caller: Caller, path: Seg) -> MmResult<HttpResponse> {
    only_me(&caller, &path)?;
    let prefs = app::preferences::list(&state.store, &caller).await?;
    Ok(ok(prefs.iter().map(models::preference).collect::<Vec<_>>()))
}

#[derive(Deserialize)]
struct PreferenceBody {
    user_id: String,
    category: String,
    name: String,
    value: String,
}

pub async fn save_preferences(
    state: web::Data<AppState>,
    caller: Caller,
    path: Seg,
    body: web::Payload,
) -> MmResult<HttpResponse> {
    only_me(&caller, &path)?;
    let body: Vec<PreferenceBody> = json(body).await?;
    let prefs = body
        .into_iter()
        .map(|p| {
            Ok(Preference {
                user_id: UserId(id(&p.user_id, "user_id")?),
                category: p.category,
                name: p.name,
                value: p.value,
            })
        })
        .collect::<MmResult<Vec<_>>>()?;
    app::preferences::save(&state.store, &caller, &prefs).await?;
    Ok(status_ok())
}
