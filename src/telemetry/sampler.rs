//! Keeps the gauges current whether or not anyone scrapes: pool saturation 4× a second, WebSocket
//! connections and cluster peers every second, database ping latency every 5 seconds (which also
//! probes the database breaker back to closed once the database returns).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::AppState;

pub async fn run(state: Arc<AppState>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let metrics = &state.metrics;
        metrics.db_pool_saturation.record(state.store.pool_stats().saturation(), &[]);
        if n.is_multiple_of(4) {
            let counts = state.realtime.counts().await;
            metrics.ws_connections.record(counts.connections as i64, &[]);
            let peers = state.realtime.peers.read().map(|p| p.len()).unwrap_or(0);
            metrics.cluster_peers.record(peers as i64, &[]);
        }
        if n.is_multiple_of(20)
            && let Ok(latency) = state.store.ping(Duration::from_secs(2)).await
        {
            metrics.db_ping.record(latency.as_secs_f64(), &[]);
        }
        n = n.wrapping_add(1);
    }
}
