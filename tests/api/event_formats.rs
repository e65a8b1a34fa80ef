//! Channel events across releases. The log and the bus carry a change in no protocol's shape (format
//! 2); the v1 face renders it. A database written by release 0.3 (format 1: the rows below were
//! captured from it, with the REST list and WebSocket replay it served for them) must replay exactly as
//! 0.3 served it, and rows this release writes must still carry every v1 field where 0.3 put it, so
//! nodes of 0.3 render them correctly during a rolling upgrade.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;

use crate::common::ws::Ws;
use crate::common::{Api, Db, spawn_app};

const FIXTURE: &str = include_str!("../fixtures/events-0.3.json");

/// Writes rows into `channel`'s log as release 0.3 did: no `format` column value (the migration's
/// default, 1), `data` as it stored it.
async fn write_as_release_0_3(db_url: &str, db: Db, channel: uuid::Uuid, rows: &[Value]) {
    let last = rows.last().unwrap()["seq"].as_i64().unwrap();
    match db {
        Db::Postgres => {
            let mut c = sqlx::PgConnection::connect(db_url).await.unwrap();
            sqlx::query("DELETE FROM channel_events WHERE channel_id = $1")
                .bind(channel)
                .execute(&mut c)
                .await
                .unwrap();
            for r in rows {
                sqlx::query(
                    "INSERT INTO channel_events (channel_id, seq, kind, data, created_at)
                     VALUES ($1, $2, $3, $4::jsonb, $5::timestamptz)",
                )
                .bind(channel)
                .bind(r["seq"].as_i64().unwrap())
                .bind(r["kind"].as_str().unwrap())
                .bind(r["data"].to_string())
                .bind(r["created_at"].as_str().unwrap())
                .execute(&mut c)
                .await
                .unwrap();
            }
            sqlx::query("UPDATE channels SET last_seq = $2 WHERE id = $1")
                .bind(channel)
                .bind(last)
                .execute(&mut c)
                .await
                .unwrap();
        }
        Db::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(db_url).await.unwrap();
            sqlx::query("DELETE FROM channel_events WHERE channel_id = $1")
                .bind(channel)
                .execute(&mut c)
                .await
                .unwrap();
            for r in rows {
                sqlx::query(
                    "INSERT INTO channel_events (channel_id, seq, kind, data, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(channel)
                .bind(r["seq"].as_i64().unwrap())
                .bind(r["kind"].as_str().unwrap())
                .bind(r["data"].to_string())
                .bind(r["created_at"].as_str().unwrap())
                .execute(&mut c)
                .await
                .unwrap();
            }
            sqlx::query("UPDATE channels SET last_seq = $2 WHERE id = $1")
                .bind(channel)
                .bind(last)
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn a_log_written_by_release_0_3_replays_exactly_as_it_served_it_postgres() {
    a_log_written_by_release_0_3_replays_exactly_as_it_served_it(Db::Postgres).await;
}

#[tokio::test]
async fn a_log_written_by_release_0_3_replays_exactly_as_it_served_it_sqlite() {
    a_log_written_by_release_0_3_replays_exactly_as_it_served_it(Db::Sqlite).await;
}

async fn a_log_written_by_release_0_3_replays_exactly_as_it_served_it(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    let team = admin.create_team("old", true).await;
    let channel = admin.create_channel(&team, "town", "public").await;
    // The captured channel's id becomes this one's everywhere (rows, REST list, frames).
    let captured: Value = serde_json::from_str(FIXTURE).unwrap();
    let old_id = captured["channel_id"].as_str().unwrap().to_string();
    let fixture: Value = serde_json::from_str(&FIXTURE.replace(&old_id, &channel)).unwrap();
    let rows = fixture["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 14);
    let kinds: std::collections::BTreeSet<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 8, "the fixture holds every kind of event: {kinds:?}");
    write_as_release_0_3(&app.db_url, db, uuid::Uuid::parse_str(&channel).unwrap(), rows).await;

    let rest = admin.get(&format!("/api/v1/channels/{channel}/events?after_seq=0&limit=200")).await.expect(200);
    assert_eq!(rest, fixture["rest_events"], "REST list of a 0.3 log");

    let mut ws = Ws::connect_announcing_resume(&app.address, admin.token.as_deref().unwrap()).await;
    ws.send(json!({"action": "resume", "id": "r", "since": {channel.clone(): 0}})).await;
    let frames = ws.until_seq(&channel, 14, Duration::from_secs(10)).await;
    assert_eq!(Value::Array(frames), fixture["ws_frames"], "WebSocket replay of a 0.3 log");
}

/// Every key of `v1` is in `stored` with the same value (`stored` may carry more).
fn assert_superset(stored: &Value, v1: &Value, at: &str) {
    match (stored, v1) {
        (Value::Object(s), Value::Object(v)) => {
            for (k, vv) in v {
                let sv = s.get(k).unwrap_or_else(|| panic!("{at}: stored data lacks '{k}' that v1 carries"));
                assert_superset(sv, vv, &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(stored, v1, "{at}"),
    }
}

#[tokio::test]
async fn rows_of_this_release_keep_every_v1_field_where_release_0_3_reads_it() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    let mate = Api::register(&app.address, "mate").await;
    let team = admin.create_team("new", true).await;
    mate.post(&format!("/api/v1/teams/{team}/join"), json!({})).await.expect(200);
    let channel = admin.create_channel(&team, "town", "public").await;
    admin.add_to_channel(&channel, &mate.user_id).await;
    let plain = admin.say(&channel, "plain words").await["id"].as_str().unwrap().to_string();
    let mention = admin.say(&channel, "hello @mate").await["id"].as_str().unwrap().to_string();
    admin.patch(&format!("/api/v1/posts/{plain}"), json!({"message": "edited"})).await.expect(200);
    mate.post(&format!("/api/v1/posts/{plain}/reactions"), json!({"emoji_name": "rocket"})).await.expect(201);
    mate.delete(&format!("/api/v1/posts/{plain}/reactions/rocket")).await.expect(204);
    admin.delete(&format!("/api/v1/posts/{mention}")).await.expect(204);
    admin.patch(&format!("/api/v1/channels/{channel}"), json!({"header": "h"})).await.expect(200);
    admin.delete(&format!("/api/v1/channels/{channel}/members/{}", mate.user_id)).await.expect(204);

    let rest = admin.get(&format!("/api/v1/channels/{channel}/events?after_seq=0&limit=200")).await.expect(200);
    let mut c = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let rows: Vec<(i64, String, Value, i16)> =
        sqlx::query_as("SELECT seq, kind, data, format FROM channel_events WHERE channel_id = $1 ORDER BY seq")
            .bind(uuid::Uuid::parse_str(&channel).unwrap())
            .fetch_all(&mut c)
            .await
            .unwrap();
    let rest = rest.as_array().unwrap();
    assert_eq!(rows.len(), rest.len());
    let mut kinds = std::collections::BTreeSet::new();
    for ((seq, kind, data, format), v1) in rows.iter().zip(rest) {
        assert_eq!(*format, 2, "this release writes format 2");
        assert_eq!(v1["event"], kind.as_str());
        assert_superset(data, &v1["data"], &format!("{kind} #{seq}"));
        kinds.insert(kind.clone());
    }
    assert_eq!(kinds.len(), 8, "every kind was written: {kinds:?}");
    // What v1 leaves out, the neutral event keeps: the deleted post itself.
    let deleted = rows.iter().find(|r| r.1 == "post_deleted").unwrap();
    assert_eq!(deleted.2["post"]["id"], mention.as_str());
    let v1_deleted = rest.iter().find(|e| e["event"] == "post_deleted").unwrap();
    assert!(v1_deleted["data"].get("post").is_none(), "v1 frames stay as they were: {v1_deleted}");
}
