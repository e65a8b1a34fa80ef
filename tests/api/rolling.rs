//! The runbook's rolling update, for real on one machine: three nodes behind HAProxy.
//!
//! Three node processes (shared PostgreSQL and Redis) behind HAProxy, clients posting through it
//! continuously and WebSocket members connected through it. For each node in turn, as the runbook:
//! check readiness, drain it at the balancer (HAProxy's runtime API), stop it with SIGTERM, start it
//! again, wait for readiness, enable it. Then: no failed request, every socket back and resumed, every
//! acknowledged post delivered exactly once and in order to every member.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Mutex;

use crate::common::ws::Read;
use crate::common::{Api, Balancer, Cluster, Ws};

/// A member's socket that reconnects through the balancer and resumes, forever, recording all it sees.
async fn member(
    base: String,
    token: String,
    channel: String,
    stop: Arc<AtomicBool>,
    reconnects: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<i64>>>,
) {
    let mut last = 0i64;
    while !stop.load(Ordering::SeqCst) {
        let Ok(mut ws) = Ws::try_connect(&base, Some(&token)).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        match ws.read(Duration::from_secs(5)).await {
            Read::Event(e) if e["event"] == "hello" => {}
            _ => continue,
        }
        if last > 0 {
            ws.send(json!({"action": "resume", "since": { channel.clone(): last }})).await;
        }
        loop {
            match ws.read(Duration::from_millis(200)).await {
                Read::Event(e) => {
                    if e["channel_id"] == channel.as_str() && e["event"] == "posted" {
                        let seq = e["seq"].as_i64().unwrap();
                        seen.lock().await.push(seq);
                        last = last.max(seq);
                    } else if e["channel_id"] == channel.as_str() && e["seq"].as_i64().unwrap_or(0) > 0 {
                        last = last.max(e["seq"].as_i64().unwrap());
                    }
                }
                Read::TimedOut => {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                }
                Read::Closed(_) => {
                    reconnects.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_behind_a_draining_balancer_loses_nothing() {
    let Some(mut cluster) = Cluster::start(3, &[("RUSTCHAT_SHUTDOWN_DRAIN_SECONDS", "1")]).await else { return };
    let ports: Vec<u16> = (0..3).map(|i| cluster.base(i).rsplit(':').next().unwrap().parse().unwrap()).collect();
    let Some(lb) = Balancer::start(&ports) else { return };
    let base = lb.base();
    crate::common::eventually(Duration::from_secs(20), "the balancer to see three ready nodes", || async {
        let states = lb.admin("show servers state be").await;
        (states.lines().filter(|l| l.contains(" node") && l.split_whitespace().nth(5) == Some("2")).count() == 3)
            .then_some(())
    })
    .await;

    let owner = Api::register(&base, "owner").await;
    let team = owner.create_team("acme", true).await;
    let channel = owner.create_channel(&team, "ops", "public").await;
    let stop = Arc::new(AtomicBool::new(false));
    let reconnects = Arc::new(AtomicU64::new(0));
    let mut members = Vec::new();
    for i in 0..3 {
        let m = Api::register(&base, &format!("member{i}")).await;
        m.post(&format!("/api/v1/teams/{team}/join"), json!({})).await.expect(200);
        m.add_to_channel(&channel, &m.user_id).await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(member(
            base.clone(),
            m.token.clone().unwrap(),
            channel.clone(),
            stop.clone(),
            reconnects.clone(),
            seen.clone(),
        ));
        members.push((seen, task));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Posters: continuously, through the balancer, counting every request and every failure.
    let requests = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let posting = Arc::new(AtomicBool::new(true));
    let mut posters = Vec::new();
    for _ in 0..2 {
        let (owner, channel, requests, failures, acked, posting) =
            (owner.clone(), channel.clone(), requests.clone(), failures.clone(), acked.clone(), posting.clone());
        posters.push(tokio::spawn(async move {
            let mut n = 0;
            while posting.load(Ordering::SeqCst) {
                n += 1;
                requests.fetch_add(1, Ordering::SeqCst);
                let url = format!("{}/api/v1/channels/{channel}/posts", owner.base);
                let sent = owner
                    .http
                    .post(url)
                    .bearer_auth(owner.token.as_deref().unwrap())
                    .json(&json!({"message": format!("p{n}")}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 201 => {
                        let body: serde_json::Value = r.json().await.unwrap();
                        acked.lock().await.insert(body["seq"].as_i64().unwrap());
                    }
                    other => {
                        failures.fetch_add(1, Ordering::SeqCst);
                        eprintln!("failed post: {:?}", other.map(|r| r.status()));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    for i in 0..3 {
        for j in 0..3 {
            if j != i {
                let r = reqwest::get(format!("{}/api/v1/health/ready", cluster.base(j))).await.unwrap();
                assert_eq!(r.status(), 200, "node {j} not ready before updating node {i}");
            }
        }
        lb.admin(&format!("set server be/node{i} state drain")).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(cluster.stop(i).await, Some(0), "node {i} exit code");
        cluster.restart(i).await;
        lb.admin(&format!("set server be/node{i} state ready")).await;
        crate::common::eventually(Duration::from_secs(20), "the balancer to take the node back", || async {
            (lb.server_state(i).await.split_whitespace().nth(5) == Some("2")).then_some(())
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    posting.store(false, Ordering::SeqCst);
    for p in posters {
        p.await.unwrap();
    }

    let acked: Vec<i64> = acked.lock().await.iter().copied().collect();
    let last = *acked.last().unwrap();
    let mut lost = 0;
    let mut duplicated = 0;
    let mut reordered = 0;
    for (seen, _) in &members {
        crate::common::eventually(Duration::from_secs(30), "every member to catch up", || async {
            (seen.lock().await.iter().copied().max() == Some(last)).then_some(())
        })
        .await;
    }
    stop.store(true, Ordering::SeqCst);
    for (i, (seen, task)) in members.into_iter().enumerate() {
        task.await.unwrap();
        let seen = seen.lock().await.clone();
        let unique: BTreeSet<i64> = seen.iter().copied().collect();
        duplicated += seen.len() - unique.len();
        lost += acked.iter().filter(|s| !unique.contains(s)).count();
        if !seen.windows(2).all(|w| w[0] < w[1]) {
            eprintln!("member {i} received posts out of order");
            reordered += 1;
        }
    }
    println!(
        "rolling restart summary: requests {}, failures {}, reconnects {}, posts {}, lost {lost}, duplicated {duplicated}, reordered {reordered}",
        requests.load(Ordering::SeqCst),
        failures.load(Ordering::SeqCst),
        reconnects.load(Ordering::SeqCst),
        acked.len()
    );
    assert_eq!(failures.load(Ordering::SeqCst), 0, "failed HTTP requests");
    assert_eq!((lost, duplicated, reordered), (0, 0, 0));
    assert!(reconnects.load(Ordering::SeqCst) >= 3, "every member's node was restarted at least once");
}
