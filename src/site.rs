//! The site settings every request reads, cached per node. Each node re-reads `server_config` every
//! [`SITE_REFRESH`], so an operator's SQL edit (the runbook's `jsonb_set`) takes effect on every node
//! within that time without a restart; a change through the admin API takes effect at once on the
//! node that made it.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::domain::SiteConfig;
use crate::store::Store;

/// How stale a node's view of the site settings may be.
pub const SITE_REFRESH: Duration = Duration::from_secs(5);

#[derive(Clone, Default)]
pub struct SiteCache {
    current: Arc<RwLock<Arc<SiteConfig>>>,
}

impl SiteCache {
    pub fn get(&self) -> Arc<SiteConfig> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set(&self, config: SiteConfig) {
        let mut slot = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(config);
    }

    /// Loads once, then keeps refreshing until `stop` fires. A failed read keeps the last value.
    pub async fn follow(self, store: Store, stop: tokio_util::sync::CancellationToken) {
        loop {
            match store.site_config().await {
                Ok(config) => {
                    if *self.get() != config {
                        tracing::info!(config = ?config, "site settings changed");
                        self.set(config);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "cannot refresh site settings; keeping the last known")
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(SITE_REFRESH) => {}
            }
        }
    }
}
