//! Teams: create, list, join open teams, members (add, list, remove, leave), invite codes.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json::Json;
use super::params::Path;
use crate::app;
use crate::app::invites::Invite;
use crate::auth::AuthUser;
use crate::domain::{TeamId, UserId};
use crate::error::Result;
use crate::state::AppState;
use crate::store::models::{Team, TeamMember};

#[derive(Deserialize, ToSchema)]
pub struct CreateTeam {
    /// URL name: 2–64 characters of a-z, 0-9, '-', '_'.
    #[schema(pattern = "^[A-Za-z0-9_-]{2,64}$")]
    pub name: String,
    #[schema(min_length = 1, max_length = 64)]
    pub display_name: Option<String>,
    #[schema(max_length = 255)]
    pub description: Option<String>,
    /// Anyone on the site may join an open team.
    #[serde(default)]
    pub open: bool,
}

#[derive(Deserialize, ToSchema)]
pub struct AddMember {
    pub user_id: UserId,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateInvite {
    /// How many accounts may register with the code (default 1, at most 1000).
    #[schema(minimum = 1, maximum = 1000)]
    pub max_uses: Option<i32>,
    /// Hours until the code expires (default 72, at most 720).
    #[schema(minimum = 1, maximum = 720)]
    pub expires_in_hours: Option<u32>,
}

impl CreateInvite {
    pub(super) fn terms(&self) -> app::invites::InviteTerms {
        app::invites::InviteTerms { max_uses: self.max_uses, expires_in_hours: self.expires_in_hours }
    }
}

/// A user's membership of a team, as adding them answers.
#[derive(Serialize, ToSchema)]
pub struct Membership {
    pub team_id: TeamId,
    pub user_id: UserId,
}

/// Create a team; the creator becomes its admin.
#[utoipa::path(tag = "teams", request_body = CreateTeam, responses((status = 201, body = Team), (status = 409)), security(("bearer" = [])))]
#[post("/teams")]
pub async fn create_team(state: web::Data<AppState>, caller: AuthUser, body: Json<CreateTeam>) -> Result<HttpResponse> {
    let new = app::teams::NewTeam {
        name: &body.name,
        display_name: body.display_name.as_deref(),
        description: body.description.as_deref(),
        open: body.open,
    };
    let team = app::teams::create(&state.store, &caller, state.site.get().allow_team_creation, new).await?;
    Ok(HttpResponse::Created().json(team))
}

/// The caller's teams.
#[utoipa::path(tag = "teams", responses((status = 200, body = Vec<Team>)), security(("bearer" = [])))]
#[get("/teams")]
pub async fn list_my_teams(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.store.teams_of(caller.id()).await?))
}

/// Open teams the caller can join.
#[utoipa::path(tag = "teams", responses((status = 200, body = Vec<Team>)), security(("bearer" = [])))]
#[get("/teams/joinable")]
pub async fn list_joinable_teams(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.store.joinable_teams(caller.id()).await?))
}

/// A team the caller belongs to, or an open team.
#[utoipa::path(tag = "teams", params(("team_id" = TeamId, Path, description = "The team's id.")), responses((status = 200, body = Team), (status = 404)), security(("bearer" = [])))]
#[get("/teams/{team_id}")]
pub async fn get_team(state: web::Data<AppState>, caller: AuthUser, path: Path<TeamId>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::teams::visible(&state.store, &caller, path.into_inner()).await?))
}

/// Join an open team.
#[utoipa::path(tag = "teams", params(("team_id" = TeamId, Path, description = "The team's id.")), responses((status = 200, body = Team), (status = 404)), security(("bearer" = [])))]
#[post("/teams/{team_id}/join")]
pub async fn join_team(state: web::Data<AppState>, caller: AuthUser, path: Path<TeamId>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::teams::join(&state.store, &caller, path.into_inner()).await?))
}

/// The team's members (members only).
#[utoipa::path(tag = "teams", params(("team_id" = TeamId, Path, description = "The team's id.")), responses((status = 200, body = Vec<TeamMember>), (status = 404)), security(("bearer" = [])))]
#[get("/teams/{team_id}/members")]
pub async fn list_team_members(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<TeamId>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::teams::members(&state.store, &caller, path.into_inner()).await?))
}

/// Add a user to the team (team admins and system admins).
#[utoipa::path(tag = "teams", params(("team_id" = TeamId, Path, description = "The team's id.")), request_body = AddMember, responses((status = 201, body = Membership, description = "added"), (status = 200, body = Membership, description = "already a member"), (status = 403)), security(("bearer" = [])))]
#[post("/teams/{team_id}/members")]
pub async fn add_team_member(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<TeamId>,
    body: Json<AddMember>,
) -> Result<HttpResponse> {
    let (team_id, user_id, added) =
        app::teams::add_member(&state.store, &caller, path.into_inner(), body.user_id).await?;
    let body = Membership { team_id, user_id };
    Ok(if added { HttpResponse::Created().json(body) } else { HttpResponse::Ok().json(body) })
}

/// Remove a member (team admins), or leave (yourself). They also leave the team's channels.
#[utoipa::path(tag = "teams", params(("team_id" = TeamId, Path, description = "The team's id."), ("user_id" = UserId, Path, description = "The user's id.")), responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
#[delete("/teams/{team_id}/members/{user_id}")]
pub async fn remove_team_member(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<(TeamId, UserId)>,
) -> Result<HttpResponse> {
    let (team_id, user_id) = path.into_inner();
    for event in app::teams::remove_member(&state.store, &caller, team_id, user_id).await? {
        state.realtime.publish_event(&event);
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Create an invite code that registers accounts into this team (team admins).
#[utoipa::path(tag = "teams", params(("team_id" = TeamId, Path, description = "The team's id.")), request_body = CreateInvite, responses((status = 201, body = Invite), (status = 403)), security(("bearer" = [])))]
#[post("/teams/{team_id}/invites")]
pub async fn create_team_invite(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<TeamId>,
    body: Json<CreateInvite>,
) -> Result<HttpResponse> {
    let invite = app::invites::create_for_team(&state.store, &caller, path.into_inner(), &body.terms()).await?;
    Ok(HttpResponse::Created().json(invite))
}
