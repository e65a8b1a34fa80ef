//! Slash commands as Mattermost clients run them: `POST /api/v4/commands/execute` with the channel and
//! the command line, answered with Mattermost's `CommandResponse`. The rules are the v1 face's
//! ([`crate::app::commands`]); an `in_channel` answer is posted and published like any post.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::channels::channel_param;
use super::error::MmResult;
use super::input::{json, ok};
use crate::app::commands::{self, Ran};
use crate::error::Error;
use crate::state::AppState;

#[derive(Deserialize)]
struct ExecuteBody {
    channel_id: String,
    command: String,
}

pub async fn execute(state: web::Data<AppState>, caller: Caller, body: web::Payload) -> MmResult<HttpResponse> {
    let body: ExecuteBody = json(body).await?;
    let channel = channel_param(&body.channel_id)?;
    if !commands::is_command_line(&body.command) {
        return Err(Error::validation("command: a command line like /name args").into());
    }
    let enabled = state.site.get().enable_commands;
    let answer = match commands::run(&state.store, &state.webhooks, &caller, enabled, channel, &body.command).await? {
        Ran::Posted(posted) => {
            let (post, event) = *posted;
            state.metrics.posts_created.add(1, &[]);
            state.realtime.publish_event(&event);
            json!({ "response_type": "in_channel", "text": post.message })
        }
        Ran::Ephemeral(text) => json!({ "response_type": "ephemeral", "text": text }),
        Ran::Nothing => json!({ "response_type": "", "text": "" }),
    };
    Ok(ok(answer))
}
