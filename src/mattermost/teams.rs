//! Teams and the channel lists a client reads per team.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::auth::Caller;
use super::error::{MmError, MmResult};
use super::input::{Paging, Seg, Seg2, id, ok, query};
use super::models;
use super::users::only_me;
use crate::app;
use crate::domain::{ChannelKind, Role, TeamId};
use crate::state::AppState;

fn team_param(text: &str) -> MmResult<TeamId> {
    Ok(TeamId(id(text, "team_id")?))
}

pub async fn my_teams(state: web::Data<AppState>, caller: Caller, path: Seg) -> MmResult<HttpResponse> {
    only_me(&caller, &path)?;
    let teams = state.store.teams_of(caller.id()).await?;
    Ok(ok(teams.iter().map(models::team).collect::<Vec<_>>()))
}

pub async fn get_team(state: web::Data<AppState>, caller: Caller, path: Seg) -> MmResult<HttpResponse> {
    let team = app::teams::visible(&state.store, &caller, team_param(&path)?).await?;
    Ok(ok(models::team(&team)))
}

pub async fn team_by_name(state: web::Data<AppState>, caller: Caller, path: Seg) -> MmResult<HttpResponse> {
    let name = path.into_inner().to_lowercase();
    let mut teams = state.store.teams_of(caller.id()).await?;
    teams.extend(state.store.joinable_teams(caller.id()).await?);
    let team = teams.into_iter().find(|t| t.name == name).ok_or_else(|| MmError::not_found("team"))?;
    Ok(ok(models::team(&team)))
}

/// The team's public channels (as Mattermost's `GET /teams/{id}/channels`), paged.
pub async fn public_channels(
    state: web::Data<AppState>,
    caller: Caller,
    path: Seg,
    req: HttpRequest,
) -> MmResult<HttpResponse> {
    let paging: Paging = query(&req)?;
    let (offset, per) = paging.window()?;
    let team = app::teams::visible(&state.store, &caller, team_param(&path)?).await?;
    let channels = state.store.team_channels(team.id, caller.id(), false).await?;
    let out: Vec<Value> = channels
        .iter()
        .filter(|c| c.kind == ChannelKind::Public)
        .skip(offset as usize)
        .take(per as usize)
        .map(models::channel)
        .collect();
    Ok(ok(out))
}

/// The caller's channels in a team, with their direct and group conversations (as Mattermost lists them).
async fn my_team_channels(
    state: &AppState,
    caller: &Caller,
    user: &str,
    team: &str,
) -> MmResult<Vec<crate::store::models::MyChannel>> {
    only_me(caller, user)?;
    let team = app::teams::visible(&state.store, caller, team_param(team)?).await?;
    let mine = app::reads::my_channels(&state.store, caller).await?;
    Ok(mine.into_iter().filter(|c| c.channel.team_id.is_none_or(|t| t == team.id)).collect())
}

pub async fn my_channels(state: web::Data<AppState>, caller: Caller, path: Seg2) -> MmResult<HttpResponse> {
    let mine = my_team_channels(&state, &caller, &path.0, &path.1).await?;
    Ok(ok(mine.iter().map(|c| models::channel(&c.channel)).collect::<Vec<_>>()))
}

pub async fn my_channel_members(state: web::Data<AppState>, caller: Caller, path: Seg2) -> MmResult<HttpResponse> {
    let mine = my_team_channels(&state, &caller, &path.0, &path.1).await?;
    let me = caller.id().0;
    Ok(ok(mine.iter().map(|c| models::channel_member(c, me, Role::Member)).collect::<Vec<_>>()))
}
