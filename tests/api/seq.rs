//! The per-channel sequence under contention: concurrent posters on PostgreSQL get distinct, gap-free
//! seqs, the event log holds exactly those in commit order, and a post the database refuses fails alone.

use std::collections::BTreeSet;

use sqlx::Connection;

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

/// A post the database refuses (here a trigger an operator added) fails on its own, taking no seq:
/// the posts that arrived with it are written with gap-free seqs.
#[tokio::test]
async fn a_post_the_database_refuses_fails_alone() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else {
        return;
    };
    let mut c = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.message LIKE 'refuse me%' THEN RAISE EXCEPTION 'refused by a trigger'; END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_marked BEFORE INSERT ON posts FOR EACH ROW EXECUTE FUNCTION refuse_marked();",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let admin = Api::register(&app.address, "admin").await;
    let team = admin.create_team("load", true).await;
    let channel = admin.create_channel(&team, "firehose", "public").await;
    let start_seq = admin.get(&format!("/api/v1/channels/{channel}")).await.expect(200)["last_seq"].as_i64().unwrap();

    let messages: Vec<String> =
        (0..40).map(|i| if i % 10 == 5 { format!("refuse me {i}") } else { format!("post {i}") }).collect();
    let replies =
        futures_util::future::join_all(messages.iter().map(|m| {
            let (admin, channel) = (&admin, &channel);
            async move {
                admin.post(&format!("/api/v1/channels/{channel}/posts"), serde_json::json!({ "message": m })).await
            }
        }))
        .await;
    let mut seqs = BTreeSet::new();
    for (message, reply) in messages.iter().zip(replies) {
        if message.starts_with("refuse me") {
            assert_eq!((reply.status, reply.code()), (500, "internal"), "{message}: {:?}", reply.body);
        } else {
            seqs.insert(reply.expect(201)["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(seqs.into_iter().collect::<Vec<_>>(), (start_seq + 1..=start_seq + 36).collect::<Vec<_>>());
    let last_seq = admin.get(&format!("/api/v1/channels/{channel}")).await.expect(200)["last_seq"].as_i64().unwrap();
    assert_eq!(last_seq, start_seq + 36, "a refused post takes no seq");
}
