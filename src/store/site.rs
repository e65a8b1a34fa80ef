//! The `server_config` row `id='default'`: read and patch the `site` document. Operators may also
//! edit it in SQL (the runbook does); [`crate::site::SiteCache`] polls it so every node follows.

use super::{Backend, Store, with_pool};
use crate::domain::SiteConfig;
use crate::error::{Error, Result};

impl Store {
    /// Reads the site document. A hand-edited document with a wrong type falls back to defaults for
    /// the whole document rather than failing every request, and says so in the log.
    pub async fn site_config(&self) -> Result<SiteConfig> {
        let sql = match self.backend() {
            Backend::Postgres => "SELECT site::text FROM server_config WHERE id = 'default'",
            Backend::Sqlite => "SELECT site FROM server_config WHERE id = 'default'",
        };
        let text: String = with_pool!(self, |pool| sqlx::query_scalar(sql).fetch_one(pool).await?);
        Ok(serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "server_config.site is not a valid site document; using defaults");
            SiteConfig::default()
        }))
    }

    /// Merges `patch` (top-level keys) into the stored document and returns the result.
    pub async fn patch_site_config(&self, patch: &serde_json::Map<String, serde_json::Value>) -> Result<SiteConfig> {
        let text = serde_json::to_string(patch).map_err(Error::internal)?;
        let now = crate::domain::Timestamp::now();
        let sql = match self.backend() {
            Backend::Postgres => {
                "UPDATE server_config SET site = site || $1::jsonb, updated_at = $2 WHERE id = 'default'"
            }
            Backend::Sqlite => {
                "UPDATE server_config SET site = json_patch(site, $1), updated_at = $2 WHERE id = 'default'"
            }
        };
        with_pool!(self, |pool| sqlx::query(sql).bind(&text).bind(now).execute(pool).await?.rows_affected());
        self.site_config().await
    }
}
