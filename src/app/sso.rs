//! Single sign-on accounts: which account a verified identity signs in as, and a signed-in user
//! linking a provider to their own account. A first login joins an existing account by email only
//! where the operator allows it (`RUSTCHAT_OIDC_LINK_EMAIL_DOMAINS`), only for an address the provider
//! verified, and never a system admin's: otherwise whoever controls a provider could take over any
//! account whose email it asserts. Each refusal is logged as a warning with the issuer, subject and
//! client address (never a token), so operators can see attempts.

use crate::config::SsoPolicy;
use crate::domain::{DisplayName, Email, SiteConfig, UserId, Username};
use crate::error::{Error, Result};
use crate::oidc::Identity;
use crate::store::Store;
use crate::store::models::User;

fn refuse(identity: &Identity, ip: &str, reason: &'static str, message: String) -> Error {
    tracing::warn!(issuer = %identity.issuer, subject = %identity.subject, ip, reason, "SSO login refused: {reason}");
    Error::conflict(message)
}

/// The account a verified identity signs in as: linked before, linked now by email where the policy
/// allows, or new.
pub async fn account_for(
    store: &Store,
    site: &SiteConfig,
    policy: &SsoPolicy,
    identity: &Identity,
    ip: &str,
) -> Result<User> {
    if let Some(user) = store.user_by_identity(&identity.issuer, &identity.subject).await? {
        return if user.is_active {
            Ok(user)
        } else {
            Err(Error::unauthorized("Unauthorized: the account is deactivated"))
        };
    }
    let email = identity.email.as_deref().map(Email::parse).transpose().ok().flatten();
    if let Some(email) = &email
        && let Some(existing) = store.user_by_email(email.as_str()).await?
    {
        let link_yourself = "sign in to that account and link this provider from it";
        if !identity.email_verified {
            return Err(refuse(
                identity,
                ip,
                "email not verified by the provider",
                format!(
                    "an account with this email exists and the provider has not verified the address; {link_yourself}"
                ),
            ));
        }
        if existing.is_system_admin {
            return Err(refuse(
                identity,
                ip,
                "email belongs to a system admin",
                format!(
                    "an account with this email exists; system admin accounts are never linked by email: {link_yourself}"
                ),
            ));
        }
        if !policy.links_email(email.as_str()) {
            return Err(refuse(
                identity,
                ip,
                "linking by email is not allowed for this domain",
                format!("an account with this email exists; {link_yourself}"),
            ));
        }
        store.link_identity(&identity.issuer, &identity.subject, existing.id).await?;
        tracing::info!(user_id = %existing.id, issuer = %identity.issuer, "SSO identity linked by verified email");
        return Ok(existing);
    }
    crate::app::registration::admit_sso_account(store, site).await?;
    let email =
        email.ok_or_else(|| Error::validation("the provider shared no email address; add the 'email' scope"))?;
    let wanted = identity
        .preferred_username
        .clone()
        .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("user").to_string());
    let cleaned: String =
        wanted.to_lowercase().chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).take(22).collect();
    let username = Username::parse(&cleaned)
        .or_else(|_| Username::parse(&format!("user{}", &uuid::Uuid::new_v4().simple().to_string()[..8])))?;
    let display = identity
        .name
        .as_deref()
        .and_then(|n| DisplayName::parse(n, "name").ok())
        .map(DisplayName::into_inner)
        .unwrap_or_default();
    let user = store.create_sso_user(&username, &email, &display).await?;
    store.link_identity(&identity.issuer, &identity.subject, user.id).await?;
    Ok(user)
}

/// Links `identity` to `user`, who began the link signed in. An identity already linked to another
/// account stays where it is.
pub async fn link(store: &Store, user: UserId, identity: &Identity, ip: &str) -> Result<User> {
    let account =
        store.user(user).await?.filter(|u| u.is_active).ok_or_else(|| {
            Error::unauthorized("Unauthorized: the account that began the link is gone or deactivated")
        })?;
    match store.user_by_identity(&identity.issuer, &identity.subject).await? {
        Some(linked) if linked.id == user => Ok(account),
        Some(_) => Err(refuse(
            identity,
            ip,
            "identity already linked to another account",
            "this identity is already linked to another account".into(),
        )),
        None => {
            store.link_identity(&identity.issuer, &identity.subject, user).await?;
            tracing::info!(user_id = %user, issuer = %identity.issuer, "SSO identity linked by its account");
            Ok(account)
        }
    }
}
