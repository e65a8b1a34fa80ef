//! Slash commands: a team's commands (registered by team admins), and running one: `/trigger args`
//! typed in a channel is not posted, it is sent to the command's URL while the caller waits (through
//! the SSRF guard and its host's breaker, like every outgoing call), and the answer is posted in the
//! channel (`in_channel`) or shown only to the caller (`ephemeral`, the default, as in Mattermost).
//!
//! Audit lines carry `audit = "slash_command.<verb>"` and never the token.

use std::time::Duration;

use crate::access::{member_channel, member_team};
use crate::auth::AuthUser;
use crate::domain::{ChannelId, CommandId, Role, TeamId};
use crate::error::{Error, ErrorCode, Result};
use crate::store::Store;
use crate::store::change::ChannelEvent;
use crate::store::commands::{Command, NewCommand};
use crate::store::models::Post;
use crate::webhooks::guard::Guard;
use crate::webhooks::payload::{self, CommandPayload, Response, SIGNATURE_HEADER};
use crate::webhooks::{Call, CallError, Webhooks};

/// The longest a caller waits for a command's answer.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);
/// Most commands one team has.
pub const MAX_COMMANDS_PER_TEAM: usize = 100;

/// A command as its registrant describes it.
pub struct CommandSpec<'a> {
    pub team_id: TeamId,
    pub trigger: &'a str,
    pub url: &'a str,
    pub method: Option<&'a str>,
    pub display_name: &'a str,
    pub description: &'a str,
    pub auto_complete: bool,
    pub auto_complete_hint: &'a str,
}

/// What running a command gave.
pub enum Ran {
    /// The answer, posted in the channel as the caller.
    Posted(Box<(Post, ChannelEvent)>),
    /// The answer, for the caller only.
    Ephemeral(String),
    /// The command answered nothing to show.
    Nothing,
}

async fn team_admin(store: &Store, caller: &AuthUser, team: TeamId) -> Result<()> {
    let (_, role) = member_team(store, caller, team).await?;
    if role == Role::Admin || caller.is_system_admin() {
        Ok(())
    } else {
        Err(Error::forbidden("only team admins manage slash commands"))
    }
}

/// Registers a command (team admins). The trigger is unique in the team.
pub async fn create(
    store: &Store,
    guard: &Guard,
    caller: &AuthUser,
    enabled: bool,
    spec: CommandSpec<'_>,
) -> Result<Command> {
    if !enabled {
        return Err(turned_off());
    }
    team_admin(store, caller, spec.team_id).await?;
    let trigger = spec.trigger.trim().trim_start_matches('/').to_ascii_lowercase();
    if trigger.is_empty()
        || trigger.len() > 64
        || !trigger.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(Error::validation("trigger: 1-64 characters of a-z, 0-9, '-', '_', '.'"));
    }
    let url = Guard::parse_url(spec.url, "url").map_err(|r| Error::validation(r.0))?;
    guard.check_literal(&url).map_err(|r| Error::validation(format!("url: {r}")))?;
    let method = match spec.method.unwrap_or("POST").to_ascii_uppercase().as_str() {
        "POST" => "POST",
        "GET" => "GET",
        _ => return Err(Error::validation("method: POST or GET")),
    };
    if spec.display_name.chars().count() > 64 || spec.description.chars().count() > 128 {
        return Err(Error::validation("display_name: at most 64 characters; description: at most 128"));
    }
    if spec.auto_complete_hint.chars().count() > 256 {
        return Err(Error::validation("auto_complete_hint: at most 256 characters"));
    }
    if store.team_commands(spec.team_id).await?.len() >= MAX_COMMANDS_PER_TEAM {
        return Err(Error::conflict(format!("a team has at most {MAX_COMMANDS_PER_TEAM} slash commands")));
    }
    let token = super::outgoing::new_token();
    let command = store
        .create_command(NewCommand {
            team_id: spec.team_id,
            creator_id: caller.id(),
            trigger: &trigger,
            url: url.as_str(),
            method,
            token: &token,
            display_name: spec.display_name,
            description: spec.description,
            auto_complete: spec.auto_complete,
            auto_complete_hint: spec.auto_complete_hint,
        })
        .await?;
    tracing::info!(audit = "slash_command.create", command_id = %command.id, team_id = %command.team_id, trigger = %command.trigger, by = %caller.id(), "slash command created");
    Ok(command)
}

/// The team's commands: every member sees them (to type them), only team admins their tokens.
pub async fn list(store: &Store, caller: &AuthUser, team: TeamId) -> Result<Vec<Command>> {
    let (_, role) = member_team(store, caller, team).await?;
    let admin = role == Role::Admin || caller.is_system_admin();
    let mut commands = store.team_commands(team).await?;
    if !admin {
        commands.iter_mut().for_each(|c| c.token.clear());
    }
    Ok(commands)
}

/// A command the caller manages (team admins); others get 404.
pub async fn manageable(store: &Store, caller: &AuthUser, id: CommandId) -> Result<Command> {
    let command = store.command(id).await?.ok_or_else(|| Error::not_found("command"))?;
    let admin =
        caller.is_system_admin() || matches!(store.team_role(command.team_id, caller.id()).await?, Some(Role::Admin));
    if admin { Ok(command) } else { Err(Error::not_found("command")) }
}

pub async fn revoke(store: &Store, caller: &AuthUser, id: CommandId) -> Result<()> {
    let command = manageable(store, caller, id).await?;
    if !store.revoke_command(command.id).await? {
        return Err(Error::not_found("command"));
    }
    tracing::info!(audit = "slash_command.revoke", command_id = %command.id, team_id = %command.team_id, by = %caller.id(), "slash command revoked");
    Ok(())
}

fn turned_off() -> Error {
    Error::forbidden("slash commands are turned off on this site (enable_commands)")
}

/// Whether a message is a command line: `/word…`, but not `//…` (an escaped slash) or `/` alone.
pub fn is_command_line(message: &str) -> bool {
    let t = message.trim_start();
    t.starts_with('/') && !t.starts_with("//") && t.len() > 1 && !t[1..].starts_with(char::is_whitespace)
}

/// Runs the command `line` (`/trigger args`) typed by `caller` in `channel`.
/// `enabled` is the site's `enable_commands`.
pub async fn run(
    store: &Store,
    webhooks: &Webhooks,
    caller: &AuthUser,
    enabled: bool,
    channel: ChannelId,
    line: &str,
) -> Result<Ran> {
    if !enabled {
        return Err(turned_off());
    }
    let access = member_channel(store, caller, channel).await?.writable()?;
    let team_id = access.channel.team_id.ok_or_else(|| Error::validation("slash commands run in a team's channels"))?;
    let line = line.trim();
    let (word, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let trigger = word.trim_start_matches('/').to_ascii_lowercase();
    let command = store
        .command_by_trigger(team_id, &trigger)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, format!("command /{trigger} not found in this team")))?;
    let team = store.team(team_id).await?.ok_or_else(|| Error::not_found("team"))?;
    let body = payload::encode(
        &CommandPayload {
            token: &command.token,
            team_id: team.id.to_string(),
            team_domain: &team.name,
            channel_id: channel.to_string(),
            channel_name: &access.channel.name,
            user_id: caller.id().to_string(),
            user_name: &caller.user.username,
            command: format!("/{trigger}"),
            text: args.trim(),
            response_url: String::new(),
            trigger_id: uuid::Uuid::new_v4().simple().to_string(),
        },
        payload::FORM,
    );
    let timeout = webhooks.settings.timeout.min(COMMAND_TIMEOUT);
    let (result, seconds) = webhooks
        .call(Call {
            url: &command.url,
            get: command.method == "GET",
            content_type: payload::FORM,
            body: &body,
            headers: vec![
                ("Authorization", format!("Token {}", command.token)),
                (SIGNATURE_HEADER, payload::sign(&command.token, &body)),
                ("Idempotency-Key", uuid::Uuid::new_v4().to_string()),
            ],
            timeout,
        })
        .await;
    tracing::info!(audit = "slash_command.use", command_id = %command.id, trigger = %trigger, channel_id = %channel, by = %caller.id(), "slash command run");
    let metrics = &webhooks.metrics;
    let answer = match result {
        Ok(a) if (200..300).contains(&a.status) => {
            metrics.record_webhook("success", seconds);
            a
        }
        Ok(a) => {
            metrics.record_webhook("failed", seconds);
            return Err(Error::unavailable(format!("command /{trigger}: its server answered HTTP {}", a.status)));
        }
        Err(CallError::Refused(r)) => {
            metrics.record_webhook("refused", None);
            return Err(Error::forbidden(format!("command /{trigger}: {r}")));
        }
        Err(CallError::BreakerOpen) => {
            metrics.record_webhook("breaker_open", None);
            return Err(Error::unavailable(format!("command /{trigger}: its server keeps failing; try again shortly")));
        }
        Err(CallError::Failed(e)) => {
            metrics.record_webhook("failed", seconds);
            return Err(Error::unavailable(format!("command /{trigger}: its server did not answer ({e})")));
        }
    };
    let Some(response) = Response::read(&answer.body, true) else { return Ok(Ran::Nothing) };
    if response.response_type.as_deref() == Some("in_channel") {
        return match super::outgoing::post_reply(store, channel, caller.id(), &response.text).await? {
            Some(posted) => Ok(Ran::Posted(Box::new(posted))),
            None => Ok(Ran::Ephemeral(response.text)),
        };
    }
    Ok(Ran::Ephemeral(response.text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_start_with_one_slash_and_a_word() {
        for yes in ["/deploy", "/deploy main", "  /x"] {
            assert!(is_command_line(yes), "{yes}");
        }
        for no in ["deploy", "//not a command", "/", "/ spaced", "a /b"] {
            assert!(!is_command_line(no), "{no}");
        }
    }
}
