//! Posts: writing, editing, deleting, pinning and reacting, with the rules every face applies, once.

use rustchat_actors::ports::Connections;

use crate::access::{ChannelAccess, member_channel, readable_channel};
use crate::auth::AuthUser;
use crate::domain::hooks::PostProps;
use crate::domain::{ChannelId, EmojiName, FileId, Mentions, MessageBody, PostId, SessionId, UserId};
use crate::error::{Error, ErrorCode, Result};
use crate::store::change::ChannelEvent;
use crate::store::models::{Post, Reaction};
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
    // The text is read once: its checks and its mentions serve both paths.
    let draft = Draft::parse(message);
    if root.is_none()
        && let Ok(d) = &draft
        && let Some(posted) = store.create_plain_post_as(session, author, channel, &d.body, &d.mentions).await?
    {
        return Ok(posted);
    }
    let caller = AuthUser::of_session(store, session, author).await?;
    post_message(store, presence, &caller, channel, draft, root, &[], None).await
}

/// A message's text, checked, with the mentions it makes. Parsed before the rules run, but a bad
/// text is reported only after them, as every face has always answered (a non-member learns nothing
/// about the text's faults).
struct Draft {
    body: MessageBody,
    mentions: Mentions,
}

impl Draft {
    fn parse(message: &str) -> Result<Draft> {
        Self::of(MessageBody::parse(message)?)
    }

    /// A draft carrying files (or a webhook's attachments): its text may be empty.
    fn with_files(message: &str) -> Result<Draft> {
        Self::of(MessageBody::parse_caption(message)?)
    }

    fn of(body: MessageBody) -> Result<Draft> {
        let mentions = Mentions::parse(body.as_str());
        Ok(Draft { body, mentions })
    }
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
    post_message(store, presence, &caller, channel, Draft::parse(message), root, &[], None).await
}

/// Posts a message carrying uploaded files (at most `per_post`, each the author's upload to this
/// channel that no post has taken; checked again in the post's transaction, which takes them).
#[allow(clippy::too_many_arguments)]
pub async fn post_with_files(
    store: &Store,
    presence: &dyn Connections,
    session: SessionId,
    author: UserId,
    channel: ChannelId,
    message: &str,
    root: Option<PostId>,
    files: &[FileId],
    per_post: usize,
) -> Result<(Post, ChannelEvent)> {
    let caller = AuthUser::of_session(store, session, author).await?;
    if files.len() > per_post {
        return Err(Error::validation(format!("file_ids: at most {per_post} files per post, got {}", files.len())));
    }
    let mut unique = files.to_vec();
    unique.sort();
    unique.dedup();
    if unique.len() != files.len() {
        return Err(Error::validation("file_ids: a file is listed twice"));
    }
    post_message(store, presence, &caller, channel, Draft::with_files(message), root, files, None).await
}

/// Posts what an incoming webhook received, as the hook's creator (`app::hooks` checked the hook and
/// the payload): the same rules as any post of theirs, and `props` (attachments, overrides) kept with
/// it. The text may be empty when the post carries attachments.
pub async fn post_from_hook(
    store: &Store,
    presence: &dyn Connections,
    creator: &AuthUser,
    channel: ChannelId,
    text: &str,
    props: &PostProps,
) -> Result<(Post, ChannelEvent)> {
    let draft = if props.attachments.is_empty() { Draft::parse(text) } else { Draft::with_files(text) };
    post_message(store, presence, creator, channel, draft, None, &[], Some(props)).await
}

/// Posts `draft` as `caller`, step by step: membership, archive and size checks, then one transaction.
#[allow(clippy::too_many_arguments)]
async fn post_message(
    store: &Store,
    presence: &dyn Connections,
    caller: &AuthUser,
    channel: ChannelId,
    draft: Result<Draft>,
    root: Option<PostId>,
    files: &[FileId],
    props: Option<&PostProps>,
) -> Result<(Post, ChannelEvent)> {
    let access = member_channel(store, caller, channel).await?.writable()?;
    let Draft { body, mentions } = draft?;
    // `@here` mentions the members online right now, anywhere in the cluster.
    let mut online = Vec::new();
    if mentions.here {
        let members: Vec<uuid::Uuid> = store.channel_member_ids(channel).await?.into_iter().map(|u| u.0).collect();
        match presence.online(members).await {
            Ok(ids) => online = ids.into_iter().map(UserId).collect(),
            Err(e) => tracing::warn!(error = %e, "cannot tell who is online; @here counts no one"),
        }
    }
    // A post an incoming webhook made (it has props) triggers no outgoing webhook: two integrations
    // must not be able to feed each other.
    let triggers = props.is_none();
    store
        .create_post_from(
            NewPost {
                channel: access.channel.id,
                kind: access.channel.kind,
                author: caller.id(),
                from_bot: caller.user.is_bot,
                message: &body,
                mentions: &mentions,
                root,
                online: &online,
                files,
                props,
            },
            triggers,
        )
        .await
}

/// A post the caller may read, with the channel access that allows it. A post in a channel the
/// caller cannot see does not exist for them.
pub async fn readable_post(store: &Store, caller: &AuthUser, id: PostId) -> Result<(Post, ChannelAccess)> {
    let post = store.post(id).await?.ok_or_else(|| Error::not_found("post"))?;
    let access = readable_channel(store, caller, post.channel_id).await.map_err(|e| match e.code {
        ErrorCode::NotFound => Error::not_found("post"),
        _ => e,
    })?;
    Ok((post, access))
}

/// A post the caller may act on: a member of its (unarchived) channel, and the post not deleted.
async fn writable_post(store: &Store, caller: &AuthUser, id: PostId) -> Result<(Post, ChannelAccess)> {
    let (post, _) = readable_post(store, caller, id).await?;
    if post.deleted_at.is_some() {
        return Err(Error::not_found("post"));
    }
    let access = member_channel(store, caller, post.channel_id).await?.writable()?;
    Ok((post, access))
}

/// Replaces the text of the caller's own post.
pub async fn edit(store: &Store, caller: &AuthUser, id: PostId, message: &str) -> Result<(Post, ChannelEvent)> {
    let (post, _) = writable_post(store, caller, id).await?;
    if post.user_id != caller.id() {
        return Err(Error::forbidden("only the author can edit a post"));
    }
    let message = MessageBody::parse(message)?;
    store.edit_post(post.id, &message).await
}

/// Deletes a post: the author's own, or any as a channel, team or system admin.
pub async fn delete(store: &Store, caller: &AuthUser, id: PostId) -> Result<ChannelEvent> {
    let (post, access) = writable_post(store, caller, id).await?;
    if post.user_id != caller.id() && !access.can_manage(caller) {
        return Err(Error::forbidden("only the author or an admin can delete a post"));
    }
    Ok(store.delete_post(post.id).await?.1)
}

/// Pins or unpins a post (channel members).
pub async fn pin(store: &Store, caller: &AuthUser, id: PostId, pinned: bool) -> Result<(Post, ChannelEvent)> {
    let (post, _) = writable_post(store, caller, id).await?;
    store.pin_post(post.id, pinned).await
}

/// Adds the caller's reaction; `None` when they had already reacted so.
pub async fn react(
    store: &Store,
    caller: &AuthUser,
    id: PostId,
    emoji: &EmojiName,
) -> Result<(Post, Option<(Reaction, ChannelEvent)>)> {
    let (post, _) = writable_post(store, caller, id).await?;
    let added = store.add_reaction(&post, caller.id(), emoji).await?;
    Ok((post, added))
}

/// Removes the caller's reaction.
pub async fn unreact(store: &Store, caller: &AuthUser, id: PostId, emoji: &EmojiName) -> Result<ChannelEvent> {
    let (post, _) = writable_post(store, caller, id).await?;
    store.remove_reaction(&post, caller.id(), emoji).await?.ok_or_else(|| Error::not_found("reaction"))
}
