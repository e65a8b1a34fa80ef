//! Attachments under abuse: an over-size upload refused while it streams, a declared length over the
//! limit refused before a byte, broken multipart framing, a client that stops mid-upload, an image
//! bomb, the upload rate limit; each leaves nothing behind in storage.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::files::{png, upload};
use crate::common::{Api, Db, eventually, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    an_oversize_upload_is_refused_while_it_streams_and_leaves_nothing,
    broken_framing_and_an_interrupted_upload_leave_nothing_behind,
    an_image_bomb_is_refused_without_decoding_it,
);

const BOUNDARY: &str = "XyZboundary";

/// A member's client and their channel.
async fn member(base: &str) -> (Api, String) {
    let owner = Api::register(base, "owner").await;
    let team = owner.create_team("acme", false).await;
    let ch = owner.create_channel(&team, "general", "public").await;
    (owner, ch)
}

/// Opens a raw upload request with a chunked body and sends the head of one file part.
async fn open_upload(port: u16, api: &Api, channel: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "POST /api/v1/files?channel_id={channel} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nTransfer-Encoding: chunked\r\n\r\n",
        api.token.as_deref().unwrap()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let part = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    send_chunk(&mut s, part.as_bytes()).await;
    s
}

async fn send_chunk(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(format!("{:x}\r\n", bytes.len()).as_bytes()).await.unwrap();
    s.write_all(bytes).await.unwrap();
    s.write_all(b"\r\n").await.unwrap();
}

/// Reads an answer's status line and headers (and what body came with them).
async fn read_answer(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            let n = s.read(&mut buf).await.unwrap_or(0);
            out.extend_from_slice(&buf[..n]);
            if n == 0 || out.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("no answer within 10 s");
    String::from_utf8_lossy(&out).into_owned()
}

/// Nothing under the storage directory but empty folders.
fn stored_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() { stack.push(path) } else { found.push(path) }
        }
    }
    found.retain(|p| !p.starts_with(dir.join("nodes")));
    found
}

async fn an_oversize_upload_is_refused_while_it_streams_and_leaves_nothing(db: Db) {
    let files_dir = tempfile::tempdir().unwrap();
    let vars =
        [("RUSTCHAT_FILES_DIR", files_dir.path().to_str().unwrap()), ("RUSTCHAT_FILES_MAX_SIZE_BYTES", "100000")];
    let Some(app) = spawn_app(db, &vars).await else { return };
    let (owner, ch) = member(&app.address).await;

    // 150 kB of a body that never ends: the answer comes once the limit is passed, not at the end.
    let mut s = open_upload(app.port, &owner, &ch).await;
    for _ in 0..15 {
        send_chunk(&mut s, &[7u8; 10_000]).await;
    }
    let answer = read_answer(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"payload_too_large\""), "a stable JSON error: {answer}");
    drop(s);

    // A declared length beyond what any upload may carry is refused before the body.
    let res = owner
        .http
        .post(format!("{}/api/v1/files?channel_id={ch}", app.address))
        .bearer_auth(owner.token.as_deref().unwrap())
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(vec![0u8; 2_000_000])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);

    // Exactly the limit is fine; one more byte is not.
    let at_limit = upload(&owner, &ch, vec![("ok.bin", "application/octet-stream", vec![1; 100_000])]).await;
    assert_eq!(at_limit.status, 201, "{}", at_limit.body);
    let over = upload(&owner, &ch, vec![("no.bin", "application/octet-stream", vec![1; 100_001])]).await;
    assert_eq!((over.status, over.code()), (413, "payload_too_large"));
    eventually(Duration::from_secs(5), "only the accepted file in storage", || async {
        (stored_files(files_dir.path()).len() == 1).then_some(())
    })
    .await;
}

async fn broken_framing_and_an_interrupted_upload_leave_nothing_behind(db: Db) {
    let files_dir = tempfile::tempdir().unwrap();
    let Some(app) = spawn_app(db, &[("RUSTCHAT_FILES_DIR", files_dir.path().to_str().unwrap())]).await else { return };
    let (owner, ch) = member(&app.address).await;
    let url = format!("{}/api/v1/files?channel_id={ch}", app.address);
    let token = owner.token.clone().unwrap();
    let res = owner.http.post(&url).bearer_auth(&token).json(&serde_json::json!({"files": []})).send().await.unwrap();
    assert_eq!(res.status(), 415, "not multipart");
    let cases: [(&str, &[u8], &str); 3] = [
        ("multipart/form-data", b"--x\r\n", "no boundary"),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a\"\r\n\r\nabc",
            "cut before its closing boundary",
        ),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--x--\r\n",
            "a part that is not a file",
        ),
    ];
    for (content_type, body, why) in cases {
        let res = owner
            .http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        assert_eq!(status, 400, "{why}: {body}");
        assert!(body["error"]["code"].is_string(), "{why}: a JSON error: {body}");
    }
    // 6 MB into a multipart upload, the client goes away.
    let mut s = open_upload(app.port, &owner, &ch).await;
    for _ in 0..60 {
        send_chunk(&mut s, &[9u8; 100_000]).await;
    }
    drop(s);
    eventually(Duration::from_secs(15), "nothing of the interrupted upload to remain", || async {
        stored_files(files_dir.path()).is_empty().then_some(())
    })
    .await;
    // The node still takes uploads.
    upload(&owner, &ch, vec![("fine.txt", "text/plain", b"fine".to_vec())]).await.expect(201);
}

/// A valid PNG header announcing 30 000 × 30 000 pixels.
fn bomb() -> Vec<u8> {
    let mut bytes = png(1, 1);
    bytes[16..20].copy_from_slice(&30_000u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&30_000u32.to_be_bytes());
    let mut crc = 0xffff_ffffu32;
    for b in &bytes[12..29] {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    bytes[29..33].copy_from_slice(&(!crc).to_be_bytes());
    bytes
}

async fn an_image_bomb_is_refused_without_decoding_it(db: Db) {
    let files_dir = tempfile::tempdir().unwrap();
    let Some(app) = spawn_app(db, &[("RUSTCHAT_FILES_DIR", files_dir.path().to_str().unwrap())]).await else { return };
    let (owner, ch) = member(&app.address).await;
    let started = std::time::Instant::now();
    let r = upload(&owner, &ch, vec![("bomb.png", "image/png", bomb())]).await;
    assert_eq!((r.status, r.code()), (422, "unprocessable"), "{}", r.body);
    assert!(started.elapsed() < Duration::from_secs(5), "refused from its header, not decoded");
    eventually(Duration::from_secs(5), "nothing of the bomb to remain", || async {
        stored_files(files_dir.path()).is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn uploads_are_rate_limited_per_user() {
    let Some(app) = spawn_app(Db::Sqlite, &[("RUSTCHAT_SECURITY_RATE_LIMIT_UPLOADS_PER_MINUTE", "3")]).await else {
        return;
    };
    let (owner, ch) = member(&app.address).await;
    for _ in 0..3 {
        upload(&owner, &ch, vec![("a.txt", "text/plain", b"a".to_vec())]).await.expect(201);
    }
    let r = upload(&owner, &ch, vec![("a.txt", "text/plain", b"a".to_vec())]).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    // Another user has their own allowance.
    let other = Api::register(&app.address, "other").await;
    let team = other.create_team("other", false).await;
    let theirs = other.create_channel(&team, "mine", "public").await;
    upload(&other, &theirs, vec![("b.txt", "text/plain", b"b".to_vec())]).await.expect(201);
}

#[tokio::test]
async fn readiness_reports_storage_without_failing_on_it() {
    let Some(app) = spawn_app(Db::Sqlite, &[]).await else { return };
    let (status, body) = app.get_json("/api/v1/health/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["storage"]["status"], "ok", "{body}");
    let (_, stats) = app.get_json("/api/v1/health/stats").await;
    assert_eq!(stats["circuit_breakers"]["storage"]["state"], "closed", "{stats}");
}
