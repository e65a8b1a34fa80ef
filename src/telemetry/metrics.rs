//! Prometheus metrics through OpenTelemetry (`opentelemetry` + `opentelemetry-prometheus`), one
//! registry per node (so several nodes can share a test process). Served at
//! `GET /api/v1/health/metrics`. The runbook's five series are:
//!
//! ```text
//! rustchat_http_requests_total{method,route,status}          counter, every HTTP response
//! rustchat_http_request_duration_seconds_bucket{method,route,le}   histogram
//! rustchat_db_pool_saturation_ratio                          gauge, connections in use / max, sampled 4×/s
//! rustchat_websocket_active_connections                      gauge, sampled every second
//! rustchat_circuit_breaker_state_changes_total{breaker,from,to}   every transition at 0 from start
//! ```
//!
//! plus `rustchat_actor_restarts_total{actor}` (every child of the supervisor tree at 0 from start),
//! `rustchat_rate_limit_exceeded_total{limit}`, WebSocket frames in/out and slow consumers,
//! Redis publishes/receives and bus state, cluster peers, database ping latency, posts created and the
//! C allocator's heap (`rustchat_heap_bytes{state=in_use|free}`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, MeterProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, TextEncoder};
use rustchat_actors::breaker::State as BreakerState;
use rustchat_actors::counters::Stage;
use rustchat_actors::session::SessionCounters;
use rustchat_actors::tree::Restarts;

use crate::cluster::bus::BusStats;

/// Every state change a breaker makes (open -> closed: a call admitted before it opened succeeded).
const BREAKER_TRANSITIONS: [(BreakerState, BreakerState); 5] = [
    (BreakerState::Closed, BreakerState::Open),
    (BreakerState::Open, BreakerState::HalfOpen),
    (BreakerState::Open, BreakerState::Closed),
    (BreakerState::HalfOpen, BreakerState::Closed),
    (BreakerState::HalfOpen, BreakerState::Open),
];

/// Buckets fine enough to read p99 around the 500 ms alert threshold.
const LATENCY_BUCKETS: [f64; 16] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0];

pub struct Metrics {
    registry: prometheus::Registry,
    _provider: SdkMeterProvider,
    pub http_requests: Counter<u64>,
    pub http_duration: Histogram<f64>,
    pub db_pool_saturation: Gauge<f64>,
    pub db_ping: Gauge<f64>,
    pub ws_connections: Gauge<i64>,
    pub cluster_peers: Gauge<i64>,
    pub breaker_changes: Counter<u64>,
    pub actor_restarts: Counter<u64>,
    pub rate_limited: Counter<u64>,
    pub posts_created: Counter<u64>,
    pub files_uploaded_bytes: Counter<u64>,
    pub files_downloaded_bytes: Counter<u64>,
    pub storage_errors: Counter<u64>,
    pub fanout_latency: Histogram<f64>,
    /// A channel event's path, stage by stage (`stage`: see [`Stage`]).
    pub post_stages: Histogram<f64>,
    /// Outgoing webhook and slash command calls by `result` (see [`WEBHOOK_RESULTS`]).
    pub webhook_deliveries: Counter<u64>,
    pub webhook_latency: Histogram<f64>,
}

/// How an outgoing call ends: `success` (2xx), `retry` (failed, tried again later), `failed` (given
/// up, or a command's call that failed), `refused` (the SSRF guard said no), `breaker_open` (its
/// host's breaker was open: put off without trying).
pub const WEBHOOK_RESULTS: [&str; 5] = ["success", "retry", "failed", "refused", "breaker_open"];

impl Metrics {
    pub fn new(sessions: Arc<SessionCounters>, bus: Arc<BusStats>) -> anyhow::Result<Self> {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .scope_info_enabled(false)
            .build()?;
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
        let meter = provider.meter("rustchat");

        let counter = |name: &'static str, help: &'static str| meter.u64_counter(name).with_description(help).build();
        let observed = |name: &'static str, help: &'static str, read: Box<dyn Fn() -> u64 + Send + Sync>| {
            meter
                .u64_observable_counter(name)
                .with_description(help)
                .with_callback(move |o| o.observe(read(), &[]))
                .build()
        };
        let s = sessions.clone();
        observed(
            "rustchat_websocket_messages_received",
            "client frames received",
            Box::new(move || s.received.load(Ordering::Relaxed)),
        );
        let s = sessions.clone();
        observed(
            "rustchat_websocket_messages_sent",
            "frames queued to clients",
            Box::new(move || s.sent.load(Ordering::Relaxed)),
        );
        let s = sessions.clone();
        observed(
            "rustchat_websocket_slow_consumers_closed",
            "sockets closed as slow consumers (4008)",
            Box::new(move || s.slow.load(Ordering::Relaxed)),
        );
        let s = sessions.clone();
        observed(
            "rustchat_websocket_read_backs",
            "event-log reads by sockets catching up (resumes, gaps, joins)",
            Box::new(move || s.read_backs.load(Ordering::Relaxed)),
        );
        let s = sessions;
        observed(
            "rustchat_channel_read_backs",
            "event-log reads by channel actors (the log ahead of the bus at a sweep or a bus reconnect, or a gap)",
            Box::new(move || s.channel_read_backs.load(Ordering::Relaxed)),
        );
        let b = bus.clone();
        observed(
            "rustchat_redis_messages_published",
            "messages published on the Redis bus",
            Box::new(move || b.published.load(Ordering::Relaxed)),
        );
        let b = bus.clone();
        observed(
            "rustchat_redis_messages_received",
            "messages received from the Redis bus",
            Box::new(move || b.received.load(Ordering::Relaxed)),
        );
        let b = bus;
        meter
            .i64_observable_gauge("rustchat_redis_bus_connected")
            .with_description("1 while the Redis bus is connected (always 1 without Redis)")
            .with_callback(move |o| o.observe(i64::from(b.connected.load(Ordering::Relaxed)), &[]))
            .build();
        // Read at scrape time: a soak watches these stay flat (scripts/bench soak).
        meter
            .u64_observable_gauge("rustchat_heap_bytes")
            .with_description("the C allocator's heap: in use by the node, or free but still held")
            .with_callback(|o| {
                o.observe(crate::memory::heap_in_use() as u64, &[KeyValue::new("state", "in_use")]);
                o.observe(crate::memory::free_heap() as u64, &[KeyValue::new("state", "free")]);
            })
            .build();

        Ok(Self {
            http_requests: counter("rustchat_http_requests", "HTTP responses by method, route pattern and status"),
            http_duration: meter
                .f64_histogram("rustchat_http_request_duration")
                .with_unit("s")
                .with_description("HTTP request latency")
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build(),
            db_pool_saturation: meter
                .f64_gauge("rustchat_db_pool_saturation_ratio")
                .with_description("database connections in use / pool maximum")
                .build(),
            db_ping: meter
                .f64_gauge("rustchat_db_ping_latency")
                .with_unit("s")
                .with_description("round trip of a trivial query, sampled every 5 s")
                .build(),
            ws_connections: meter
                .i64_gauge("rustchat_websocket_active_connections")
                .with_description("open WebSocket connections on this node")
                .build(),
            cluster_peers: meter
                .i64_gauge("rustchat_cluster_peers")
                .with_description("nodes seen by the heartbeat, this one included")
                .build(),
            breaker_changes: counter("rustchat_circuit_breaker_state_changes", "circuit breaker transitions"),
            actor_restarts: counter(
                "rustchat_actor_restarts",
                "children of the supervisor tree started again after a panic or stop",
            ),
            rate_limited: counter("rustchat_rate_limit_exceeded", "requests refused by a rate limit"),
            posts_created: counter("rustchat_posts_created", "posts created"),
            files_uploaded_bytes: counter("rustchat_files_uploaded_bytes", "bytes of attachments stored"),
            files_downloaded_bytes: counter("rustchat_files_downloaded_bytes", "bytes of attachments sent"),
            storage_errors: counter("rustchat_storage_errors", "file storage operations that failed, by operation"),
            fanout_latency: meter
                .f64_histogram("rustchat_fanout_delivery_latency")
                .with_unit("s")
                .with_description("from a channel event reaching this node to its socket's write queue")
                .with_boundaries(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .build(),
            post_stages: meter
                .f64_histogram("rustchat_post_stage_duration")
                .with_unit("s")
                .with_description(
                    "a channel event's path by stage: commit (created -> committed here), publish (-> Redis \
                     acknowledged), transit (created on its node -> received here from Redis), write (queued on a \
                     socket -> taken by its writer)",
                )
                .with_boundaries(vec![
                    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .build(),
            webhook_deliveries: counter(
                "rustchat_webhook_deliveries",
                "outgoing webhook and slash command calls by result",
            ),
            webhook_latency: meter
                .f64_histogram("rustchat_webhook_delivery_duration")
                .with_unit("s")
                .with_description("time an outgoing webhook or slash command call took, answer or failure")
                .with_boundaries(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
                .build(),
            registry,
            _provider: provider,
        })
    }

    pub fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = [
            KeyValue::new("method", method.to_string()),
            KeyValue::new("route", route.to_string()),
            KeyValue::new("status", status.to_string()),
        ];
        self.http_requests.add(1, &labels);
        self.http_duration.record(seconds, &labels[..2]);
    }

    pub fn record_breaker_change(&self, breaker: &str, from: &str, to: &str) {
        self.add_breaker_changes(breaker, from, to, 1);
    }

    /// Exports every transition `breaker` can make at 0, so the series exist from the first scrape: a
    /// dashboard shows 0 instead of "No data", and `increase()` sees the first change (a counter that
    /// appears at 1 has no earlier sample to increase from).
    pub fn declare_breaker(&self, breaker: &str) {
        for (from, to) in BREAKER_TRANSITIONS {
            self.add_breaker_changes(breaker, from.as_str(), to.as_str(), 0);
        }
    }

    /// A per-target breaker (`oidc:<provider>`) counts under its kind, with the target as `provider`.
    fn add_breaker_changes(&self, breaker: &str, from: &str, to: &str, n: u64) {
        let mut labels = vec![KeyValue::new("from", from.to_string()), KeyValue::new("to", to.to_string())];
        match breaker.split_once(':') {
            Some((kind, target)) => {
                labels.push(KeyValue::new("breaker", kind.to_string()));
                labels.push(KeyValue::new("provider", target.to_string()));
            }
            None => labels.push(KeyValue::new("breaker", breaker.to_string())),
        }
        self.breaker_changes.add(n, &labels);
    }

    fn add_actor_restarts(&self, actor: &'static str, n: u64) {
        self.actor_restarts.add(n, &[KeyValue::new("actor", actor)]);
    }

    /// Exports every webhook result at 0, so the series exist from the first scrape.
    pub fn declare_webhook_results(&self) {
        for result in WEBHOOK_RESULTS {
            self.webhook_deliveries.add(0, &[KeyValue::new("result", result)]);
        }
    }

    pub fn record_webhook(&self, result: &'static str, seconds: Option<f64>) {
        self.webhook_deliveries.add(1, &[KeyValue::new("result", result)]);
        if let Some(s) = seconds {
            self.webhook_latency.record(s, &[]);
        }
    }

    /// Records into the stage histogram; holds the histogram, not the metrics (the counters that hold
    /// it are read by the metrics: no cycle).
    pub fn stage_recorder(&self) -> Box<dyn Fn(Stage, f64) + Send + Sync> {
        let stages = self.post_stages.clone();
        Box::new(move |stage, seconds| stages.record(seconds, &[KeyValue::new("stage", stage.as_str())]))
    }

    pub fn record_rate_limited(&self, limit: &'static str) {
        self.rate_limited.add(1, &[KeyValue::new("limit", limit)]);
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Like the breakers' transitions, each child's count exists at 0 from the first scrape.
impl Restarts for Metrics {
    fn declare(&self, child: &'static str) {
        self.add_actor_restarts(child, 0);
    }

    fn record(&self, child: &'static str) {
        self.add_actor_restarts(child, 1);
    }
}
