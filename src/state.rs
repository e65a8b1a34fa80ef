//! What every handler can reach: settings, the store, the Redis link, and the node's lifecycle.
//! Passed as `web::Data<AppState>`, never through globals, so several nodes can share one process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::auth::TokenKeys;
use crate::cluster::RedisLink;
use crate::config::Settings;
use crate::realtime::Realtime;
use crate::site::SiteCache;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;
use rustchat_actors::Tree;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    /// Attachments' bytes.
    pub files: crate::files::FileStorage,
    pub tokens: TokenKeys,
    pub site: SiteCache,
    /// The OpenAPI document, rendered once at start.
    pub openapi_json: String,
    pub redis: Option<Arc<RedisLink>>,
    pub realtime: Realtime,
    /// The Mattermost API's WebSocket parts of this node.
    pub mattermost: crate::mattermost::ws::sockets::MmSockets,
    pub metrics: Arc<Metrics>,
    /// The root of the supervisor tree, which owns the circuit breakers.
    pub tree: Tree,
    pub rate_limits: crate::ratelimit::RateLimits,
    /// The identity provider, when one is configured.
    pub oidc: crate::oidc::registry::OidcRegistry,
    pub one_time: crate::oidc::one_time::OneTime,
    pub started: Instant,
    /// Outgoing webhooks and slash commands: the SSRF guard, per-host breakers, outbox settings.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    pub lifecycle: Lifecycle,
}

/// Draining (readiness 503, still serving) and shutdown (stop accepting, finish in-flight).
#[derive(Clone, Default)]
pub struct Lifecycle {
    draining: Arc<AtomicBool>,
    shutdown: CancellationToken,
}

impl AppState {
    /// The client's address (see [`crate::client_ip`]), as text for logs and limit keys.
    pub fn client_ip(&self, req: &actix_web::HttpRequest) -> String {
        crate::client_ip::client_ip(req, &self.settings.rate_limit.trusted_proxies)
            .map(|ip| ip.to_string())
            .unwrap_or_default()
    }

    /// Counts one request against `limit` for `key`; a refusal is logged, counted and answered 429.
    pub async fn rate_limit(&self, limit: crate::ratelimit::Limit, key: &str, ip: &str) -> crate::error::Result<()> {
        match self.rate_limits.check(limit, key).await {
            Ok(()) => Ok(()),
            Err(wait) => {
                self.metrics.record_rate_limited(limit.as_str());
                Err(crate::ratelimit::refusal(limit, ip, wait))
            }
        }
    }
}

impl Lifecycle {
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Starts the shutdown sequence: readiness fails at once.
    pub fn begin_shutdown(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.shutdown.cancel();
    }

    pub async fn shutdown_requested(&self) {
        self.shutdown.cancelled().await
    }

    /// A token that fires when shutdown begins, for background tasks.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}
