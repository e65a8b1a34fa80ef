//! Site settings: only system admins read or change them, and a change is checked as a whole before
//! it is stored, so a typo never reaches the other nodes.

use super::{Principal, system_admins_only};
use crate::auth::AuthUser;
use crate::domain::SiteConfig;
use crate::error::{Error, Result};
use crate::site::SiteCache;
use crate::store::Store;

/// Top-level settings to change, by name.
pub type SitePatch = serde_json::Map<String, serde_json::Value>;

/// The stored settings.
pub async fn settings(store: &Store, caller: &AuthUser) -> Result<SiteConfig> {
    system_admins_only(Principal::User(caller), "system admins only")?;
    store.site_config().await
}

/// Merges `patch` into the settings; they take effect on this node at once (`cache`) and on every
/// other node within [`crate::site::SITE_REFRESH`].
pub async fn patch(store: &Store, cache: &SiteCache, caller: &AuthUser, patch: &SitePatch) -> Result<SiteConfig> {
    system_admins_only(Principal::User(caller), "system admins only")?;
    let mut merged = serde_json::to_value(store.site_config().await?).map_err(Error::internal)?;
    if let Some(object) = merged.as_object_mut() {
        for (k, v) in patch {
            if !object.contains_key(k) {
                return Err(Error::validation(format!("unknown site setting '{k}'")));
            }
            object.insert(k.clone(), v.clone());
        }
    }
    let config: SiteConfig =
        serde_json::from_value(merged).map_err(|e| Error::validation(format!("invalid site settings: {e}")))?;
    config.validate()?;
    let stored = store.patch_site_config(patch).await?;
    cache.set(stored.clone());
    tracing::info!(by = %caller.id(), keys = ?patch.keys().collect::<Vec<_>>(), "site settings changed through the admin API");
    Ok(stored)
}
