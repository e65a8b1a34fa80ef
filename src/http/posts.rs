//! Posts: create, page, read, edit, delete, threads, reactions, pins. The path of a message:
//! handler (token) → domain (`MessageBody`) → store (session, membership, post and event in one
//! statement; step by step for threads, mentions and refusals).

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::json::Json;
use super::params::{Path, Query};
use crate::access::readable_channel;
use crate::app;
use crate::auth::{AuthUser, request_login};
use crate::domain::{ChannelId, EmojiName, FileId, PostId, UserId};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::PostCursor;
use crate::store::models::{Post, Reaction};

#[derive(Deserialize, ToSchema)]
pub struct CreatePost {
    /// 1–16 000 characters, not only whitespace; may be empty when `file_ids` carries files.
    #[schema(max_length = 16000)]
    pub message: String,
    /// Reply in the thread of this post.
    pub root_id: Option<PostId>,
    /// Files to attach (`POST /api/v1/files` uploads of yours to this channel that no post has taken);
    /// at most `RUSTCHAT_FILES_PER_POST`.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub file_ids: Vec<FileId>,
}

#[derive(Deserialize, ToSchema)]
pub struct EditPost {
    #[schema(min_length = 1, max_length = 16000)]
    pub message: String,
}

#[derive(Deserialize, ToSchema)]
pub struct AddReaction {
    /// e.g. `thumbsup` or `+1` (surrounding colons are dropped).
    #[schema(pattern = "^:?[A-Za-z0-9_+-]{1,64}:?$")]
    pub emoji_name: String,
}

#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// Posts older than this post.
    pub before: Option<PostId>,
    /// Posts newer than this post.
    pub after: Option<PostId>,
    /// 1–200, default 60.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A created or changed post with the seq of the event that recorded it.
#[derive(Serialize, ToSchema)]
pub struct PostWithSeq {
    #[serde(flatten)]
    pub post: Post,
    pub seq: i64,
}

/// The answer when the caller had already reacted with that emoji: nothing changed.
#[derive(Serialize, ToSchema)]
pub struct ReactionKept {
    pub post_id: PostId,
    pub user_id: UserId,
    pub emoji_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct PostPage {
    /// Newest first.
    pub posts: Vec<Post>,
    /// More posts exist beyond this page in the direction asked.
    pub has_more: bool,
}

/// Post a message (channel members). A message that is a command line (`/name args`) is not posted:
/// it runs the team's slash command, answering 201 with the post when the command's answer is posted
/// in the channel, else 200 with the answer (ephemeral: for the caller only).
#[utoipa::path(tag = "posts", params(("channel_id" = ChannelId, Path, description = "The channel's id.")), request_body = CreatePost, responses((status = 201, body = PostWithSeq), (status = 200, body = super::commands::CommandAnswer), (status = 403), (status = 404), (status = 413)), security(("bearer" = [])))]
#[post("/channels/{channel_id}/posts")]
pub async fn create_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<ChannelId>,
    body: Json<CreatePost>,
) -> Result<HttpResponse> {
    let (session, author) = request_login(&state.store, &state.tokens, &req).await?;
    if app::commands::is_command_line(&body.message) && body.file_ids.is_empty() {
        let caller = AuthUser::of_session(&state.store, session, author).await?;
        let (answer, seq) = super::commands::run(&state, &caller, path.into_inner(), &body.message).await?;
        return Ok(match (answer.post, seq) {
            (Some(post), Some(seq)) => HttpResponse::Created().json(PostWithSeq { post, seq }),
            (post, _) => HttpResponse::Ok().json(super::commands::CommandAnswer { post, ..answer }),
        });
    }
    let presence = state.realtime.slots.as_ref();
    let (post, event) = if body.file_ids.is_empty() {
        crate::app::posts::post_as(
            &state.store,
            presence,
            session,
            author,
            path.into_inner(),
            &body.message,
            body.root_id,
        )
        .await?
    } else {
        crate::app::posts::post_with_files(
            &state.store,
            presence,
            session,
            author,
            path.into_inner(),
            &body.message,
            body.root_id,
            &body.file_ids,
            state.settings.files.per_post,
        )
        .await?
    };
    state.metrics.posts_created.add(1, &[]);
    state.realtime.publish_event(&event);
    Ok(HttpResponse::Created().json(PostWithSeq { post, seq: event.seq }))
}

/// A page of the channel's posts, newest first; page with `before` (older) or `after` (newer).
#[utoipa::path(tag = "posts", params(("channel_id" = ChannelId, Path, description = "The channel's id."), PageQuery), responses((status = 200, body = PostPage), (status = 404)), security(("bearer" = [])))]
#[get("/channels/{channel_id}/posts")]
pub async fn list_posts(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<ChannelId>,
    query: Query<PageQuery>,
) -> Result<HttpResponse> {
    let access = readable_channel(&state.store, &caller, path.into_inner()).await?;
    let limit = super::page_limit(query.limit, 60)?;
    let cursor = match (query.before, query.after) {
        (Some(_), Some(_)) => {
            return Err(Error::validation("give either before or after, not both"));
        }
        (Some(id), None) => PostCursor::Before(id),
        (None, Some(id)) => PostCursor::After(id),
        (None, None) => PostCursor::Latest,
    };
    let (posts, has_more) = state.store.channel_posts(access.channel.id, cursor, limit).await?;
    Ok(HttpResponse::Ok().json(PostPage { posts, has_more }))
}

/// The channel's pinned posts.
#[utoipa::path(tag = "posts", params(("channel_id" = ChannelId, Path, description = "The channel's id.")), responses((status = 200, body = Vec<Post>), (status = 404)), security(("bearer" = [])))]
#[get("/channels/{channel_id}/pinned")]
pub async fn list_pinned(state: web::Data<AppState>, caller: AuthUser, path: Path<ChannelId>) -> Result<HttpResponse> {
    let access = readable_channel(&state.store, &caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(state.store.pinned_posts(access.channel.id).await?))
}

/// One post.
#[utoipa::path(tag = "posts", params(("post_id" = PostId, Path, description = "The post's id.")), responses((status = 200, body = Post), (status = 404)), security(("bearer" = [])))]
#[get("/posts/{post_id}")]
pub async fn get_post(state: web::Data<AppState>, caller: AuthUser, path: Path<PostId>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(app::posts::readable_post(&state.store, &caller, path.into_inner()).await?.0))
}

/// Edit your own post.
#[utoipa::path(tag = "posts", params(("post_id" = PostId, Path, description = "The post's id.")), request_body = EditPost, responses((status = 200, body = PostWithSeq), (status = 403), (status = 404)), security(("bearer" = [])))]
#[patch("/posts/{post_id}")]
pub async fn edit_post(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<PostId>,
    body: Json<EditPost>,
) -> Result<HttpResponse> {
    let (post, event) = app::posts::edit(&state.store, &caller, path.into_inner(), &body.message).await?;
    state.realtime.publish_event(&event);
    Ok(HttpResponse::Ok().json(PostWithSeq { post, seq: event.seq }))
}

/// Delete a post: your own, or any as a channel/team/system admin.
#[utoipa::path(tag = "posts", params(("post_id" = PostId, Path, description = "The post's id.")), responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
#[delete("/posts/{post_id}")]
pub async fn delete_post(state: web::Data<AppState>, caller: AuthUser, path: Path<PostId>) -> Result<HttpResponse> {
    let post = path.into_inner();
    let event = app::posts::delete(&state.store, &caller, post).await?;
    state.realtime.publish_event(&event);
    // Its files go now, beside the answer (the sweep would within a round, should this fail).
    let (store, files) = (state.store.clone(), state.files.clone());
    tokio::spawn(async move {
        if let Err(e) = crate::files::sweeper::release_post(&store, &files, post).await {
            tracing::warn!(error = ?e, post = %post, "cannot remove a deleted post's files now; the sweep will");
        }
    });
    Ok(HttpResponse::NoContent().finish())
}

/// A thread: its root and replies, oldest first.
#[utoipa::path(tag = "posts", params(("post_id" = PostId, Path, description = "The post's id.")), responses((status = 200, body = Vec<Post>), (status = 404)), security(("bearer" = [])))]
#[get("/posts/{post_id}/thread")]
pub async fn get_thread(state: web::Data<AppState>, caller: AuthUser, path: Path<PostId>) -> Result<HttpResponse> {
    let (post, _) = app::posts::readable_post(&state.store, &caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(state.store.thread(post.root_id.unwrap_or(post.id)).await?))
}

/// React to a post with an emoji (once per user and emoji).
#[utoipa::path(tag = "posts", params(("post_id" = PostId, Path, description = "The post's id.")), request_body = AddReaction, responses((status = 201, body = Reaction), (status = 200, body = ReactionKept, description = "the caller had already reacted so"), (status = 404)), security(("bearer" = [])))]
#[post("/posts/{post_id}/reactions")]
pub async fn add_reaction(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<PostId>,
    body: Json<AddReaction>,
) -> Result<HttpResponse> {
    let emoji = EmojiName::parse(&body.emoji_name)?;
    let (post, added) = app::posts::react(&state.store, &caller, path.into_inner(), &emoji).await?;
    match added {
        Some((reaction, event)) => {
            state.realtime.publish_event(&event);
            Ok(HttpResponse::Created().json(reaction))
        }
        None => Ok(HttpResponse::Ok().json(ReactionKept {
            post_id: post.id,
            user_id: caller.id(),
            emoji_name: emoji.into_inner(),
        })),
    }
}

/// Remove your reaction.
#[utoipa::path(tag = "posts", params(("post_id" = PostId, Path, description = "The post's id."), ("emoji_name" = String, Path, description = "The emoji name, e.g. `thumbsup` or `+1`.")), responses((status = 204), (status = 404)), security(("bearer" = [])))]
#[delete("/posts/{post_id}/reactions/{emoji_name}")]
pub async fn remove_reaction(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: Path<(PostId, String)>,
) -> Result<HttpResponse> {
    let (post_id, emoji) = path.into_inner();
    let emoji = EmojiName::parse(&emoji)?;
    let event = app::posts::unreact(&state.store, &caller, post_id, &emoji).await?;
    state.realtime.publish_event(&event);
    Ok(HttpResponse::NoContent().finish())
}

/// Pin a post to its channel (channel members).
#[utoipa::path(tag = "posts", params(("post_id" = PostId, Path, description = "The post's id.")), responses((status = 200, body = PostWithSeq), (status = 404)), security(("bearer" = [])))]
#[post("/posts/{post_id}/pin")]
pub async fn pin_post(state: web::Data<AppState>, caller: AuthUser, path: Path<PostId>) -> Result<HttpResponse> {
    set_pinned(&state, &caller, path.into_inner(), true).await
}

/// Unpin a post.
#[utoipa::path(tag = "posts", params(("post_id" = PostId, Path, description = "The post's id.")), responses((status = 200, body = PostWithSeq), (status = 404)), security(("bearer" = [])))]
#[delete("/posts/{post_id}/pin")]
pub async fn unpin_post(state: web::Data<AppState>, caller: AuthUser, path: Path<PostId>) -> Result<HttpResponse> {
    set_pinned(&state, &caller, path.into_inner(), false).await
}

async fn set_pinned(state: &AppState, caller: &AuthUser, id: PostId, pinned: bool) -> Result<HttpResponse> {
    let (post, event) = app::posts::pin(&state.store, caller, id, pinned).await?;
    state.realtime.publish_event(&event);
    Ok(HttpResponse::Ok().json(PostWithSeq { post, seq: event.seq }))
}
