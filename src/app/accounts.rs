//! Accounts: logging out, changing a password, deactivating. Each returns the logins it ended, for
//! the face to announce (their sockets close on every node).

use rustchat_actors::login::{EndReason, LoginScope, LoginsEnded};

use crate::auth::{AuthUser, hash_password, verify_password};
use crate::domain::{Password, UserId};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::models::User;

/// Ends the caller's session: its access and refresh tokens stop working everywhere.
pub async fn logout(store: &Store, caller: &AuthUser) -> Result<LoginsEnded> {
    store.revoke_session(caller.session).await?;
    Ok(LoginsEnded { user: caller.id().0, scope: LoginScope::Only(caller.session.0), reason: EndReason::LoggedOut })
}

/// Changes the caller's password, given the current one; every other session of the account ends.
pub async fn change_password(store: &Store, caller: &AuthUser, current: &str, new: &str) -> Result<LoginsEnded> {
    let new = Password::parse(new, "new_password")?;
    let stored = store.user_credentials_by_id(caller.id()).await?.and_then(|c| c.password_hash);
    if !verify_password(current, stored).await? {
        return Err(Error::unauthorized("Unauthorized: current_password is wrong"));
    }
    let hash = hash_password(&new).await?;
    store.set_password_hash(caller.id(), &hash).await?;
    let revoked = store.revoke_other_sessions(caller.id(), caller.session).await?;
    tracing::info!(user_id = %caller.id(), revoked_sessions = revoked, "password changed");
    Ok(LoginsEnded {
        user: caller.id().0,
        scope: LoginScope::AllBut(caller.session.0),
        reason: EndReason::PasswordChanged,
    })
}

/// Activates or deactivates an account (system admins; never your own deactivation). Deactivation
/// ends every login of the account.
pub async fn set_active(
    store: &Store,
    caller: &AuthUser,
    target: UserId,
    active: bool,
) -> Result<(User, Option<LoginsEnded>)> {
    if !caller.is_system_admin() {
        return Err(Error::forbidden("only system admins can change account status"));
    }
    if target == caller.id() && !active {
        return Err(Error::validation("you cannot deactivate your own account"));
    }
    let user = store.set_user_active(target, active).await?;
    tracing::info!(user_id = %target, active, by = %caller.id(), "account status changed");
    let ended =
        (!active).then_some(LoginsEnded { user: target.0, scope: LoginScope::All, reason: EndReason::Deactivated });
    Ok((user, ended))
}
