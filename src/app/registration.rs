//! Who may create an account, by password or through single sign-on: the site's first account always
//! (it becomes system admin); after that, as the site's registration mode says (open, by invitation,
//! closed).

use super::accounts::NewAccount;
use super::invites;
use crate::domain::{Registration, Role, SiteConfig};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::models::User;

/// Registers `new` under the site's mode; an invite code may also put them in a team.
pub async fn register(store: &Store, site: &SiteConfig, new: &NewAccount, invite_code: Option<&str>) -> Result<User> {
    let mut invite_team = None;
    if !is_first_account(store).await? {
        match site.registration {
            Registration::Open => {}
            Registration::Closed => return Err(closed()),
            Registration::InviteOnly => {
                let code = invite_code.unwrap_or("");
                if code.is_empty() {
                    return Err(Error::forbidden("registration is by invitation: an invite_code is required"));
                }
                invite_team = invites::redeem(store, code).await?;
            }
        }
    }
    let user = new.store(store, false).await?;
    if let Some(team) = invite_team {
        store.add_team_member(team, user.id, Role::Member).await?;
    }
    tracing::info!(user_id = %user.id, admin = user.is_system_admin, "account registered");
    Ok(user)
}

/// Refuses a new account through single sign-on on a closed site (an identity provider vouches for
/// who someone is, not that they may join; invitations do not apply, as the provider is the gate).
pub async fn admit_sso_account(store: &Store, site: &SiteConfig) -> Result<()> {
    if site.registration == Registration::Closed && !is_first_account(store).await? {
        return Err(closed());
    }
    Ok(())
}

async fn is_first_account(store: &Store) -> Result<bool> {
    Ok(store.user_count().await? == 0)
}

fn closed() -> Error {
    Error::forbidden("registration is closed on this site")
}
