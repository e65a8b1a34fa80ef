//! Identity providers added at run time (system admins): what a new one must be (a URL name, an issuer
//! that answers OpenID Connect discovery, https in production, a client secret sealed before it is
//! stored) and that a client secret is never shown again.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Principal, system_admins_only};
use crate::auth::AuthUser;
use crate::config::OidcProviderSettings;
use crate::error::{Error, ErrorCode, Result};
use crate::oidc::registry::OidcRegistry;
use crate::store::{Store, StoredProvider};

/// A provider as admins see it: everything but its client secret.
#[derive(Serialize, ToSchema)]
pub struct ProviderView {
    pub id: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: String,
    pub display_name: String,
    /// `environment` (RUSTCHAT_OIDC_*) or `database` (added here).
    pub source: &'static str,
    /// The id of the key that sealed the client secret.
    pub secret_key_id: Option<String>,
    pub redirect_uri: Option<String>,
}

/// A provider to add, as given.
pub struct NewProvider<'a> {
    pub id: &'a str,
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub scopes: Option<&'a str>,
    pub display_name: Option<&'a str>,
}

fn admins_only(caller: &AuthUser) -> Result<()> {
    system_admins_only(Principal::User(caller), "system admins only")
}

fn redirect_uri(registry: &OidcRegistry, id: &str) -> Option<String> {
    registry.site_url().and_then(|s| s.join(&format!("api/v1/auth/oidc/{id}/callback")).ok()).map(|u| u.to_string())
}

fn database_view(registry: &OidcRegistry, p: StoredProvider) -> ProviderView {
    ProviderView {
        redirect_uri: redirect_uri(registry, &p.id),
        secret_key_id: crate::crypto::Vault::key_of(&p.client_secret_sealed).map(String::from),
        id: p.id,
        issuer: p.issuer,
        client_id: p.client_id,
        scopes: p.scopes,
        display_name: p.display_name,
        source: "database",
    }
}

/// Every provider: the one from the environment (`env`), then those added through the API.
pub async fn list(
    store: &Store,
    registry: &OidcRegistry,
    env: Option<&OidcProviderSettings>,
    caller: &AuthUser,
) -> Result<Vec<ProviderView>> {
    admins_only(caller)?;
    let mut out = Vec::new();
    if let (Some(id), Some(env)) = (registry.env_provider_id(), env) {
        out.push(ProviderView {
            id: id.to_string(),
            issuer: env.issuer.to_string(),
            client_id: env.client_id.clone(),
            scopes: env.scopes.join(" "),
            display_name: env.display_name.clone(),
            source: "environment",
            secret_key_id: None,
            redirect_uri: redirect_uri(registry, id),
        });
    }
    out.extend(store.oidc_providers().await?.into_iter().map(|p| database_view(registry, p)));
    Ok(out)
}

/// Adds a provider; `production` demands an https issuer.
pub async fn create(
    store: &Store,
    registry: &OidcRegistry,
    production: bool,
    caller: &AuthUser,
    new: NewProvider<'_>,
) -> Result<ProviderView> {
    admins_only(caller)?;
    let id = new.id.trim().to_string();
    if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(Error::validation("id must be 1-32 characters of a-z, 0-9 and '-'"));
    }
    if registry.env_provider_id() == Some(id.as_str()) {
        return Err(Error::conflict("an identity provider with this id exists"));
    }
    if registry.site_url().is_none() {
        return Err(Error::validation("set RUSTCHAT_SITE_URL first: redirect URIs are built from it"));
    }
    let issuer = url::Url::parse(new.issuer.trim()).map_err(|_| Error::validation("issuer must be a URL"))?;
    if issuer.scheme() != "https" && (production || issuer.scheme() != "http") {
        return Err(Error::validation("issuer must be an https URL"));
    }
    if new.client_id.trim().is_empty() || new.client_secret.is_empty() || new.client_secret.len() > 4096 {
        return Err(Error::validation("client_id and client_secret are required (secret at most 4096 bytes)"));
    }
    // A typo in the issuer is refused now, not found out by every login failing with 503.
    if let Err(why) = crate::oidc::check_discovery(&issuer).await {
        tracing::info!(provider = %id, %issuer, reason = %why, "identity provider refused: discovery failed");
        return Err(Error::new(
            ErrorCode::Unprocessable,
            format!("issuer {issuer} does not answer OpenID Connect discovery ({why}); check the URL"),
        ));
    }
    let stored = StoredProvider {
        id: id.clone(),
        issuer: issuer.to_string(),
        client_id: new.client_id.trim().to_string(),
        client_secret_sealed: registry.vault().seal(new.client_secret),
        scopes: new.scopes.map_or_else(|| "openid email profile".into(), String::from),
        display_name: new.display_name.map_or_else(|| id.clone(), String::from),
    };
    store.create_oidc_provider(&stored).await?;
    registry.forget(&id);
    tracing::info!(provider = %id, by = %caller.id(), "identity provider added");
    let key = registry.vault().key_id().to_string();
    Ok(ProviderView { secret_key_id: Some(key), ..database_view(registry, stored) })
}

/// Removes a provider added through the API.
pub async fn delete(store: &Store, registry: &OidcRegistry, caller: &AuthUser, id: &str) -> Result<()> {
    admins_only(caller)?;
    if !store.delete_oidc_provider(id).await? {
        return Err(Error::not_found("identity provider"));
    }
    registry.forget(id);
    Ok(())
}
