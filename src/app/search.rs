//! Search: posts only from channels the searcher is a member of (the store joins on their membership,
//! so no result can come from elsewhere, whatever `channel` asks for), never deleted ones; people by
//! name prefix.

use crate::auth::AuthUser;
use crate::error::{Error, Result};
use crate::store::models::{Post, PublicUser};
use crate::store::{SearchQuery, Store};

/// Longest post query, in characters.
pub const MAX_QUERY_CHARS: usize = 512;
/// Longest people query, in characters.
pub const MAX_NAME_PREFIX_CHARS: usize = 64;

/// Posts matching every word of `query.terms`, newest first, among those the caller can read.
pub async fn posts(store: &Store, caller: &AuthUser, query: &SearchQuery) -> Result<Vec<Post>> {
    if query.terms.chars().count() > MAX_QUERY_CHARS {
        return Err(Error::validation(format!("q must be at most {MAX_QUERY_CHARS} characters")));
    }
    if query.terms.split_whitespace().next().is_none() {
        return Err(Error::validation("q must contain at least one word"));
    }
    store.search_posts(caller.id(), query).await
}

/// Users whose username or display name starts with `prefix` (every signed-in user may look).
pub async fn users(store: &Store, _caller: &AuthUser, prefix: &str, limit: u32) -> Result<Vec<PublicUser>> {
    if prefix.chars().count() > MAX_NAME_PREFIX_CHARS {
        return Err(Error::validation(format!("q must be at most {MAX_NAME_PREFIX_CHARS} characters")));
    }
    store.search_users(prefix, limit).await
}
