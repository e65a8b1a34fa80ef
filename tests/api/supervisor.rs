//! The supervisor tree: every child of a node's tree is made to panic (through the test-only fault
//! endpoint, `RUSTCHAT_TEST_FAULTS=1`) while two real nodes serve; the node keeps serving (posts over
//! HTTP, delivery over WebSockets on both nodes) and the child comes back, logged and counted in
//! `rustchat_actor_restarts_total{actor}`.

use std::time::Duration;

use serde_json::Value;

use crate::common::ws::assert_contiguous;
use crate::common::{Api, Cluster, Db, Ws, eventually, spawn_app};
use crate::operability::sample;

const T: Duration = Duration::from_secs(15);
const FAULTS: [(&str, &str); 1] = [("RUSTCHAT_TEST_FAULTS", "1")];
const CHILDREN: [&str; 5] = ["router", "heartbeat", "presence", "channel", "bus"];

async fn restarts(base: &str, actor: &str) -> Option<f64> {
    let scrape = reqwest::get(format!("{base}/api/v1/health/metrics")).await.ok()?.text().await.ok()?;
    sample(&scrape, "rustchat_actor_restarts_total", &[("actor", actor)])
}

async fn crash(base: &str, child: &str) -> reqwest::StatusCode {
    reqwest::Client::new().post(format!("{base}/api/v1/test/faults/{child}")).send().await.unwrap().status()
}

/// When node `of` last announced itself, as node `seen_by` sees the cluster.
async fn last_seen(cluster: &Cluster, seen_by: usize, of: &str) -> Option<i64> {
    let stats: Value =
        reqwest::get(format!("{}/api/v1/health/stats", cluster.base(seen_by))).await.ok()?.json().await.ok()?;
    stats["cluster"].as_array()?.iter().find(|n| n["node_id"] == of)?["last_seen"].as_i64()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn each_child_of_the_tree_that_panics_comes_back_while_the_node_keeps_serving() {
    let Some(cluster) = Cluster::start(2, &FAULTS).await else { return };
    let (a, b) = (cluster.base(0), cluster.base(1));
    let owner = Api::register(&a, "owner").await;
    let mate = Api::register(&a, "mate").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    let channel = owner.create_channel(&team, "core", "private").await;
    owner.add_to_channel(&channel, &mate.user_id).await;
    let token = mate.token.clone().unwrap();
    // The mate listens on both nodes; the crashes happen on node 0.
    let mut local = Ws::connect(&a, &token).await;
    let mut remote = Ws::connect(&b, &token).await;
    let first = owner.get(&format!("/api/v1/channels/{channel}")).await.expect(200)["last_seq"].as_i64().unwrap() + 1;
    let mut seq = first - 1;

    for child in CHILDREN {
        assert_eq!(restarts(&a, child).await, Some(0.0), "{child} is counted at 0 before any crash");
    }
    for child in CHILDREN {
        let crashed_at = unix_now();
        assert_eq!(crash(&a, child).await, 202, "{child}");
        eventually(T, &format!("{child}'s restart to be counted"), || async {
            restarts(&a, child).await.filter(|n| *n >= 1.0)
        })
        .await;
        cluster
            .wait_log(0, &format!("{child}'s restart to be logged"), |l| {
                l["fields"]["actor"] == child && l["fields"]["restarts"] == 1 && l["level"] == "ERROR"
            })
            .await;

        // Writers on both nodes; both of the mate's sockets get every event, in order.
        for (i, base) in [&a, &b].into_iter().enumerate() {
            owner.on(base).say(&channel, &format!("after {child} crashed, via node {i}")).await;
            seq += 1;
        }
        for ws in [&mut local, &mut remote] {
            assert_contiguous(&ws.until_seq(&channel, seq, T).await, first);
        }
        if child == "heartbeat" {
            eventually(Duration::from_secs(20), "node-0 to announce itself again", || async {
                last_seen(&cluster, 1, "node-0").await.filter(|t| *t > crashed_at)
            })
            .await;
        }
        // The router answers again: stats count the node's connections through it.
        let stats: Value = reqwest::get(format!("{a}/api/v1/health/stats")).await.unwrap().json().await.unwrap();
        assert_eq!(stats["websocket_connections"], 1, "{child}: {stats}");
    }
    for child in CHILDREN {
        assert!(restarts(&a, child).await >= Some(1.0), "{child}");
        assert_eq!(restarts(&b, child).await, Some(0.0), "{child} on the other node never crashed");
    }
    assert_eq!(crash(&a, "nobody").await, 404);
}

#[tokio::test]
async fn without_the_variable_there_is_no_fault_endpoint() {
    let Some(app) = spawn_app(Db::Sqlite, &[]).await else { return };
    assert_eq!(crash(&app.address, "router").await, 404);
    let Some(armed) = spawn_app(Db::Sqlite, &FAULTS).await else { return };
    assert_eq!(crash(&armed.address, "nobody").await, 404);
    assert_eq!(restarts(&armed.address, "router").await, Some(0.0));
}
