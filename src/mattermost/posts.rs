//! Posts: create, read, edit (`PUT` and `patch`), delete, threads, a channel's posts as a `PostList`
//! (by page, `since`, `before`/`after`), reactions and search.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::channels::channel_param;
use super::error::{MmError, MmResult};
use super::input::{Seg, Seg3, created, id, json, ok, query, status_ok};
use super::models;
use super::users::only_me;
use crate::access::readable_channel;
use crate::app;
use crate::domain::{EmojiName, MAX_PAGE, PostId, Timestamp};
use crate::state::AppState;
use crate::store::models::Post;
use crate::store::{PostCursor, SearchQuery};

fn post_param(text: &str) -> MmResult<PostId> {
    Ok(PostId(id(text, "post_id")?))
}

#[derive(Deserialize)]
struct CreateBody {
    channel_id: String,
    message: String,
    #[serde(default)]
    root_id: String,
    #[serde(default)]
    file_ids: Vec<String>,
    #[serde(default)]
    pending_post_id: String,
}

pub async fn create(state: web::Data<AppState>, caller: Caller, body: web::Payload) -> MmResult<HttpResponse> {
    let body: CreateBody = json(body).await?;
    if !body.file_ids.is_empty() {
        return Err(MmError::not_implemented());
    }
    let channel = channel_param(&body.channel_id)?;
    let root = if body.root_id.is_empty() { None } else { Some(post_param(&body.root_id)?) };
    let presence = state.realtime.slots.as_ref();
    let (post, event) =
        app::posts::post_as(&state.store, presence, caller.session, caller.id(), channel, &body.message, root).await?;
    state.metrics.posts_created.add(1, &[]);
    state.realtime.publish_event(&event);
    let mut out = models::post(&post);
    out["pending_post_id"] = Value::String(body.pending_post_id.chars().take(64).collect());
    Ok(created(out))
}

pub async fn get(state: web::Data<AppState>, caller: Caller, path: Seg) -> MmResult<HttpResponse> {
    let (post, _) = app::posts::readable_post(&state.store, &caller, post_param(&path)?).await?;
    Ok(ok(models::post(&post)))
}

#[derive(Deserialize)]
struct EditBody {
    message: Option<String>,
}

async fn edit(state: &AppState, caller: &Caller, post: PostId, message: Option<String>) -> MmResult<HttpResponse> {
    let post = match message {
        Some(message) => {
            let (post, event) = app::posts::edit(&state.store, caller, post, &message).await?;
            state.realtime.publish_event(&event);
            post
        }
        None => app::posts::readable_post(&state.store, caller, post).await?.0,
    };
    Ok(ok(models::post(&post)))
}

/// `PUT /posts/{id}`: the message is required.
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: Seg,
    body: web::Payload,
) -> MmResult<HttpResponse> {
    let body: EditBody = json(body).await?;
    let message = body.message.ok_or_else(|| MmError::bad_request("message is required"))?;
    edit(&state, &caller, post_param(&path)?, Some(message)).await
}

/// `PUT /posts/{id}/patch`: only what is given changes.
pub async fn patch(
    state: web::Data<AppState>,
    caller: Caller,
    path: Seg,
    body: web::Payload,
) -> MmResult<HttpResponse> {
    let body: EditBody = json(body).await?;
    edit(&state, &caller, post_param(&path)?, body.message).await
}

pub async fn delete(state: web::Data<AppState>, caller: Caller, path: Seg) -> MmResult<HttpResponse> {
    let event = app::posts::delete(&state.store, &caller, post_param(&path)?).await?;
    state.realtime.publish_event(&event);
    Ok(status_ok())
}

pub async fn thread(state: web::Data<AppState>, caller: Caller, path: Seg) -> MmResult<HttpResponse> {
    let (post, _) = app::posts::readable_post(&state.store, &caller, post_param(&path)?).await?;
    let mut posts = state.store.thread(post.root_id.unwrap_or(post.id)).await?;
    posts.reverse();
    Ok(ok(models::post_list(&posts, "", "")))
}

#[derive(Deserialize)]
struct PostsQuery {
    #[serde(default)]
    page: u32,
    #[serde(default = "default_per_page")]
    per_page: u32,
    /// Epoch milliseconds: every post created, edited or deleted after it.
    since: Option<i64>,
    before: Option<String>,
    after: Option<String>,
}

fn default_per_page() -> u32 {
    60
}

/// `GET /channels/{id}/posts`: a `PostList`, newest first.
pub async fn channel_posts(
    state: web::Data<AppState>,
    caller: Caller,
    path: Seg,
    req: HttpRequest,
) -> MmResult<HttpResponse> {
    let q: PostsQuery = query(&req)?;
    let access = readable_channel(&state.store, &caller, channel_param(&path)?).await?;
    let channel = access.channel.id;
    let per = q.per_page.clamp(1, MAX_PAGE);
    if let Some(since) = q.since {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(since) * 1_000_000)
            .map_err(|_| MmError::bad_request("since is not a time in epoch milliseconds"))?;
        let posts = state.store.channel_posts_since(channel, Timestamp::from(at)).await?;
        return Ok(ok(models::post_list(&posts, "", "")));
    }
    let skip = q.page.checked_mul(per).filter(|s| s.saturating_add(per) <= MAX_PAGE);
    let cursor = match (&q.before, &q.after) {
        (Some(_), Some(_)) => return Err(MmError::bad_request("give before or after, not both")),
        (Some(b), None) if !b.is_empty() => Some(PostCursor::Before(post_param(b)?)),
        (None, Some(a)) if !a.is_empty() => Some(PostCursor::After(post_param(a)?)),
        _ => None,
    };
    let (posts, prev, next) = match cursor {
        Some(cursor) => {
            let skip =
                skip.ok_or_else(|| MmError::bad_request("with before or after, page * per_page must stay within 200"))?;
            let after = matches!(cursor, PostCursor::After(_));
            let (all, more) = state.store.channel_posts(channel, cursor, skip + per).await?;
            let posts: Vec<Post> = all.into_iter().skip(skip as usize).collect();
            let edge = if after { posts.first() } else { posts.last() };
            let more = edge.filter(|_| more).map(|p| models::id(p.id.0)).unwrap_or_default();
            if after { (posts, String::new(), more) } else { (posts, more, String::new()) }
        }
        None => {
            let offset = q
                .page
                .checked_mul(per)
                .filter(|o| *o <= 100_000)
                .ok_or_else(|| MmError::bad_request("page is too large"))?;
            let mut posts = state.store.channel_posts_at(channel, offset, per + 1).await?;
            let prev = (posts.len() > per as usize).then(|| posts.pop()).flatten();
            let prev = posts.last().filter(|_| prev.is_some()).map(|p| models::id(p.id.0)).unwrap_or_default();
            let next = match offset {
                0 => String::new(),
                _ => posts.first().map(|p| models::id(p.id.0)).unwrap_or_default(),
            };
            (posts, prev, next)
        }
    };
    Ok(ok(models::post_list(&posts, &next, &prev)))
}

#[derive(Deserialize)]
struct ReactionBody {
    user_id: String,
    post_id: String,
    emoji_name: String,
}

pub async fn react(state: web::Data<AppState>, caller: Caller, body: web::Payload) -> MmResult<HttpResponse> {
    let body: ReactionBody = json(body).await?;
    only_me(&caller, &body.user_id)?;
    let emoji = EmojiName::parse(&body.emoji_name)?;
    let (post, added) = app::posts::react(&state.store, &caller, post_param(&body.post_id)?, &emoji).await?;
    let at = match added {
        Some((reaction, event)) => {
            state.realtime.publish_event(&event);
            models::millis(reaction.created_at)
        }
        None => 0,
    };
    Ok(ok(json!({
        "user_id": models::id(caller.id().0), "post_id": models::id(post.id.0), "emoji_name": emoji.as_str(),
        "create_at": at, "update_at": at, "delete_at": 0,
    })))
}

pub async fn unreact(state: web::Data<AppState>, caller: Caller, path: Seg3) -> MmResult<HttpResponse> {
    let (user, post, emoji) = path.into_inner();
    only_me(&caller, &user)?;
    let emoji = EmojiName::parse(&emoji)?;
    let event = app::posts::unreact(&state.store, &caller, post_param(&post)?, &emoji).await?;
    state.realtime.publish_event(&event);
    Ok(status_ok())
}

pub async fn reactions(state: web::Data<AppState>, caller: Caller, path: Seg) -> MmResult<HttpResponse> {
    let (post, _) = app::posts::readable_post(&state.store, &caller, post_param(&path)?).await?;
    Ok(ok(models::reactions(&post)))
}

#[derive(Deserialize)]
struct SearchBody {
    terms: String,
    #[serde(default)]
    per_page: Option<u32>,
}

/// `POST /teams/{id}/posts/search`: posts of the team's channels and the caller's conversations
/// containing every word of `terms`.
pub async fn search(
    state: web::Data<AppState>,
    caller: Caller,
    path: Seg,
    body: web::Payload,
) -> MmResult<HttpResponse> {
    let body: SearchBody = json(body).await?;
    let team = app::teams::visible(&state.store, &caller, crate::domain::TeamId(id(&path, "team_id")?)).await?;
    let limit = body.per_page.unwrap_or(60).clamp(1, MAX_PAGE);
    let q = SearchQuery { terms: body.terms, channel: None, author: None, before: None, after: None, limit };
    let found = app::search::posts(&state.store, &caller, &q).await?;
    let mut posts = Vec::new();
    for p in found {
        let channel = state.store.channel(p.channel_id).await?;
        if channel.is_some_and(|c| c.team_id.is_none_or(|t| t == team.id)) {
            posts.push(p);
        }
    }
    Ok(ok(models::post_list(&posts, "", "")))
}
