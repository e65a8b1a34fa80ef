//! Incoming webhooks: who may create, list and revoke them, and what a post through one may do.
//!
//! A hook has a public id (lists, revocation, logs) and a secret (its URL, `/hooks/{secret}`, shown
//! once at creation; the store keeps only its hash). Whoever holds the URL posts as the hook's
//! creator, with that creator's rights at the time of the post: a creator who left the channel or was
//! deactivated silences the hook. Audit lines name the hook by its public id, never its secret.

use rustchat_actors::ports::Connections;
use serde::Serialize;
use utoipa::ToSchema;

use super::channels;
use super::posts;
use crate::access::member_channel;
use crate::auth::AuthUser;
use crate::domain::hooks::{HookPayload, HookSecret, PostProps, split_text};
use crate::domain::{ChannelId, HookId, MAX_MESSAGE_CHARS, MessageBody, SessionId, SiteConfig, Text};
use crate::error::{Error, ErrorCode, Result};
use crate::ratelimit::RateLimits;
use crate::store::change::ChannelEvent;
use crate::store::{IncomingHook, NewHook, Store};

/// Longest display name and description of a hook, in characters.
pub const MAX_HOOK_NAME: usize = 64;
pub const MAX_HOOK_DESCRIPTION: usize = 500;

/// What a creator asks for.
pub struct HookRequest<'a> {
    pub display_name: &'a str,
    pub description: &'a str,
    pub channel_locked: bool,
}

/// A hook just created, with its URL path: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedHook {
    #[serde(flatten)]
    pub hook: IncomingHook,
    /// `/hooks/{secret}`, relative to the site's URL. Keep it secret: it is the credential. It cannot be
    /// shown again; a lost URL means revoking the hook and creating another.
    pub url: String,
}

fn enabled(site: &SiteConfig) -> Result<()> {
    if site.enable_incoming_webhooks {
        Ok(())
    } else {
        Err(Error::forbidden("incoming webhooks are disabled on this site"))
    }
}

/// Creates a hook for `channel`: its members may, or only its admins where the site says so.
pub async fn create(
    store: &Store,
    site: &SiteConfig,
    caller: &AuthUser,
    channel: ChannelId,
    req: HookRequest<'_>,
) -> Result<CreatedHook> {
    enabled(site)?;
    let access = member_channel(store, caller, channel).await?.writable()?;
    if site.incoming_webhooks_admins_only && !access.can_manage(caller) {
        return Err(Error::forbidden("only admins may create incoming webhooks on this site"));
    }
    let display_name = Text::parse(req.display_name, "display_name", MAX_HOOK_NAME)?;
    let description = Text::parse(req.description, "description", MAX_HOOK_DESCRIPTION)?;
    let secret = HookSecret::generate();
    let hook = store
        .create_incoming_hook(NewHook {
            channel,
            creator: caller.id(),
            secret_hash: &secret.hash(),
            display_name: display_name.as_str(),
            description: description.as_str(),
            channel_locked: req.channel_locked,
        })
        .await?;
    tracing::info!(hook_id = %hook.id, channel_id = %channel, by = %caller.id(), locked = hook.channel_locked, "incoming webhook created");
    Ok(CreatedHook { url: format!("/hooks/{}", secret.expose()), hook })
}

/// The caller's hooks; every hook for a system admin. `channel` narrows the list to one channel.
pub async fn list(store: &Store, caller: &AuthUser, channel: Option<ChannelId>) -> Result<Vec<IncomingHook>> {
    let creator = if caller.is_system_admin() { None } else { Some(caller.id()) };
    store.incoming_hooks(creator, channel).await
}

/// Revokes a hook at once (its URL answers 404 from then on): its creator, an admin of its channel or
/// team, or a system admin may. Anyone else learns nothing of it (404).
pub async fn revoke(store: &Store, caller: &AuthUser, id: HookId) -> Result<()> {
    let hook = store.incoming_hook(id).await?.ok_or_else(|| Error::not_found("hook"))?;
    if hook.creator_id != caller.id() && !caller.is_system_admin() {
        let manages = match crate::access::readable_channel(store, caller, hook.channel_id).await {
            Ok(access) => access.can_manage(caller),
            Err(_) => false,
        };
        if !manages {
            return Err(Error::not_found("hook"));
        }
    }
    if !store.delete_incoming_hook(id).await? {
        return Err(Error::not_found("hook"));
    }
    tracing::info!(hook_id = %id, channel_id = %hook.channel_id, by = %caller.id(), "incoming webhook revoked");
    Ok(())
}

/// What a post through a hook produced: its events, in order, for the caller to publish (a direct
/// channel opened on the way comes first).
pub struct Delivered {
    pub events: Vec<ChannelEvent>,
}

/// Posts a payload through the hook whose secret is `secret`: unknown or revoked → 404, over the
/// hook's rate → 429, a bad payload → 400, then the creator's rights decide. Text longer than a post
/// holds is split over several posts (at line breaks where it can), the attachments on the last.
pub async fn deliver(
    store: &Store,
    presence: &dyn Connections,
    site: &SiteConfig,
    limits: &RateLimits,
    secret: &str,
    form: bool,
    body: &[u8],
) -> Result<Delivered> {
    let unknown = || Error::not_found("hook");
    let secret = HookSecret::parse(secret).ok_or_else(unknown)?;
    let hook = store.use_incoming_hook(&secret.hash()).await?.ok_or_else(unknown)?;
    enabled(site)?;
    if let Err(wait) = limits.check_hook(&hook.id.to_string(), site.incoming_webhook_posts_per_minute).await {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::warn!(hook_id = %hook.id, retry_after = secs, "incoming webhook over its rate limit");
        let mut e = Error::new(ErrorCode::RateLimited, format!("too many posts through this hook: retry in {secs} s"));
        e.retry_after = Some(secs.max(1));
        return Err(e);
    }
    let payload = HookPayload::from_body(form, body)?;
    let user = store.user(hook.creator_id).await?.ok_or_else(unknown)?;
    if !user.is_active {
        return Err(Error::forbidden("the hook's creator is deactivated"));
    }
    // The hook acts with its creator's rights, not through a login of theirs: no session stands behind it.
    let creator = AuthUser { user, session: SessionId(uuid::Uuid::nil()) };

    let mut events = Vec::new();
    let target = match payload.channel.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => hook.channel_id,
        Some(name) => resolve_channel(store, &creator, &hook, name, &mut events).await?,
    };

    let props = PostProps {
        from_webhook: Some("true".into()),
        override_username: payload.username.clone().filter(|_| site.enable_post_username_override),
        override_icon_url: payload.icon_url.clone().filter(|_| site.enable_post_icon_override),
        attachments: Vec::new(),
    };
    let pieces = split_text(&payload.text, MAX_MESSAGE_CHARS);
    let last = pieces.len() - 1;
    // Every piece is checked before the first is posted, so a bad text posts nothing rather than half.
    for (i, piece) in pieces.iter().enumerate() {
        if i == last && !payload.attachments.is_empty() {
            MessageBody::parse_caption(piece)?;
        } else {
            MessageBody::parse(piece)?;
        }
    }
    for (i, piece) in pieces.into_iter().enumerate() {
        let props = if i == last {
            PostProps { attachments: payload.attachments.clone(), ..props.clone() }
        } else {
            props.clone()
        };
        let (_, event) = posts::post_from_hook(store, presence, &creator, target, piece, &props).await?;
        events.push(event);
    }
    tracing::info!(hook_id = %hook.id, channel_id = %target, by = %hook.creator_id, posts = last + 1, "incoming webhook used");
    Ok(Delivered { events })
}

/// The channel a payload's `channel` names: `@user` is the creator's direct channel with that user
/// (opened if need be, its founding events added to `events`); otherwise a channel of the hook's
/// team by URL name, with or without `#`.
async fn resolve_channel(
    store: &Store,
    creator: &AuthUser,
    hook: &IncomingHook,
    name: &str,
    events: &mut Vec<ChannelEvent>,
) -> Result<ChannelId> {
    let home = store.channel(hook.channel_id).await?.ok_or_else(|| Error::not_found("hook"))?;
    let bare = name.strip_prefix('#').unwrap_or(name);
    if bare == home.name {
        return Ok(home.id);
    }
    if hook.channel_locked {
        return Err(Error::forbidden("this hook is locked to its channel"));
    }
    if let Some(username) = name.strip_prefix('@') {
        let other = store
            .user_id_by_username(username)
            .await?
            .ok_or_else(|| Error::validation(format!("channel: no user named '{username}'")))?;
        let (channel, founding) = channels::open_direct(store, creator, other).await?;
        events.extend(founding);
        return Ok(channel.id);
    }
    let team = home.team_id.ok_or_else(|| Error::validation("channel: this hook's channel belongs to no team"))?;
    // Whether the creator may post there is the post's own rule (members only, not archived).
    store
        .channel_id_by_name(team, bare)
        .await?
        .ok_or_else(|| Error::validation(format!("channel: no channel named '{bare}' in the hook's team")))
}
