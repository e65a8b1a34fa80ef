//! Outgoing webhooks: who may create, see and revoke them; which posts trigger which hook (the
//! outbox worker asks, see [`enqueue_triggered`]); and the reply a hook's answer posts, which
//! triggers no hook itself (two integrations answering each other would loop).
//!
//! Audit lines carry `audit = "outgoing_webhook.<verb>"` and never the token.

use rand::Rng;

use crate::access::{member_channel, member_team};
use crate::auth::AuthUser;
use crate::domain::hooks::PostProps;
use crate::domain::{ChannelId, ChannelKind, Mentions, MessageBody, OutgoingHookId, PostId, Role, TeamId, UserId};
use crate::error::{Error, Result};
use crate::store::change::ChannelEvent;
use crate::store::deliveries::{DeliveryStatus, NewDelivery};
use crate::store::models::Post;
use crate::store::outgoing::{NewOutgoingHook, OutgoingHook};
use crate::store::{NewPost, Store};
use crate::webhooks::guard::Guard;
use crate::webhooks::payload::{self, HookPayload};

/// Most trigger words and callback URLs one hook has, and hooks one team has.
pub const MAX_TRIGGER_WORDS: usize = 10;
pub const MAX_CALLBACK_URLS: usize = 5;
pub const MAX_HOOKS_PER_TEAM: usize = 100;
/// Posts' triggers one pass of the outbox worker turns into calls.
pub const TRIGGER_BATCH: usize = 32;

/// An outgoing webhook as its creator describes it.
pub struct HookSpec<'a> {
    pub team_id: TeamId,
    pub channel_id: Option<ChannelId>,
    pub display_name: &'a str,
    pub description: &'a str,
    pub trigger_words: &'a [String],
    pub trigger_when: i16,
    pub callback_urls: &'a [String],
    pub content_type: Option<&'a str>,
}

/// A fresh secret: 26 random letters and digits, as Mattermost's tokens look.
pub fn new_token() -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(26).map(|c| char::from(c).to_ascii_lowercase()).collect()
}

/// Creates a hook: for one channel by its members, or for every public channel of the team (trigger
/// words required) by team admins. Callback URLs that name a forbidden address are refused now;
/// names are checked at every call.
pub async fn create(
    store: &Store,
    guard: &Guard,
    caller: &AuthUser,
    enabled: bool,
    spec: HookSpec<'_>,
) -> Result<OutgoingHook> {
    if !enabled {
        return Err(Error::forbidden("outgoing webhooks are turned off on this site (enable_outgoing_webhooks)"));
    }
    let (_, role) = member_team(store, caller, spec.team_id).await?;
    match spec.channel_id {
        Some(channel) => {
            let access = member_channel(store, caller, channel).await?.writable()?;
            if access.channel.team_id != Some(spec.team_id) {
                return Err(Error::validation("channel_id: not a channel of this team"));
            }
        }
        None => {
            if role != Role::Admin && !caller.is_system_admin() {
                return Err(Error::forbidden("only team admins create outgoing webhooks for the whole team"));
            }
            if spec.trigger_words.is_empty() {
                return Err(Error::validation("trigger_words: required when no channel_id is given"));
            }
        }
    }
    let display_name = spec.display_name.trim();
    if display_name.chars().count() > 64 {
        return Err(Error::validation("display_name: at most 64 characters"));
    }
    if spec.description.chars().count() > 500 {
        return Err(Error::validation("description: at most 500 characters"));
    }
    if spec.trigger_words.len() > MAX_TRIGGER_WORDS {
        return Err(Error::validation(format!("trigger_words: at most {MAX_TRIGGER_WORDS}")));
    }
    for w in spec.trigger_words {
        if w.is_empty() || w.chars().count() > 64 || w.chars().any(char::is_whitespace) {
            return Err(Error::validation("trigger_words: each 1-64 characters without spaces"));
        }
    }
    if !matches!(spec.trigger_when, 0 | 1) {
        return Err(Error::validation("trigger_when: 0 (first word) or 1 (starts with)"));
    }
    if spec.callback_urls.is_empty() || spec.callback_urls.len() > MAX_CALLBACK_URLS {
        return Err(Error::validation(format!("callback_urls: 1 to {MAX_CALLBACK_URLS} URLs")));
    }
    let mut urls = Vec::with_capacity(spec.callback_urls.len());
    for raw in spec.callback_urls {
        let url = Guard::parse_url(raw, "callback_urls").map_err(|r| Error::validation(r.0))?;
        guard.check_literal(&url).map_err(|r| Error::validation(format!("callback_urls: {r}")))?;
        urls.push(url.to_string());
    }
    let content_type = match spec.content_type.unwrap_or(payload::JSON) {
        payload::JSON => payload::JSON,
        payload::FORM => payload::FORM,
        _ => return Err(Error::validation("content_type: application/json or application/x-www-form-urlencoded")),
    };
    if store.team_outgoing_hooks(spec.team_id).await?.len() >= MAX_HOOKS_PER_TEAM {
        return Err(Error::conflict(format!("a team has at most {MAX_HOOKS_PER_TEAM} outgoing webhooks")));
    }
    let token = new_token();
    let hook = store
        .create_outgoing_hook(NewOutgoingHook {
            team_id: spec.team_id,
            channel_id: spec.channel_id,
            creator_id: caller.id(),
            display_name,
            description: spec.description,
            trigger_words: spec.trigger_words,
            trigger_when: spec.trigger_when,
            callback_urls: &urls,
            content_type,
            token: &token,
        })
        .await?;
    tracing::info!(audit = "outgoing_webhook.create", hook_id = %hook.id, team_id = %hook.team_id, channel_id = ?hook.channel_id, by = %caller.id(), "outgoing webhook created");
    Ok(hook)
}

/// A hook the caller may manage: its creator, team admins, system admins. Others get 404.
pub async fn manageable(store: &Store, caller: &AuthUser, id: OutgoingHookId) -> Result<OutgoingHook> {
    let hook = store.outgoing_hook(id).await?.ok_or_else(|| Error::not_found("outgoing webhook"))?;
    if hook.creator_id == caller.id() || caller.is_system_admin() {
        return Ok(hook);
    }
    match store.team_role(hook.team_id, caller.id()).await? {
        Some(Role::Admin) => Ok(hook),
        _ => Err(Error::not_found("outgoing webhook")),
    }
}

/// The team's hooks the caller may manage.
pub async fn list(store: &Store, caller: &AuthUser, team: TeamId) -> Result<Vec<OutgoingHook>> {
    let (_, role) = member_team(store, caller, team).await?;
    let all = role == Role::Admin || caller.is_system_admin();
    Ok(store.team_outgoing_hooks(team).await?.into_iter().filter(|h| all || h.creator_id == caller.id()).collect())
}

/// Revokes a hook; its calls not yet made are given up.
pub async fn revoke(store: &Store, caller: &AuthUser, id: OutgoingHookId) -> Result<()> {
    let hook = manageable(store, caller, id).await?;
    if !store.revoke_outgoing_hook(hook.id).await? {
        return Err(Error::not_found("outgoing webhook"));
    }
    tracing::info!(audit = "outgoing_webhook.revoke", hook_id = %hook.id, team_id = %hook.team_id, by = %caller.id(), "outgoing webhook revoked");
    Ok(())
}

/// The hook's newest calls and how they went.
pub async fn deliveries(
    store: &Store,
    caller: &AuthUser,
    id: OutgoingHookId,
    limit: u32,
) -> Result<Vec<DeliveryStatus>> {
    let hook = manageable(store, caller, id).await?;
    store.hook_deliveries(hook.id, limit).await
}

/// The trigger word `message` fires `hook` with: `Some("")` for a channel hook without words (every
/// message), `None` when it does not fire. Mattermost's `trigger_when`: 0 compares the first word,
/// 1 whether the message starts with the word.
pub fn trigger_word<'a>(hook: &'a OutgoingHook, message: &str) -> Option<&'a str> {
    if hook.trigger_words.is_empty() {
        return hook.channel_id.is_some().then_some("");
    }
    let first = message.split_whitespace().next().unwrap_or("");
    hook.trigger_words
        .iter()
        .find(|w| if hook.trigger_when == 1 { message.starts_with(w.as_str()) } else { first == w.as_str() })
        .map(String::as_str)
}

/// Turns committed posts' triggers into calls in the outbox (each trigger consumed in the same
/// transaction that enqueues its calls). Any node may run it; the calls' idempotency keys make a
/// race between two nodes enqueue each call once.
/// While the site has outgoing webhooks turned off, triggers are consumed and nothing is called.
pub async fn enqueue_triggered(store: &Store, enabled: bool) -> Result<usize> {
    let triggers = store.pending_triggers(TRIGGER_BATCH as u32).await?;
    let n = triggers.len();
    for (post_id, channel_id) in triggers {
        let deliveries = if enabled { deliveries_for(store, post_id, channel_id).await? } else { Vec::new() };
        store.enqueue_deliveries(post_id, &deliveries).await?;
    }
    Ok(n)
}

async fn deliveries_for(store: &Store, post_id: PostId, channel_id: ChannelId) -> Result<Vec<NewDelivery>> {
    let Some(post) = store.post(post_id).await? else { return Ok(Vec::new()) };
    if post.deleted_at.is_some() {
        return Ok(Vec::new());
    }
    let (Some(channel), Some(author)) = (store.channel(channel_id).await?, store.user(post.user_id).await?) else {
        return Ok(Vec::new());
    };
    let Some(team_id) = channel.team_id else { return Ok(Vec::new()) };
    let Some(team) = store.team(team_id).await? else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for hook in store.hooks_for_channel(channel_id).await? {
        let Some(word) = trigger_word(&hook, &post.message) else { continue };
        let body = payload::encode(
            &HookPayload {
                token: &hook.token,
                team_id: team.id.to_string(),
                team_domain: &team.name,
                channel_id: channel.id.to_string(),
                channel_name: &channel.name,
                timestamp: post.created_at.inner().unix_timestamp_nanos() as i64 / 1_000_000,
                user_id: author.id.to_string(),
                user_name: &author.username,
                post_id: post.id.to_string(),
                text: &post.message,
                trigger_word: word,
            },
            &hook.content_type,
        );
        let signature = payload::sign(&hook.token, &body);
        for (i, url) in hook.callback_urls.iter().enumerate() {
            out.push(NewDelivery {
                hook_id: Some(hook.id),
                url: url.clone(),
                content_type: hook.content_type.clone(),
                body: body.clone(),
                signature: signature.clone(),
                idempotency_key: format!("{}.{}.{i}", post.id, hook.id),
                reply_channel_id: Some(channel.id),
                reply_user_id: Some(hook.creator_id),
            });
        }
    }
    Ok(out)
}

/// Posts an integration's reply in `channel` as `author` (the hook's creator, or the command's
/// caller), if they can still post there. The post triggers no outgoing webhook. `None` when the
/// reply cannot be posted (the author left, the channel was archived, the text is not a message).
pub async fn post_reply(
    store: &Store,
    channel: ChannelId,
    author: UserId,
    text: &str,
) -> Result<Option<(Post, ChannelEvent)>> {
    let Ok(body) = MessageBody::parse(text) else { return Ok(None) };
    let Some(standing) = store.channel_standing(channel, author).await? else { return Ok(None) };
    if standing.channel_role.is_none() || standing.channel.archived_at.is_some() {
        return Ok(None);
    }
    let kind: ChannelKind = standing.channel.kind;
    // Integrations' replies notify nobody by mention: the text is someone else's.
    let mentions = Mentions::default();
    let from_bot = store.user(author).await?.is_some_and(|u| u.is_bot);
    // Marked as Mattermost marks an integration's reply.
    let props = PostProps { from_webhook: Some("true".into()), ..PostProps::default() };
    let new = NewPost {
        channel,
        kind,
        author,
        from_bot,
        message: &body,
        mentions: &mentions,
        root: None,
        online: &[],
        files: &[],
        props: Some(&props),
    };
    let posted = store.create_post_from(new, false).await?;
    Ok(Some(posted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    fn hook(words: &[&str], when: i16, channel: bool) -> OutgoingHook {
        OutgoingHook {
            id: OutgoingHookId::new(),
            team_id: TeamId::new(),
            channel_id: channel.then(ChannelId::new),
            creator_id: UserId::new(),
            display_name: String::new(),
            description: String::new(),
            trigger_words: words.iter().map(|w| w.to_string()).collect(),
            trigger_when: when,
            callback_urls: Vec::new(),
            content_type: payload::JSON.into(),
            token: "t".into(),
            created_at: Timestamp::now(),
        }
    }

    #[test]
    fn trigger_words_match_the_first_word_or_the_start() {
        let first = hook(&["deploy", "build"], 0, true);
        assert_eq!(trigger_word(&first, "deploy now"), Some("deploy"));
        assert_eq!(trigger_word(&first, "  build"), Some("build"));
        assert_eq!(trigger_word(&first, "deployment"), None);
        assert_eq!(trigger_word(&first, "please deploy"), None);
        let starts = hook(&["deploy"], 1, true);
        assert_eq!(trigger_word(&starts, "deployment started"), Some("deploy"));
        assert_eq!(trigger_word(&starts, "x deploy"), None);
        assert_eq!(trigger_word(&hook(&[], 0, true), "anything"), Some(""));
        assert_eq!(trigger_word(&hook(&[], 0, false), "anything"), None);
    }
}
