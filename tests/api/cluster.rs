//! Several real nodes (separate processes) sharing PostgreSQL and Redis: cross-node fan-out,
//! authorization on every node, resume after a node is killed or restarted, Redis cut off mid-traffic,
//! the cluster-wide connection limit, and the heartbeat.

use std::time::Duration;

use serde_json::json;

use crate::common::ws::assert_contiguous;
use crate::common::{Api, Cluster, Ws, eventually};

const T: Duration = Duration::from_secs(15);

fn token(api: &Api) -> String {
    api.token.clone().unwrap()
}

/// owner, mate and outsider; a private channel with owner and mate.
async fn people(base: &str) -> (Api, Api, Api, String) {
    let owner = Api::register(base, "owner").await;
    let mate = Api::register(base, "mate").await;
    let outsider = Api::register(base, "outsider").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    owner.add_to_team(&team, &outsider.user_id).await;
    let private = owner.create_channel(&team, "core", "private").await;
    owner.add_to_channel(&private, &mate.user_id).await;
    (owner, mate, outsider, private)
}

async fn last_seq(api: &Api, channel: &str) -> i64 {
    api.get(&format!("/api/v1/channels/{channel}")).await.expect(200)["last_seq"].as_i64().unwrap()
}

#[tokio::test]
async fn a_post_on_one_node_reaches_members_on_every_node_in_order_and_no_one_else() {
    let Some(cluster) = Cluster::start(3, &[]).await else { return };
    let (owner, mate, outsider, private) = people(&cluster.base(0)).await;
    let mut mate_b = Ws::connect(&cluster.base(1), &token(&mate)).await;
    let mut mate_c = Ws::connect(&cluster.base(2), &token(&mate)).await;
    let mut outsider_b = Ws::connect(&cluster.base(1), &token(&outsider)).await;
    let dm = owner.post("/api/v1/channels/direct", json!({"user_id": mate.user_id})).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_string();

    let start = last_seq(&owner, &private).await;
    // Writers on every node, interleaved.
    for i in 0..30 {
        let writer = (if i % 2 == 0 { &owner } else { &mate }).on(&cluster.base(i % 3));
        writer.say(&private, &format!("m{i}")).await;
    }
    owner.say(&dm, "direct").await;
    let dm_seq = owner.get(&format!("/api/v1/channels/{dm}")).await.expect(200)["last_seq"].as_i64().unwrap();
    for ws in [&mut mate_b, &mut mate_c] {
        let got = ws.until_seq(&private, start + 30, T).await;
        assert_contiguous(&got, start + 1);
        let texts: Vec<_> = got.iter().map(|e| e["data"]["post"]["message"].as_str().unwrap().to_string()).collect();
        assert_eq!(texts, (0..30).map(|i| format!("m{i}")).collect::<Vec<_>>());
        // Order is per channel: the DM's post may come before or after these.
        let direct = ws.until_seq(&dm, dm_seq, T).await;
        assert_eq!(direct.last().unwrap()["data"]["post"]["message"], "direct");
    }
    // The outsider's socket is alive (a post in a channel they are in arrives) yet saw nothing private.
    let team_open = owner.get("/api/v1/teams").await.expect(200)[0]["id"].as_str().unwrap().to_string();
    let lobby = owner.create_channel(&team_open, "lobby", "public").await;
    outsider.add_to_channel(&lobby, &outsider.user_id).await;
    owner.on(&cluster.base(2)).say(&lobby, "hello all").await;
    outsider_b.expect("posted", T).await;
    assert!(
        outsider_b.seen.iter().all(|e| e["channel_id"] != private.as_str() && e["channel_id"] != dm.as_str()),
        "a non-member received private events"
    );

    // The runbook: `redis-cli PUBSUB CHANNELS | grep rustchat` lists our topics (here, our prefix).
    let client = redis::Client::open(crate::common::redis_url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let topics: Vec<String> =
        redis::cmd("PUBSUB").arg("CHANNELS").arg(format!("{}:*", cluster.prefix)).query_async(&mut c).await.unwrap();
    assert!(topics.contains(&format!("{}:ch:{private}", cluster.prefix)), "{topics:?}");
}

#[tokio::test]
async fn a_member_whose_node_is_killed_resumes_on_another_node_without_loss_or_duplicates() {
    let Some(mut cluster) = Cluster::start(3, &[]).await else { return };
    let (owner, mate, _, private) = people(&cluster.base(0)).await;
    let mut ws = Ws::connect(&cluster.base(1), &token(&mate)).await;
    let start = last_seq(&owner, &private).await;
    for i in 0..5 {
        owner.say(&private, &format!("before {i}")).await;
    }
    let before = ws.until_seq(&private, start + 5, T).await;
    assert_contiguous(&before, start + 1);
    let had = ws.max_seq(&private);

    cluster.kill9(1);
    assert!(matches!(ws.read(T).await, crate::common::ws::Read::Closed(_)), "the socket dies with its node");
    for i in 0..7 {
        owner.say(&private, &format!("after {i}")).await;
    }
    let mut again = Ws::connect(&cluster.base(2), &token(&mate)).await;
    again.send(json!({"action": "resume", "since": { private.clone(): had }})).await;
    let replay = again.until_seq(&private, had + 7, T).await;
    assert_contiguous(&replay, had + 1);
    owner.on(&cluster.base(0)).say(&private, "live").await;
    assert_contiguous(&again.until_seq(&private, had + 8, T).await, had + 1);

    // The killed node comes back and serves again.
    cluster.restart(1).await;
    let mut back = Ws::connect(&cluster.base(1), &token(&mate)).await;
    owner.say(&private, "after restart").await;
    back.until_seq(&private, had + 9, T).await;
}

#[tokio::test]
async fn redis_cut_off_during_traffic_loses_nothing_once_it_returns() {
    let Some(cluster) = Cluster::start_behind_proxy(2, &[]).await else { return };
    let proxy = cluster.redis_proxy.clone().unwrap();
    let (owner, mate, _, private) = people(&cluster.base(0)).await;
    let mut remote = Ws::connect(&cluster.base(1), &token(&mate)).await;
    let mut local = Ws::connect(&cluster.base(0), &token(&mate)).await;
    let start = last_seq(&owner, &private).await;
    owner.say(&private, "before the cut").await;
    remote.until_seq(&private, start + 1, T).await;

    proxy.cut();
    let ready = eventually(T, "readiness to name redis", || async {
        let r = reqwest::get(format!("{}/api/v1/health/ready", cluster.base(1))).await.ok()?;
        let status = r.status();
        let body: serde_json::Value = r.json().await.ok()?;
        (status == 503 && body["checks"]["redis"]["status"] == "error").then_some(body)
    })
    .await;
    assert_eq!(ready["checks"]["database"]["status"], "ok");
    for i in 0..10 {
        owner.say(&private, &format!("during {i}")).await;
    }
    // Local fan-out keeps working without Redis.
    local.until_seq(&private, start + 11, T).await;

    proxy.restore();
    let got = remote.until_seq(&private, start + 11, Duration::from_secs(30)).await;
    assert_contiguous(&got, start + 1);
    owner.say(&private, "after").await;
    assert_contiguous(&remote.until_seq(&private, start + 12, T).await, start + 1);
    cluster.wait_ready(1).await;
}

#[tokio::test]
async fn the_per_user_connection_limit_holds_across_nodes() {
    let Some(cluster) = Cluster::start(2, &[]).await else { return };
    let admin = Api::register(&cluster.base(0), "admin").await;
    let user = Api::register(&cluster.base(0), "busy").await;
    admin.patch("/api/v1/admin/config/site", json!({"max_simultaneous_connections": 2})).await.expect(200);
    // Node 1 learns the new limit within the refresh interval.
    let limit_seen = async {
        let mut probe = Vec::new();
        loop {
            let a = Ws::connect(&cluster.base(0), &token(&user)).await;
            let b = Ws::connect(&cluster.base(1), &token(&user)).await;
            let mut c = Ws::try_connect(&cluster.base(1), Some(&token(&user))).await.unwrap();
            match c.read(Duration::from_secs(5)).await {
                crate::common::ws::Read::Closed(Some((code, reason))) => return (code, reason, a, b),
                _ => {
                    probe.push((a, b, c));
                    for (a, b, c) in probe.drain(..) {
                        a.close().await;
                        b.close().await;
                        c.close().await;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    };
    let (code, reason, a, _b) =
        tokio::time::timeout(Duration::from_secs(40), limit_seen).await.expect("limit not enforced");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("Too many connections"), "{reason}");
    cluster
        .wait_log(1, "a 'Too many connections' log line", |l| {
            l["message"].as_str().unwrap_or("").contains("Too many connections")
        })
        .await;

    // Freeing a slot on one node makes room on the other.
    a.close().await;
    eventually(T, "a slot to free up", || async {
        let mut ws = Ws::try_connect(&cluster.base(1), Some(&token(&user))).await.ok()?;
        match ws.read(Duration::from_secs(2)).await {
            crate::common::ws::Read::Event(e) if e["event"] == "hello" => Some(()),
            _ => None,
        }
    })
    .await;
}

#[tokio::test]
async fn the_heartbeat_logs_peers_joining_and_leaving() {
    let Some(mut cluster) = Cluster::start(2, &[]).await else { return };
    cluster
        .wait_log(0, "node-0 to see node-1 join", |l| {
            l["message"].as_str().unwrap_or("").contains("cluster heartbeat") && l["fields"]["peer"] == "node-1"
        })
        .await;
    assert_eq!(cluster.stop(1).await, Some(0));
    let left = cluster
        .wait_log(0, "node-0 to see node-1 leave", |l| {
            l["message"].as_str().unwrap_or("").contains("cluster heartbeat: peer left")
                && l["fields"]["peer"] == "node-1"
        })
        .await;
    assert_eq!(left["level"], "WARN");
}

#[tokio::test]
async fn sigterm_closes_sockets_with_1012_and_clients_resume_on_another_node() {
    let Some(mut cluster) = Cluster::start(2, &[]).await else { return };
    let (owner, mate, _, private) = people(&cluster.base(0)).await;
    let mut ws = Ws::connect(&cluster.base(1), &token(&mate)).await;
    let start = last_seq(&owner, &private).await;
    owner.say(&private, "one").await;
    ws.until_seq(&private, start + 1, T).await;

    let stopping = tokio::spawn(async move {
        let code = cluster.stop(1).await;
        (code, cluster)
    });
    let (code, reason) = ws.expect_close(T).await;
    assert_eq!(code, 1012, "{reason}");
    let (exit, cluster) = stopping.await.unwrap();
    assert_eq!(exit, Some(0));

    owner.say(&private, "two").await;
    let mut again = Ws::connect(&cluster.base(0), &token(&mate)).await;
    again.send(json!({"action": "resume", "since": { private.clone(): start + 1 }})).await;
    let replay = again.until_seq(&private, start + 2, T).await;
    assert_contiguous(&replay, start + 2);
}
