//! Personal access tokens: created by a user for themselves (where the site allows it) or by a bot's
//! manager for the bot, shown once, listed without their secret, revoked by whoever may manage them.
//! A token opens a session of its own, so revoking it ends that login on every node like a logout.
//! Each creation, revocation and (at most once a minute) use is an audit line; none holds the secret.

use rustchat_actors::login::{EndReason, LoginScope, LoginsEnded};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{AuthUser, PersonalToken, TokenKeys};
use crate::domain::{DisplayName, SessionId, SiteConfig, UserId};
use crate::error::{Error, Result};
use crate::store::{AccessToken, NewToken, Store};

/// The most live tokens one user (or bot) may hold.
pub const MAX_TOKENS_PER_USER: i64 = 20;

/// A token just created: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: AccessToken,
    /// Send as `Authorization: Bearer <token>`. Shown once: only its hash is kept.
    pub token: String,
}

/// Creates a token for the caller.
pub async fn create_personal(
    store: &Store,
    site: &SiteConfig,
    keys: &TokenKeys,
    caller: &AuthUser,
    name: &str,
) -> Result<CreatedToken> {
    if caller.user.is_bot {
        return Err(Error::forbidden("a bot's tokens are created by its owner or a system admin"));
    }
    allowed(site, caller)?;
    issue(store, keys, caller, caller.id(), name).await
}

/// Creates a token for a bot the caller manages.
pub async fn create_for_bot(
    store: &Store,
    site: &SiteConfig,
    keys: &TokenKeys,
    caller: &AuthUser,
    bot: UserId,
    name: &str,
) -> Result<CreatedToken> {
    let bot = super::bots::managed(store, caller, bot).await?;
    allowed(site, caller)?;
    if !bot.is_active {
        return Err(Error::validation("the bot is disabled: enable it first"));
    }
    issue(store, keys, caller, bot.user_id, name).await
}

/// The caller's live tokens.
pub async fn list_personal(store: &Store, caller: &AuthUser) -> Result<Vec<AccessToken>> {
    store.access_tokens(caller.id()).await
}

/// A managed bot's live tokens.
pub async fn list_for_bot(store: &Store, caller: &AuthUser, bot: UserId) -> Result<Vec<AccessToken>> {
    let bot = super::bots::managed(store, caller, bot).await?;
    store.access_tokens(bot.user_id).await
}

/// Revokes one of the caller's tokens (or, for system admins, anyone's); its sockets close everywhere.
pub async fn revoke_personal(store: &Store, caller: &AuthUser, id: SessionId) -> Result<LoginsEnded> {
    let token = store.access_token(id).await?.filter(|t| t.user_id == caller.id() || caller.is_system_admin());
    revoke(store, caller, token.ok_or_else(|| Error::not_found("token"))?).await
}

/// Revokes a token of a bot the caller manages.
pub async fn revoke_for_bot(store: &Store, caller: &AuthUser, bot: UserId, id: SessionId) -> Result<LoginsEnded> {
    let bot = super::bots::managed(store, caller, bot).await?;
    let token = store.access_token(id).await?.filter(|t| t.user_id == bot.user_id);
    revoke(store, caller, token.ok_or_else(|| Error::not_found("token"))?).await
}

fn allowed(site: &SiteConfig, caller: &AuthUser) -> Result<()> {
    if site.enable_personal_access_tokens || caller.is_system_admin() {
        Ok(())
    } else {
        Err(Error::forbidden("personal access tokens are disabled on this site (enable_personal_access_tokens)"))
    }
}

async fn issue(store: &Store, keys: &TokenKeys, caller: &AuthUser, user: UserId, name: &str) -> Result<CreatedToken> {
    let name = DisplayName::parse(name, "name")?.into_inner();
    let secret = PersonalToken::generate(SessionId::new());
    let new = NewToken {
        id: secret.session,
        user,
        name: &name,
        hash: &secret.hash(),
        created_by: caller.id(),
        max_per_user: MAX_TOKENS_PER_USER,
    };
    let info = store.create_access_token(new, keys.secret_ids().0).await?;
    tracing::info!(token_id = %info.id, user_id = %user, name = %info.name, by = %caller.id(), "access token created");
    Ok(CreatedToken { info, token: secret.to_text() })
}

async fn revoke(store: &Store, caller: &AuthUser, token: AccessToken) -> Result<LoginsEnded> {
    store.revoke_session(token.id).await?;
    tracing::info!(token_id = %token.id, user_id = %token.user_id, by = %caller.id(), "access token revoked");
    Ok(LoginsEnded { user: token.user_id.0, scope: LoginScope::Only(token.id.0), reason: EndReason::Revoked })
}
