//! The per-channel sequence under contention: 200 concurrent posters on PostgreSQL get 200 distinct,
//! gap-free seqs, and the event log holds exactly those, in commit order.

use std::collections::BTreeSet;

use crate::common::{Api, Db, spawn_app};

#[tokio::test]
async fn two_hundred_concurrent_posters_get_gap_free_unique_seqs() {
    let Some(app) =
        spawn_app(Db::Postgres, &[("RUSTCHAT_SERVER_WORKERS", "2"), ("RUSTCHAT_DB_POOL__MAX_CONNECTIONS", "20")]).await
    else {
        return;
    };
    let admin = Api::register(&app.address, "admin").await;
    let team = admin.create_team("load", true).await;
    let channel = admin.create_channel(&team, "firehose", "public").await;
    let start_seq = admin.get(&format!("/api/v1/channels/{channel}")).await.expect(200)["last_seq"].as_i64().unwrap();

    // Register posters a few at a time (password hashing is deliberately slow), then post all at once.
    let mut posters = Vec::new();
    for chunk in (0..200).collect::<Vec<_>>().chunks(20) {
        let batch = chunk.iter().map(|i| {
            let base = app.address.clone();
            let team = team.clone();
            let channel = channel.clone();
            async move {
                let u = Api::register(&base, &format!("poster{i}")).await;
                u.post(&format!("/api/v1/teams/{team}/join"), serde_json::json!({})).await.expect(200);
                u.add_to_channel(&channel, &u.user_id).await;
                u
            }
        });
        posters.extend(futures_util::future::join_all(batch).await);
    }
    let joined_seq = admin.get(&format!("/api/v1/channels/{channel}")).await.expect(200)["last_seq"].as_i64().unwrap();
    assert_eq!(joined_seq, start_seq + 200, "each join is one event");

    let posts = posters.iter().enumerate().map(|(i, u)| {
        let channel = channel.clone();
        async move { u.say(&channel, &format!("post {i}")).await["seq"].as_i64().unwrap() }
    });
    let seqs: Vec<i64> = futures_util::future::join_all(posts).await;
    let distinct: BTreeSet<i64> = seqs.iter().copied().collect();
    assert_eq!(distinct.len(), 200, "duplicate seqs handed out");
    assert_eq!(*distinct.first().unwrap(), joined_seq + 1);
    assert_eq!(*distinct.last().unwrap(), joined_seq + 200, "a gap in seq");

    let mut log = Vec::new();
    let mut after = joined_seq;
    loop {
        let page =
            admin.get(&format!("/api/v1/channels/{channel}/events?after_seq={after}&limit=200")).await.expect(200);
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap()["seq"].as_i64().unwrap();
        log.extend(page);
    }
    let logged: Vec<i64> = log.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(logged, (joined_seq + 1..=joined_seq + 200).collect::<Vec<_>>());
    assert!(log.iter().all(|e| e["event"] == "posted"));
}
