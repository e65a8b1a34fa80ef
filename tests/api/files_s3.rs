//! Attachments in S3-compatible storage, against a real S3-protocol server process (moto): two nodes
//! share a bucket (a file uploaded through one downloads through the other, large ones in parts), and
//! the storage going away answers 503 `storage_unavailable`, opens the `storage` breaker, shows in
//! readiness without failing it, leaves nothing half-written, and recovers when the storage returns.

use std::time::Duration;

use serde_json::json;

use super::files::{download, png, upload, upload_one};
use crate::common::s3::Moto;
use crate::common::{Api, CLUSTER_ENCRYPTION_KEY, CLUSTER_JWT_SECRET, TcpProxy, TestDb, eventually, spawn_app_on};

/// Node variables: the cluster's secrets and S3 storage at `endpoint`.
fn vars(endpoint: &str, bucket: &str) -> Vec<(String, String)> {
    let mut vars = Moto::vars(endpoint, bucket);
    vars.push(("RUSTCHAT_JWT_SECRET".into(), CLUSTER_JWT_SECRET.into()));
    vars.push(("RUSTCHAT_ENCRYPTION_KEY".into(), CLUSTER_ENCRYPTION_KEY.into()));
    vars
}

fn borrowed(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test]
async fn a_file_uploaded_through_one_node_downloads_through_another() {
    let Some(db) = TestDb::create().await else { return };
    let Some(moto) = Moto::start().await else { return };
    moto.create_bucket("shared").await;
    let vars = vars(&moto.endpoint, "shared");
    let a = spawn_app_on(&db.url, &borrowed(&vars)).await.unwrap();
    let b = spawn_app_on(&db.url, &borrowed(&vars)).await.unwrap();

    let owner = Api::register(&a.address, "owner").await;
    let team = owner.create_team("acme", false).await;
    let ch = owner.create_channel(&team, "general", "public").await;
    let image = png(800, 800);
    // 12 MB goes up in parts.
    let large: Vec<u8> = (0..12_000_000u32).map(|i| (i % 251) as u8).collect();
    let reply = upload(
        &owner,
        &ch,
        vec![("photo.png", "image/png", image.clone()), ("data.bin", "application/octet-stream", large.clone())],
    )
    .await
    .expect(201);
    let ids: Vec<String> =
        reply["files"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().into()).collect();
    owner
        .post(&format!("/api/v1/channels/{ch}/posts"), json!({ "message": "two files", "file_ids": ids }))
        .await
        .expect(201);

    let mut on_b = owner.clone();
    on_b.base = b.address.clone();
    let got = download(&on_b, &format!("/api/v1/files/{}", ids[0]), &[]).await;
    assert_eq!((got.status, got.bytes == image), (200, true), "the image through the other node");
    let thumb = download(&on_b, &format!("/api/v1/files/{}/thumbnail", ids[0]), &[]).await;
    assert_eq!(image::load_from_memory(&thumb.bytes).unwrap().width(), 400);
    let got = download(&on_b, &format!("/api/v1/files/{}", ids[1]), &[]).await;
    assert_eq!(got.status, 200);
    assert!(got.bytes == large, "12 MB through the other node, byte for byte");
    let part = download(&on_b, &format!("/api/v1/files/{}", ids[1]), &[("range", "bytes=11999990-")]).await;
    assert_eq!((part.status, part.bytes.as_slice()), (206, &large[11_999_990..]));

    let keys = moto.keys("shared").await;
    assert!(keys.iter().any(|k| k == &format!("files/{}/original", ids[1])), "{keys:?}");
    assert_eq!(moto.unfinished_uploads("shared").await, 0);
    let (_, ready) = b.get_json("/api/v1/health/ready").await;
    assert_eq!(ready["checks"]["storage"]["status"], "ok", "{ready}");
    drop((a, b));
    moto.remove_bucket("shared").await;
}

#[tokio::test]
async fn storage_going_away_answers_503_and_recovers_when_it_returns() {
    let Some(db) = TestDb::create().await else { return };
    let Some(moto) = Moto::start().await else { return };
    moto.create_bucket("flaky").await;
    let proxy = TcpProxy::start(format!("127.0.0.1:{}", moto.port)).await;
    let vars = vars(&format!("http://127.0.0.1:{}", proxy.port), "flaky");
    let app = spawn_app_on(&db.url, &borrowed(&vars)).await.unwrap();
    let owner = Api::register(&app.address, "owner").await;
    let team = owner.create_team("acme", false).await;
    let ch = owner.create_channel(&team, "general", "public").await;
    let before = upload_one(&owner, &ch, "before.txt", b"stored before the outage".to_vec()).await;
    let path = format!("/api/v1/files/{}", before["id"].as_str().unwrap());

    proxy.cut();
    let got = download(&owner, &path, &[]).await;
    assert_eq!(got.status, 503, "{}", String::from_utf8_lossy(&got.bytes));
    let body: serde_json::Value = serde_json::from_slice(&got.bytes).unwrap();
    assert_eq!(body["error"]["code"], "storage_unavailable");
    // An upload during the outage (large enough to go in parts) fails cleanly, and leaves no row.
    let r = upload(&owner, &ch, vec![("during.bin", "application/octet-stream", vec![3u8; 7_000_000])]).await;
    assert_eq!((r.status, r.code()), (503, "storage_unavailable"), "{}", r.body);
    // Chat goes on, and readiness says what is wrong without taking the node out.
    owner.say(&ch, "still chatting").await;
    let (status, ready) = app.get_json("/api/v1/health/ready").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["checks"]["storage"]["status"], "error", "{ready}");
    eventually(Duration::from_secs(30), "the storage breaker to open", || async {
        let _ = download(&owner, &path, &[]).await;
        let (_, stats) = app.get_json("/api/v1/health/stats").await;
        (stats["circuit_breakers"]["storage"]["state"] == "open").then_some(())
    })
    .await;
    let fast = std::time::Instant::now();
    assert_eq!(download(&owner, &path, &[]).await.status, 503);
    assert!(fast.elapsed() < Duration::from_secs(1), "an open breaker answers at once");

    proxy.restore();
    eventually(Duration::from_secs(30), "downloads to work again", || async {
        (download(&owner, &path, &[]).await.status == 200).then_some(())
    })
    .await;
    let after = upload_one(&owner, &ch, "after.txt", b"after".to_vec()).await;
    assert_eq!(after["size"], 5);
    let keys = moto.keys("flaky").await;
    assert_eq!(keys.iter().filter(|k| k.starts_with("files/")).count(), 2, "nothing half-written: {keys:?}");
    drop(app);
    moto.remove_bucket("flaky").await;
}

/// Storage opened as a node opens it, from its settings.
fn storage_of(settings: &rustchat::config::Settings) -> rustchat::files::FileStorage {
    use std::sync::Arc;
    let breaker = Arc::new(rustchat_actors::breaker::Breaker::new("storage", Arc::new(|_: &str, _, _| {})));
    let metrics = rustchat::telemetry::metrics::Metrics::new(Default::default(), Default::default()).unwrap();
    rustchat::files::FileStorage::open(&settings.files, breaker, Arc::new(metrics)).unwrap()
}

#[tokio::test]
async fn nodes_that_do_not_share_their_file_directory_are_told_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("chat.db").display());
    let node = |files: &str| {
        let files = dir.path().join(files);
        rustchat::config::Settings::from_vars([
            ("RUSTCHAT_DATABASE_URL", db.as_str()),
            ("RUSTCHAT_FILES_DIR", files.to_str().unwrap()),
        ])
        .unwrap()
    };
    let (a, b, a_again) = (node("shared"), node("elsewhere"), node("shared"));
    let store = rustchat::store::Store::connect_lazy(&a.database).unwrap();
    store.migrate().await.unwrap();
    use rustchat::files::shared::check;
    assert!(check(&store, &storage_of(&a), "node-a").await.is_empty(), "the first node has no one to disagree with");
    let warnings = check(&store, &storage_of(&b), "node-b").await;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("node node-a") && warnings[0].contains("RUSTCHAT_FILES_STORAGE=s3"), "{warnings:?}");
    // A third node on the first one's directory reads its marker, and not the second one's.
    let warnings = check(&store, &storage_of(&a_again), "node-c").await;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("node node-b"), "{warnings:?}");
}

#[tokio::test]
async fn storage_stopped_during_a_download_cuts_that_answer_short_and_the_next_one_works() {
    let Some(db) = TestDb::create().await else { return };
    let Some(moto) = Moto::start().await else { return };
    moto.create_bucket("cut").await;
    let proxy = TcpProxy::start(format!("127.0.0.1:{}", moto.port)).await;
    let vars = vars(&format!("http://127.0.0.1:{}", proxy.port), "cut");
    let app = spawn_app_on(&db.url, &borrowed(&vars)).await.unwrap();
    let owner = Api::register(&app.address, "owner").await;
    let team = owner.create_team("acme", false).await;
    let ch = owner.create_channel(&team, "general", "public").await;
    let big: Vec<u8> = (0..40_000_000u32).map(|i| (i % 253) as u8).collect();
    let file = upload_one(&owner, &ch, "big.bin", big.clone()).await;
    let path = format!("{}/api/v1/files/{}", app.address, file["id"].as_str().unwrap());

    // Read the first bytes, then the storage goes away while the rest is on its way.
    let res = owner.http.get(&path).bearer_auth(owner.token.as_deref().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.content_length(), Some(big.len() as u64));
    let mut stream = res.bytes_stream();
    use futures_util::StreamExt;
    let mut received = stream.next().await.unwrap().unwrap().len();
    proxy.cut();
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => received += bytes.len(),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed && received < big.len(), "a cut answer must not look complete ({received} bytes)");

    proxy.restore();
    eventually(Duration::from_secs(30), "the whole file again once the storage is back", || async {
        let got = download(&owner, &format!("/api/v1/files/{}", file["id"].as_str().unwrap()), &[]).await;
        (got.status == 200 && got.bytes == big).then_some(())
    })
    .await;
    drop(app);
    moto.remove_bucket("cut").await;
}
