//! Accounts: creating one, logging out, changing or resetting a password, deactivating. Each change
//! that ends logins returns them, for the face to announce (their sockets close on every node).

use rustchat_actors::login::{EndReason, LoginScope, LoginsEnded};

use super::{Principal, system_admins_only};
use crate::auth::{AuthUser, hash_password, verify_password};
use crate::domain::{DisplayName, Email, Password, UserId, Username};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::models::User;

/// An account about to be created, its fields checked.
pub struct NewAccount {
    pub username: Username,
    pub email: Email,
    /// Empty when none (or a blank one) was given.
    pub display_name: String,
    pub password: Password,
}

impl NewAccount {
    /// Checks each field in the order a form shows them; the first wrong one is named.
    pub fn parse(username: &str, email: &str, password: &str, display_name: Option<&str>) -> Result<Self> {
        let username = Username::parse(username)?;
        let email = Email::parse(email)?;
        let password = Password::parse(password, "password")?;
        let display_name = match display_name.filter(|d| !d.trim().is_empty()) {
            Some(d) => DisplayName::parse(d, "display_name")?.into_inner(),
            None => String::new(),
        };
        Ok(Self { username, email, display_name, password })
    }

    /// Stores the account (the site's first becomes system admin, as does any with `system_admin`).
    pub(super) async fn store(&self, store: &Store, system_admin: bool) -> Result<User> {
        let hash = hash_password(&self.password).await?;
        store.create_user_with_role(&self.username, &self.email, &self.display_name, Some(&hash), system_admin).await
    }
}

/// Creates an account for someone else (system admins, the operator); only they may make admins.
pub async fn create(store: &Store, by: Principal<'_>, new: &NewAccount, system_admin: bool) -> Result<User> {
    system_admins_only(by, "only system admins can create accounts")?;
    let user = new.store(store, system_admin).await?;
    tracing::info!(user_id = %user.id, admin = user.is_system_admin, by = %by, "account created");
    Ok(user)
}

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

/// Sets a new password for someone (system admins, the operator): every session of the account
/// ends. Returns how many were live, and the logins ended.
pub async fn reset_password(
    store: &Store,
    by: Principal<'_>,
    target: UserId,
    new: &Password,
) -> Result<(u64, LoginsEnded)> {
    system_admins_only(by, "only system admins can reset passwords")?;
    if store.user(target).await?.is_some_and(|u| u.is_bot) {
        return Err(Error::validation("bots have no password: they act through access tokens"));
    }
    let hash = hash_password(new).await?;
    store.set_password_hash(target, &hash).await?;
    let revoked = store.revoke_sessions(target).await?;
    tracing::info!(user_id = %target, revoked_sessions = revoked, by = %by, "password reset");
    Ok((revoked, LoginsEnded { user: target.0, scope: LoginScope::All, reason: EndReason::Revoked }))
}

/// Activates or deactivates an account (system admins, the operator; never your own deactivation).
/// Deactivation ends every login of the account, and revokes the tokens of the bots it owns.
pub async fn set_active(
    store: &Store,
    by: Principal<'_>,
    target: UserId,
    active: bool,
) -> Result<(User, Vec<LoginsEnded>)> {
    system_admins_only(by, "only system admins can change account status")?;
    if by.user() == Some(target) && !active {
        return Err(Error::validation("you cannot deactivate your own account"));
    }
    let user = store.set_user_active(target, active).await?;
    tracing::info!(user_id = %target, active, by = %by, "account status changed");
    let mut ended = Vec::new();
    if !active {
        ended.push(LoginsEnded { user: target.0, scope: LoginScope::All, reason: EndReason::Deactivated });
        ended.extend(super::bots::owner_deactivated(store, target).await?);
    }
    Ok((user, ended))
}
