//! SIGTERM: readiness fails at once, the node keeps serving through the drain period, then exits 0.

use std::time::{Duration, Instant};

use crate::common::NodeProcess;
use crate::common::process::free_port;

#[tokio::test]
async fn sigterm_fails_readiness_at_once_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let mut node = NodeProcess::start(
        dir.path(),
        &[("RUSTCHAT_SERVER_PORT", &port), ("RUSTCHAT_LOG_FORMAT", "json"), ("RUSTCHAT_SHUTDOWN_DRAIN_SECONDS", "2")],
    );
    let ready = format!("http://127.0.0.1:{port}/api/v1/health/ready");
    let client = reqwest::Client::new();
    crate::common::eventually(Duration::from_secs(30), "readiness 200", || async {
        let r = client.get(&ready).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;

    let sent = Instant::now();
    node.signal(libc::SIGTERM);
    let body: serde_json::Value =
        crate::common::eventually(Duration::from_secs(2), "readiness 503 while draining", || async {
            let r = client.get(&ready).send().await.ok()?;
            if r.status() == 503 { r.json().await.ok() } else { None }
        })
        .await;
    assert!(sent.elapsed() < Duration::from_secs(2), "readiness did not fail within the drain period");
    assert_eq!(body["status"], "draining");
    assert_eq!(body["draining"], true);

    let status = tokio::task::spawn_blocking(move || {
        let status = node.wait_exit(Duration::from_secs(20));
        node.wait_for_output_end();
        (status, node.json_lines())
    })
    .await
    .unwrap();
    let (status, lines) = status;
    let status = status.expect("the node did not exit after SIGTERM");
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    assert!(lines.iter().any(|l| l["message"] == "rustchat node stopped"), "no final log line");
}

/// A request in flight when SIGTERM arrives still gets its answer before the node exits.
#[tokio::test]
async fn in_flight_requests_finish_after_sigterm() {
    use sqlx::Connection;

    use crate::common::{Api, TestDb};

    let Some(db) = TestDb::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let mut node = NodeProcess::start(
        dir.path(),
        &[
            ("RUSTCHAT_DATABASE_URL", &db.url),
            ("RUSTCHAT_SERVER_PORT", &port),
            ("RUSTCHAT_SHUTDOWN_GRACE_SECONDS", "20"),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    crate::common::eventually(Duration::from_secs(30), "the node to answer", || async {
        reqwest::get(format!("{base}/api/v1/health/live")).await.ok().filter(|r| r.status() == 200)
    })
    .await;
    let user = Api::register(&base, "slowpoke").await;

    let mut locker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE;").execute(&mut locker).await.unwrap();
    let in_flight = tokio::spawn({
        let user = user.clone();
        async move { user.get("/api/v1/users/me").await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!in_flight.is_finished(), "the request should be waiting on the lock");
    node.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(node.wait_exit(Duration::ZERO).is_none(), "the node exited with a request in flight");
    sqlx::raw_sql("ROLLBACK").execute(&mut locker).await.unwrap();

    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let status = tokio::task::spawn_blocking(move || node.wait_exit(Duration::from_secs(20))).await.unwrap();
    assert_eq!(status.expect("no exit after the last request finished").code(), Some(0));
}
