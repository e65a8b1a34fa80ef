//! The runbook's backup: `pg_dump $RUSTCHAT_DATABASE_URL | gzip > backup.sql.gz`. Restored into an
//! empty database with `psql`, a node started on it serves the same teams, channels and posts.

use std::process::{Command, Stdio};

use crate::common::{Api, Db, TestDb, spawn_app, spawn_app_on};

#[tokio::test]
async fn a_pg_dump_backup_restores_into_an_empty_database_and_serves_the_same_data() {
    let Some(app) = spawn_app(Db::Postgres, &[("RUSTCHAT_ENCRYPTION_KEY", KEY), ("RUSTCHAT_JWT_SECRET", JWT)]).await
    else {
        return;
    };
    let owner = Api::register(&app.address, "keeper").await;
    let team = owner.create_team("archive", false).await;
    let channel = owner.create_channel(&team, "history", "public").await;
    for i in 0..5 {
        owner.say(&channel, &format!("entry {i}")).await;
    }
    let before = owner.get(&format!("/api/v1/channels/{channel}/posts")).await.expect(200);

    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("rustchat_backup.sql.gz");
    let shell = |script: &str, url: &str| {
        let status = Command::new("bash")
            .arg("-c")
            .arg(script)
            .env("RUSTCHAT_DATABASE_URL", url)
            .env("BACKUP", &backup)
            .stdout(Stdio::null())
            .status()
            .expect("bash");
        assert!(status.success(), "`{script}` failed");
    };
    // The runbook's command, as written (with our file name).
    shell("set -o pipefail; pg_dump $RUSTCHAT_DATABASE_URL | gzip > \"$BACKUP\"", &app.db_url);
    drop(app);

    let Some(restored) = TestDb::create().await else { return };
    shell("set -o pipefail; gunzip -c \"$BACKUP\" | psql -q -v ON_ERROR_STOP=1 $RUSTCHAT_DATABASE_URL", &restored.url);
    let node =
        spawn_app_on(&restored.url, &[("RUSTCHAT_ENCRYPTION_KEY", KEY), ("RUSTCHAT_JWT_SECRET", JWT)]).await.unwrap();
    let back = Api::login(&node.address, "keeper", "password-keeper").await.expect(200);
    let mut owner = Api::anonymous(&node.address);
    owner.adopt(&back);
    let teams = owner.get("/api/v1/teams").await.expect(200);
    assert_eq!(teams[0]["id"], team.as_str());
    let after = owner.get(&format!("/api/v1/channels/{channel}/posts")).await.expect(200);
    assert_eq!(after["posts"], before["posts"], "the same posts, in the same order");
    // And it keeps working: the event log's seq continues where it stopped.
    let next = owner.say(&channel, "after the restore").await;
    assert_eq!(
        next["seq"].as_i64().unwrap(),
        owner.get(&format!("/api/v1/channels/{channel}")).await.expect(200)["last_seq"].as_i64().unwrap()
    );
}

const KEY: &str = "YmFja3VwLXRlc3QtZW5jcnlwdGlvbi1rZXktMDEyMzQ1Njc4OTAxMjM0NTY3ODk=";
const JWT: &str = "YmFja3VwLXRlc3Qtand0LXNlY3JldC0wMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM=";
