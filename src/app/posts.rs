//! Posting a message: the rules every face (REST, the WebSocket `post` action) applies, once.

use rustchat_actors::ports::Connections;

use crate::access::member_channel;
use crate::auth::AuthUser;
use crate::domain::{ChannelId, Mentions, MessageBody, PostId, SessionId, UserId};
use crate::error::Result;
use crate::store::models::{ChannelEvent, Post};
use crate::store::{NewPost, Store};

/// Posts `message` in the name of a login `session` (whose token was verified): shared by REST and the
/// WebSocket `post` action; returns the post and its `posted` event, for the caller to publish. Most
/// posts are plain text from a member, authenticated, authorized and written in one round trip;
/// anything else, and every refusal, goes step by step, which answers why.
pub async fn post_as(
    store: &Store,
    presence: &dyn Connections,
    session: SessionId,
    author: UserId,
    channel: ChannelId,
    message: &str,
    root: Option<PostId>,
) -> Result<(Post, ChannelEvent)> {
    if root.is_none()
        && let Ok(body) = MessageBody::parse(message)
        && let Some(posted) = store.create_plain_post_as(session, author, channel, &body).await?
    {
        return Ok(posted);
    }
    post_checked(store, presence, session, author, channel, message, root).await
}

/// The general path: every rule checked step by step, so a refusal says why. It must refuse exactly
/// what the one-statement path declines (`tests/api/post_rules.rs` holds them to that).
pub async fn post_checked(
    store: &Store,
    presence: &dyn Connections,
    session: SessionId,
    author: UserId,
    channel: ChannelId,
    message: &str,
    root: Option<PostId>,
) -> Result<(Post, ChannelEvent)> {
    let caller = AuthUser::of_session(store, session, author).await?;
    post_message(store, presence, &caller, channel, message, root).await
}

/// Posts `message` as `caller`, step by step: membership, archive and size checks, then one transaction.
async fn post_message(
    store: &Store,
    presence: &dyn Connections,
    caller: &AuthUser,
    channel: ChannelId,
    message: &str,
    root: Option<PostId>,
) -> Result<(Post, ChannelEvent)> {
    let access = member_channel(store, caller, channel).await?.writable()?;
    let message = MessageBody::parse(message)?;
    // `@here` mentions the members online right now, anywhere in the cluster.
    let mut online = Vec::new();
    if Mentions::parse(message.as_str()).here {
        let members: Vec<uuid::Uuid> = store.channel_member_ids(channel).await?.into_iter().map(|u| u.0).collect();
        match presence.online(members).await {
            Ok(ids) => online = ids.into_iter().map(UserId).collect(),
            Err(e) => tracing::warn!(error = %e, "cannot tell who is online; @here counts no one"),
        }
    }
    store
        .create_post(NewPost {
            channel: access.channel.id,
            kind: access.channel.kind,
            author: caller.id(),
            message: &message,
            root,
            online: &online,
        })
        .await
}
