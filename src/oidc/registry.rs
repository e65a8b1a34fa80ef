//! The identity providers a node knows: the one from `RUSTCHAT_OIDC_*` and those added through the
//! admin API (read from the database on first use, secret opened with the vault, cached for
//! [`CACHE_TTL`] so every node follows additions and removals within that time).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustchat_actors::breaker::BreakerSet;

use super::Oidc;
use crate::config::{OidcProviderSettings, Secret, SsoPolicy};
use crate::crypto::Vault;
use crate::error::{Error, Result};
use crate::store::{Store, StoredProvider};

pub const CACHE_TTL: Duration = Duration::from_secs(60);

pub struct OidcRegistry {
    env: Option<Arc<Oidc>>,
    cache: std::sync::Mutex<HashMap<String, (Instant, Arc<Oidc>)>>,
    store: Store,
    vault: Arc<Vault>,
    site: Option<url::Url>,
    breakers: Arc<BreakerSet>,
    policy: SsoPolicy,
}

impl OidcRegistry {
    pub fn new(
        env: Option<OidcProviderSettings>,
        site: Option<url::Url>,
        store: Store,
        vault: Arc<Vault>,
        breakers: Arc<BreakerSet>,
        policy: SsoPolicy,
    ) -> anyhow::Result<Self> {
        let env = match (env, &site) {
            (Some(settings), Some(site)) => {
                let breaker = breakers.get(&settings.id);
                Some(Arc::new(Oidc::new(settings, site, breaker, &policy.signing_algs)?))
            }
            _ => None,
        };
        Ok(Self { env, cache: Default::default(), store, vault, site, breakers, policy })
    }

    /// How providers are trusted.
    pub fn policy(&self) -> &SsoPolicy {
        &self.policy
    }

    pub fn site_url(&self) -> Option<&url::Url> {
        self.site.as_ref()
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Turns a stored provider into settings, opening its secret.
    pub fn settings_of(&self, p: &StoredProvider) -> Result<OidcProviderSettings> {
        let secret = self
            .vault
            .open(&p.client_secret_sealed)
            .map_err(|e| Error::internal(anyhow::anyhow!("provider {}: {e}", p.id)))?;
        Ok(OidcProviderSettings {
            id: p.id.clone(),
            issuer: url::Url::parse(&p.issuer).map_err(Error::internal)?,
            client_id: p.client_id.clone(),
            client_secret: Secret::new(secret),
            scopes: p.scopes.split_whitespace().map(String::from).collect(),
            display_name: p.display_name.clone(),
        })
    }

    pub async fn get(&self, id: &str) -> Result<Option<Arc<Oidc>>> {
        if let Some(env) = self.env.as_ref().filter(|o| o.settings.id == id) {
            return Ok(Some(env.clone()));
        }
        if let Some((at, oidc)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(id)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(Some(oidc.clone()));
        }
        let (Some(stored), Some(site)) = (self.store.oidc_provider(id).await?, &self.site) else {
            self.forget(id);
            return Ok(None);
        };
        let oidc = Oidc::new(self.settings_of(&stored)?, site, self.breakers.get(id), &self.policy.signing_algs);
        let oidc = Arc::new(oidc.map_err(Error::internal)?);
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), (Instant::now(), oidc.clone()));
        Ok(Some(oidc))
    }

    pub fn forget(&self, id: &str) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// (id, display name) of every provider.
    pub async fn list(&self) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> =
            self.env.iter().map(|o| (o.settings.id.clone(), o.settings.display_name.clone())).collect();
        for p in self.store.oidc_providers().await? {
            if !out.iter().any(|(id, _)| *id == p.id) {
                out.push((p.id, p.display_name));
            }
        }
        Ok(out)
    }

    pub fn env_provider_id(&self) -> Option<&str> {
        self.env.as_ref().map(|o| o.settings.id.as_str())
    }
}
