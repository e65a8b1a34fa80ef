//! Bot accounts: users without a password, created by system admins (or by anyone where the site
//! allows it), each with an owner who manages it and its tokens. A bot is a user to every other rule:
//! it reads, posts and reacts only where it is a member. Disabling a bot, or deactivating its owner,
//! revokes its tokens, which closes its sockets on every node.

use rustchat_actors::login::{EndReason, LoginScope, LoginsEnded};

use crate::auth::AuthUser;
use crate::domain::{DisplayName, SiteConfig, Text, UserId, Username};
use crate::error::{Error, Result};
use crate::store::{Bot, NewBot, Store};

/// The most bots one user may own.
pub const MAX_BOTS_PER_OWNER: i64 = 20;
/// The longest description, in characters.
pub const DESCRIPTION_MAX: usize = 1024;

/// A bot about to be created, its fields checked.
pub struct BotDraft {
    pub username: Username,
    pub display_name: String,
    pub description: String,
}

impl BotDraft {
    pub fn parse(username: &str, display_name: Option<&str>, description: Option<&str>) -> Result<Self> {
        let username = Username::parse(username)?;
        let display_name = match display_name.filter(|d| !d.trim().is_empty()) {
            Some(d) => DisplayName::parse(d, "display_name")?.into_inner(),
            None => String::new(),
        };
        let description = Text::parse(description.unwrap_or(""), "description", DESCRIPTION_MAX)?.into_inner();
        Ok(Self { username, display_name, description })
    }
}

/// Changes to a bot; absent fields stay.
#[derive(Default)]
pub struct BotPatch {
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// False disables the bot (revoking its tokens), true enables it again.
    pub active: Option<bool>,
}

/// Creates a bot owned by the caller.
pub async fn create(store: &Store, site: &SiteConfig, caller: &AuthUser, draft: &BotDraft) -> Result<Bot> {
    if caller.user.is_bot {
        return Err(Error::forbidden("bots cannot create bots"));
    }
    if !(caller.is_system_admin() || site.enable_bot_account_creation) {
        return Err(Error::forbidden("only system admins can create bots on this site (enable_bot_account_creation)"));
    }
    let bot = store
        .create_bot(NewBot {
            username: &draft.username,
            display_name: &draft.display_name,
            description: &draft.description,
            owner: caller.id(),
            max_per_owner: MAX_BOTS_PER_OWNER,
        })
        .await?;
    tracing::info!(bot_id = %bot.user_id, username = %bot.username, by = %caller.id(), "bot created");
    Ok(bot)
}

/// The bots the caller manages: their own, or every bot for system admins.
pub async fn list(store: &Store, caller: &AuthUser) -> Result<Vec<Bot>> {
    store.bots((!caller.is_system_admin()).then(|| caller.id())).await
}

/// A bot the caller manages (its owner, or a system admin); to anyone else it does not exist.
pub async fn managed(store: &Store, caller: &AuthUser, id: UserId) -> Result<Bot> {
    store
        .bot(id)
        .await?
        .filter(|b| b.owner_id == caller.id() || caller.is_system_admin())
        .ok_or_else(|| Error::not_found("bot"))
}

/// Changes a bot the caller manages; disabling it ends its logins, which the face announces.
pub async fn update(
    store: &Store,
    caller: &AuthUser,
    id: UserId,
    patch: BotPatch,
) -> Result<(Bot, Option<LoginsEnded>)> {
    let bot = managed(store, caller, id).await?;
    let display_name = match patch.display_name.as_deref() {
        Some(d) if d.trim().is_empty() => Some(String::new()),
        Some(d) => Some(DisplayName::parse(d, "display_name")?.into_inner()),
        None => None,
    };
    let description =
        patch.description.as_deref().map(|d| Text::parse(d, "description", DESCRIPTION_MAX)).transpose()?;
    store.update_bot(bot.user_id, display_name.as_deref(), description.as_ref().map(|d| d.as_str())).await?;
    let mut ended = None;
    if let Some(active) = patch.active.filter(|a| *a != bot.is_active) {
        // Deactivation revokes every session of the bot, tokens included.
        store.set_user_active(bot.user_id, active).await?;
        tracing::info!(bot_id = %bot.user_id, active, by = %caller.id(), "bot status changed");
        ended = (!active).then_some(LoginsEnded {
            user: bot.user_id.0,
            scope: LoginScope::All,
            reason: EndReason::Deactivated,
        });
    }
    tracing::info!(bot_id = %bot.user_id, by = %caller.id(), "bot updated");
    let bot = store.bot(bot.user_id).await?.ok_or_else(|| Error::not_found("bot"))?;
    Ok((bot, ended))
}

/// Revokes the tokens of the bots `owner` owns (the owner was deactivated); returns the logins ended.
pub(super) async fn owner_deactivated(store: &Store, owner: UserId) -> Result<Vec<LoginsEnded>> {
    let bots = store.bots_owned_by(owner).await?;
    let ended = store.revoke_tokens_of(&bots).await?;
    for bot in &ended {
        tracing::info!(bot_id = %bot, owner_id = %owner, "bot tokens revoked: its owner was deactivated");
    }
    Ok(ended
        .into_iter()
        .map(|bot| LoginsEnded { user: bot.0, scope: LoginScope::All, reason: EndReason::Revoked })
        .collect())
}
