//! Full-text search over the posts the caller can see (channels they are a member of; the rule is
//! `app::search`'s).

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::params::Query;
use crate::auth::AuthUser;
use crate::domain::{ChannelId, Timestamp, UserId};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::SearchQuery;
use crate::store::models::Post;

#[derive(Deserialize, IntoParams)]
pub struct SearchParams {
    /// Words that must all appear.
    #[param(max_length = 512)]
    pub q: String,
    pub channel_id: Option<ChannelId>,
    /// Author.
    pub user_id: Option<UserId>,
    /// RFC 3339: only posts created before.
    #[param(format = DateTime)]
    pub before: Option<String>,
    /// RFC 3339: only posts created after.
    #[param(format = DateTime)]
    pub after: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

fn instant(field: &str, value: Option<&str>) -> Result<Option<Timestamp>> {
    value
        .map(|v| {
            Timestamp::parse(v)
                .map_err(|_| Error::validation(format!("{field} must be an RFC 3339 time, e.g. 2026-11-28T00:00:00Z")))
        })
        .transpose()
}

/// Search posts, newest first.
#[utoipa::path(tag = "search", params(SearchParams), responses((status = 200, body = Vec<Post>), (status = 400)), security(("bearer" = [])))]
#[get("/search/posts")]
pub async fn search_posts(
    state: web::Data<AppState>,
    caller: AuthUser,
    params: Query<SearchParams>,
) -> Result<HttpResponse> {
    let query = SearchQuery {
        terms: params.q.clone(),
        channel: params.channel_id,
        author: params.user_id,
        before: instant("before", params.before.as_deref())?,
        after: instant("after", params.after.as_deref())?,
        limit: super::page_limit(params.limit, 50)?,
    };
    Ok(HttpResponse::Ok().json(crate::app::search::posts(&state.store, &caller, &query).await?))
}
