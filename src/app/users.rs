//! Users: one's own profile, others as everyone sees them, and who is online.

use rustchat_actors::ports::Connections;

use crate::auth::AuthUser;
use crate::domain::{DisplayName, Email, UserId};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::models::{PublicUser, User};

/// Most users one presence question may name.
pub const MAX_STATUS_IDS: usize = 500;

/// Changes the caller's display name or email (each only when given).
pub async fn update_profile(
    store: &Store,
    caller: &AuthUser,
    display_name: Option<&str>,
    email: Option<&str>,
) -> Result<User> {
    let display_name = display_name.map(|d| DisplayName::parse(d, "display_name")).transpose()?;
    let email = email.map(Email::parse).transpose()?;
    store.update_profile(caller.id(), display_name.as_ref().map(DisplayName::as_str), email.as_ref()).await
}

/// Another user, as every signed-in user may see them (no email).
pub async fn public_profile(store: &Store, _caller: &AuthUser, id: UserId) -> Result<PublicUser> {
    Ok(store.user(id).await?.ok_or_else(|| Error::not_found("user"))?.into())
}

/// Whether each of `ids` has a connection open anywhere in the cluster; each id once, in id order.
pub async fn online(
    presence: &dyn Connections,
    _caller: &AuthUser,
    mut ids: Vec<UserId>,
) -> Result<Vec<(UserId, bool)>> {
    if ids.len() > MAX_STATUS_IDS {
        return Err(Error::validation(format!("ask about at most {MAX_STATUS_IDS} users at a time")));
    }
    ids.sort();
    ids.dedup();
    let online: std::collections::HashSet<uuid::Uuid> = presence
        .online(ids.iter().map(|u| u.0).collect())
        .await
        .map_err(|e| Error::unavailable(format!("cannot tell who is online: {e}")))?
        .into_iter()
        .collect();
    Ok(ids.into_iter().map(|u| (u, online.contains(&u.0))).collect())
}
