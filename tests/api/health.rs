//! Liveness and readiness, on both databases, with dependencies up and down.

use std::time::Duration;

use crate::common::{Db, TcpProxy, TestDb, eventually, redis_available, redis_url, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    liveness_reports_status_version_and_uptime,
    readiness_names_each_check,
    unknown_routes_answer_the_json_error_body
);

async fn liveness_reports_status_version_and_uptime(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (status, body) = app.get_json("/api/v1/health/live").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64(), "{body}");
}

async fn readiness_names_each_check(db: Db) {
    if !redis_available().await {
        return;
    }
    let Some(app) = spawn_app(db, &[("RUSTCHAT_REDIS_URL", &redis_url())]).await else {
        return;
    };
    let (status, body) = app.get_json("/api/v1/health/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    for check in ["database", "redis"] {
        assert_eq!(body["checks"][check]["status"], "ok", "{body}");
        assert!(body["checks"][check]["latency_ms"].is_number(), "{body}");
    }
}

async fn unknown_routes_answer_the_json_error_body(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (status, body) = app.get_json("/api/v1/no/such/thing").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].is_string());
}

#[tokio::test]
async fn readiness_is_503_naming_the_database_while_it_is_unreachable_and_recovers() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // Migrate first through a direct URL; then run the node through a proxy we can cut.
    let pg = url::Url::parse(&db.url).unwrap();
    let proxy = TcpProxy::start(format!("{}:{}", pg.host_str().unwrap(), pg.port().unwrap_or(5432))).await;
    let mut via_proxy = pg.clone();
    via_proxy.set_port(Some(proxy.port)).unwrap();
    let Some(app) =
        crate::common::spawn_app_on(via_proxy.as_ref(), &[("RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS", "500")]).await
    else {
        return;
    };
    assert_eq!(app.get("/api/v1/health/ready").await.status(), 200);

    proxy.cut();
    let body = eventually(Duration::from_secs(10), "readiness 503", || async {
        let (status, body) = app.get_json("/api/v1/health/ready").await;
        (status == 503).then_some(body)
    })
    .await;
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["database"]["status"], "error", "{body}");
    assert!(body["checks"]["database"]["error"].is_string());
    assert_eq!(app.get("/api/v1/health/live").await.status(), 200, "liveness must not follow a dependency");

    proxy.restore();
    eventually(Duration::from_secs(15), "readiness to recover", || async {
        (app.get("/api/v1/health/ready").await.status() == 200).then_some(())
    })
    .await;
    drop(db);
}

#[tokio::test]
async fn a_node_starts_while_redis_is_unreachable_and_reports_it_not_ready() {
    let dead_redis = format!("redis://127.0.0.1:{}", crate::common::process::free_port());
    let Some(app) = spawn_app(Db::Sqlite, &[("RUSTCHAT_REDIS_URL", &dead_redis)]).await else {
        return;
    };
    let (status, body) = app.get_json("/api/v1/health/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["redis"]["status"], "error");
    assert_eq!(body["checks"]["database"]["status"], "ok");
}

#[tokio::test]
async fn a_node_started_without_redis_joins_the_cluster_by_itself_when_redis_appears() {
    if !redis_available().await {
        return;
    }
    let target = url::Url::parse(&redis_url()).unwrap();
    let proxy = TcpProxy::start(format!("{}:{}", target.host_str().unwrap(), target.port().unwrap_or(6379))).await;
    proxy.cut();
    let prefix = format!("rctest-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let url = format!("redis://127.0.0.1:{}", proxy.port);
    let Some(app) = spawn_app(Db::Sqlite, &[("RUSTCHAT_REDIS_URL", &url), ("RUSTCHAT_REDIS_PREFIX", &prefix)]).await
    else {
        return;
    };
    let (status, body) = app.get_json("/api/v1/health/ready").await;
    assert_eq!((status, &body["checks"]["redis"]["status"]), (503, &serde_json::json!("error")), "{body}");
    assert_eq!(app.get("/api/v1/health/live").await.status(), 200, "it serves what it can");

    proxy.restore();
    eventually(Duration::from_secs(20), "readiness once Redis answers", || async {
        (app.get("/api/v1/health/ready").await.status() == 200).then_some(())
    })
    .await;
    // The heartbeat announces the node under the configured prefix.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let nodes: Vec<String> = eventually(Duration::from_secs(20), "the node's heartbeat in Redis", || {
        let mut c = c.clone();
        let key = format!("{prefix}:nodes");
        async move {
            let ids: Vec<String> = redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).query_async(&mut c).await.ok()?;
            (!ids.is_empty()).then_some(ids)
        }
    })
    .await;
    assert_eq!(nodes, ["test-node"]);
    let _: () = redis::cmd("DEL")
        .arg(format!("{prefix}:nodes"))
        .arg(format!("{prefix}:node:test-node"))
        .query_async(&mut c)
        .await
        .unwrap();
}
