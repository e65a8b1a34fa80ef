//! Site settings: the `server_config` row `id='default'`, whose `site` JSON document operators may
//! edit in SQL (the runbook does). Unknown keys are kept; missing keys take their defaults.

use serde::{Deserialize, Serialize};

use super::{Backend, Store, with_pool};
use crate::error::Result;

/// The typed view of `server_config.site`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SiteConfig {
    /// Per-user limit on simultaneous WebSocket connections, counted cluster-wide.
    pub max_simultaneous_connections: u32,
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self {
            max_simultaneous_connections: 10,
        }
    }
}

impl Store {
    /// Reads the site document; a hand-edited document with a wrong type falls back to defaults for
    /// the whole document rather than failing every request (and says so in the log).
    pub async fn site_config(&self) -> Result<SiteConfig> {
        let text: String = with_pool!(self, |pool| {
            sqlx::query_scalar(site_query(self.backend()))
                .fetch_one(pool)
                .await?
        });
        Ok(serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "server_config.site is not a valid site document; using defaults");
            SiteConfig::default()
        }))
    }
}

/// `site` as text: jsonb needs a cast on PostgreSQL, SQLite stores text.
fn site_query(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "SELECT site::text FROM server_config WHERE id = 'default'",
        Backend::Sqlite => "SELECT site FROM server_config WHERE id = 'default'",
    }
}
