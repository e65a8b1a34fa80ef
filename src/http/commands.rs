//! Slash commands: register, list, read, revoke, and run one (`POST /channels/{id}/commands/run`;
//! a post whose message is a command line runs it too, see [`super::posts::create_post`]). An
//! ephemeral answer goes to the caller's sockets on every node as an `ephemeral_message` event and
//! in the HTTP answer. The rules are in [`crate::app::commands`].

use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json::Json;
use super::params::Path;
use crate::app::commands::{self, CommandSpec, Ran};
use crate::auth::AuthUser;
use crate::domain::{ChannelId, CommandId, TeamId};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::commands::Command;
use crate::store::models::Post;

#[derive(Deserialize, ToSchema)]
pub struct CreateCommand {
    /// The word after `/`: 1–64 characters of a-z, 0-9, '-', '_', '.'.
    #[schema(pattern = "^/?[A-Za-z0-9_.-]{1,64}$")]
    pub trigger: String,
    /// Where the command is sent (http or https).
    #[schema(max_length = 1024)]
    pub url: String,
    /// `POST` (default, a form body) or `GET` (the fields in the query string).
    pub method: Option<String>,
    #[serde(default)]
    #[schema(max_length = 64)]
    pub display_name: String,
    #[serde(default)]
    #[schema(max_length = 128)]
    pub description: String,
    #[serde(default)]
    pub auto_complete: bool,
    /// e.g. `[branch]`.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub auto_complete_hint: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RunCommand {
    /// The command line, e.g. `/deploy main`.
    #[schema(min_length = 2, max_length = 16000)]
    pub command: String,
}

/// What running a command answered.
#[derive(Serialize, ToSchema)]
pub struct CommandAnswer {
    /// `in_channel` (posted: see `post`), `ephemeral` (for the caller only) or `none`.
    pub response_type: &'static str,
    pub text: String,
    pub post: Option<Post>,
}

/// Register a slash command for the team (team admins).
#[utoipa::path(tag = "integrations", params(("team_id" = TeamId, Path, description = "The team's id.")), request_body = CreateCommand, responses((status = 201, body = Command), (status = 400), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
#[post("/teams/{team_id}/commands")]
pub async fn create_command(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<TeamId>,
    body: Json<CreateCommand>,
) -> Result<HttpResponse> {
    let spec = CommandSpec {
        team_id: path.into_inner(),
        trigger: &body.trigger,
        url: &body.url,
        method: body.method.as_deref(),
        display_name: &body.display_name,
        description: &body.description,
        auto_complete: body.auto_complete,
        auto_complete_hint: &body.auto_complete_hint,
    };
    Ok(HttpResponse::Created().json(
        commands::create(&state.store, &state.webhooks.guard, &caller, state.site.get().enable_commands, spec).await?,
    ))
}

/// The team's slash commands (members; tokens only for team admins).
#[utoipa::path(tag = "integrations", params(("team_id" = TeamId, Path, description = "The team's id.")), responses((status = 200, body = Vec<Command>), (status = 404)), security(("bearer" = [])))]
#[get("/teams/{team_id}/commands")]
pub async fn list_commands(state: web::Data<AppState>, caller: AuthUser, path: Path<TeamId>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(commands::list(&state.store, &caller, path.into_inner()).await?))
}

/// One slash command (team admins).
#[utoipa::path(tag = "integrations", params(("command_id" = CommandId, Path, description = "The command's id.")), responses((status = 200, body = Command), (status = 404)), security(("bearer" = [])))]
#[get("/commands/{command_id}")]
pub async fn get_command(state: web::Data<AppState>, caller: AuthUser, path: Path<CommandId>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(commands::manageable(&state.store, &caller, path.into_inner()).await?))
}

/// Remove a slash command (team admins).
#[utoipa::path(tag = "integrations", params(("command_id" = CommandId, Path, description = "The command's id.")), responses((status = 204), (status = 404)), security(("bearer" = [])))]
#[delete("/commands/{command_id}")]
pub async fn revoke_command(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<CommandId>,
) -> Result<HttpResponse> {
    commands::revoke(&state.store, &caller, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Run a slash command in a channel (its members): `in_channel` answers are posted, `ephemeral` ones
/// reach only the caller's sockets. An unknown command is 404.
#[utoipa::path(tag = "integrations", params(("channel_id" = ChannelId, Path, description = "The channel's id.")), request_body = RunCommand, responses((status = 200, body = CommandAnswer), (status = 403), (status = 404), (status = 503)), security(("bearer" = [])))]
#[post("/channels/{channel_id}/commands/run")]
pub async fn run_command(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<ChannelId>,
    body: Json<RunCommand>,
) -> Result<HttpResponse> {
    if !commands::is_command_line(&body.command) {
        return Err(Error::validation("command: a command line like /name args"));
    }
    let (answer, _) = run(&state, &caller, path.into_inner(), &body.command).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Runs a command line and delivers its answer: a post is published, an ephemeral text is sent to
/// the caller's sockets on every node (and only theirs). With the seq of a posted answer's event.
pub async fn run(
    state: &AppState,
    caller: &AuthUser,
    channel: ChannelId,
    line: &str,
) -> Result<(CommandAnswer, Option<i64>)> {
    Ok(
        match commands::run(&state.store, &state.webhooks, caller, state.site.get().enable_commands, channel, line)
            .await?
        {
            Ran::Posted(posted) => {
                let (post, event) = *posted;
                state.metrics.posts_created.add(1, &[]);
                state.realtime.publish_event(&event);
                (
                    CommandAnswer { response_type: "in_channel", text: post.message.clone(), post: Some(post) },
                    Some(event.seq),
                )
            }
            Ran::Ephemeral(text) => {
                state.realtime.publish_to_user(caller.id(), crate::realtime::render::ephemeral_message(channel, &text));
                (CommandAnswer { response_type: "ephemeral", text, post: None }, None)
            }
            Ran::Nothing => (CommandAnswer { response_type: "none", text: String::new(), post: None }, None),
        },
    )
}
