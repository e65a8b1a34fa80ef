//! Health endpoints for Kubernetes and operators: liveness (the process answers) and readiness
//! (every dependency answers and the node is not draining). Readiness always names each check; the
//! `storage` check (file attachments) is reported but does not fail readiness.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use crate::state::AppState;

/// How long one readiness probe waits for a dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, utoipa::ToSchema)]
struct Live {
    /// Always `ok`.
    status: &'static str,
    version: &'static str,
    uptime_seconds: u64,
}

/// Liveness: the process answers.
#[utoipa::path(tag = "health", responses((status = 200, description = "the process answers", body = Live)))]
#[get("/health/live")]
pub async fn live(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Live {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started.elapsed().as_secs(),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
struct Check {
    /// `ok` or `error`.
    status: &'static str,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Check {
    fn from(result: Result<Duration, String>, elapsed: Duration) -> Self {
        match result {
            Ok(latency) => Check { status: "ok", latency_ms: millis(latency), error: None },
            Err(error) => Check { status: "error", latency_ms: millis(elapsed), error: Some(error) },
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct Ready {
    /// `ready`, `not_ready` or `draining`.
    status: &'static str,
    node_id: String,
    draining: bool,
    checks: BTreeMap<&'static str, Check>,
}

/// Readiness: every dependency answers and the node is not draining; the body names each check.
#[utoipa::path(tag = "health", responses((status = 200, description = "ready", body = Ready), (status = 503, description = "not ready or draining", body = Ready)))]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let started = std::time::Instant::now();
    let database = async { state.store.ping(CHECK_TIMEOUT).await.map_err(|e| format!("{e:?}")) };
    let redis = async {
        match &state.redis {
            Some(link) => Some(link.ping(CHECK_TIMEOUT).await.map_err(|e| format!("{e:#}"))),
            None => None,
        }
    };
    let storage = async { state.files.ping(CHECK_TIMEOUT).await.map_err(|e| format!("{e:?}")) };
    let (database, redis, storage) = tokio::join!(database, redis, storage);
    let elapsed = started.elapsed();

    let mut checks = BTreeMap::new();
    checks.insert("database", Check::from(database, elapsed));
    if let Some(redis) = redis {
        checks.insert("redis", Check::from(redis, elapsed));
    }
    let draining = state.lifecycle.is_draining();
    let healthy = checks.values().all(|c| c.error.is_none());
    // Reported, not required: without file storage only attachments fail (503), chat goes on.
    checks.insert("storage", Check::from(storage, elapsed));
    let status = match (draining, healthy) {
        (true, _) => "draining",
        (false, true) => "ready",
        (false, false) => "not_ready",
    };
    let body = Ready { status, node_id: state.settings.node_id.clone(), draining, checks };
    if status == "ready" { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Prometheus text exposition of this node's metrics. Open like the other health endpoints: it holds
/// counts and latencies, never user data.
#[utoipa::path(tag = "health", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
#[get("/health/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}

#[derive(Serialize)]
struct Stats {
    node_id: String,
    version: &'static str,
    uptime_seconds: u64,
    websocket_connections: usize,
    active_users: usize,
    active_channels: usize,
    db_pool_saturation: f64,
    db_pool: crate::store::PoolStats,
    redis_bus_connected: bool,
    circuit_breakers: std::collections::BTreeMap<String, rustchat_actors::breaker::Snapshot>,
    cluster: Vec<rustchat_actors::ports::NodeInfo>,
}

/// The node at a glance, as JSON: connections, users, pool, breakers and cluster peers. Holds no user
/// data (counts and node names only).
#[utoipa::path(tag = "health", responses((status = 200, description = "node statistics", body = Object)))]
#[get("/health/stats")]
pub async fn stats(state: web::Data<AppState>) -> HttpResponse {
    let counts = state.realtime.counts().await;
    let pool = state.store.pool_stats();
    let cluster = state.realtime.peers.read().map(|p| p.clone()).unwrap_or_default();
    HttpResponse::Ok().json(Stats {
        node_id: state.settings.node_id.clone(),
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started.elapsed().as_secs(),
        websocket_connections: counts.connections,
        active_users: counts.users,
        active_channels: counts.channels,
        db_pool_saturation: (pool.saturation() * 1000.0).round() / 1000.0,
        db_pool: pool,
        redis_bus_connected: state.realtime.bus.is_connected(),
        circuit_breakers: state.tree.breakers().snapshot(),
        cluster,
    })
}
