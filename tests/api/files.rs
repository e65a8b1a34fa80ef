//! File attachments on local disk (the embedded default), on both databases: upload typed from the
//! bytes, attach to posts, download with authorization, caching and ranges, safe serving of HTML and
//! SVG, previews, limits, bad framing, interrupted uploads and the orphan sweep. S3 storage and
//! several nodes: `files_s3.rs`.

use std::io::Cursor;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Api, Db, Reply, eventually, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    an_upload_is_typed_from_its_bytes_attached_and_downloaded_by_readers_only,
    html_and_svg_are_served_as_attachments_that_cannot_run,
    files_are_taken_by_one_post_of_their_uploader_in_their_channel,
    unattached_uploads_are_swept_and_deleted_posts_take_their_files,
);

/// A PNG of `width` × `height` pixels.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([30, 120, 200]));
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Uploads `files` (name, claimed type, bytes) into `channel` as `api`.
pub async fn upload(api: &Api, channel: &str, files: Vec<(&str, &str, Vec<u8>)>) -> Reply {
    let mut form = reqwest::multipart::Form::new();
    for (name, claimed, bytes) in files {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()).mime_str(claimed).unwrap();
        form = form.part("files", part);
    }
    let res = api
        .http
        .post(format!("{}/api/v1/files?channel_id={channel}", api.base))
        .bearer_auth(api.token.as_deref().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
}

/// Uploads one file and returns its description.
pub async fn upload_one(api: &Api, channel: &str, name: &str, bytes: Vec<u8>) -> Value {
    upload(api, channel, vec![(name, "application/octet-stream", bytes)]).await.expect(201)["files"][0].clone()
}

/// A download: status, headers, bytes.
pub struct Got {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Got {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
}

pub async fn download(api: &Api, path: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = api.http.get(format!("{}{path}", api.base)).bearer_auth(api.token.as_deref().unwrap());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    Got { status, headers, bytes: res.bytes().await.unwrap().to_vec() }
}

/// The owner of a private channel with a member in it, and a team mate outside it.
async fn channel_with_outsider(base: &str) -> (Api, Api, Api, String) {
    let owner = Api::register(base, "owner").await;
    let mate = Api::register(base, "mate").await;
    let outsider = Api::register(base, "outsider").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    owner.add_to_team(&team, &outsider.user_id).await;
    let ch = owner.create_channel(&team, "design", "private").await;
    owner.add_to_channel(&ch, &mate.user_id).await;
    (owner, mate, outsider, ch)
}

fn post_with(channel: &str, files: &[&str]) -> (String, Value) {
    (format!("/api/v1/channels/{channel}/posts"), json!({ "message": "see attached", "file_ids": files }))
}

async fn an_upload_is_typed_from_its_bytes_attached_and_downloaded_by_readers_only(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let (owner, mate, outsider, ch) = channel_with_outsider(&app.address).await;
    let image = png(1200, 600);
    // The client claims HTML and a path; the bytes say PNG, the name keeps only what is safe to show.
    let reply = upload(&owner, &ch, vec![("../../résumé\u{202E}gnp.html", "text/html", image.clone())]).await;
    let file = reply.expect(201)["files"][0].clone();
    assert_eq!(file["mime_type"], "image/png", "{file}");
    assert_eq!(file["name"], "résumégnp.html", "{file}");
    assert_eq!((file["width"].as_i64(), file["height"].as_i64()), (Some(1200), Some(600)), "{file}");
    assert_eq!(file["size"].as_u64(), Some(image.len() as u64));
    assert_eq!(file["has_thumbnail"], true);
    assert!(file["post_id"].is_null());
    let id = file["id"].as_str().unwrap();
    let path = format!("/api/v1/files/{id}");

    // Before a post takes it, only its uploader sees it.
    assert_eq!(download(&owner, &path, &[]).await.status, 200);
    assert_eq!(download(&mate, &path, &[]).await.status, 404, "not attached yet: the uploader's alone");

    let (url, body) = post_with(&ch, &[id]);
    let post = owner.post(&url, body).await.expect(201);
    assert_eq!(post["files"][0]["id"], id, "the post carries its files: {post}");
    assert_eq!(post["files"][0]["post_id"], post["id"]);
    let page = mate.get(&format!("/api/v1/channels/{ch}/posts")).await.expect(200);
    let found = mate.get("/api/v1/search/files?q=R%C3%89SUM").await.expect(200);
    assert_eq!(found[0]["id"], id, "file names are searchable by members: {found}");
    let found = outsider.get("/api/v1/search/files?q=gnp").await.expect(200);
    assert_eq!(found, json!([]), "but not by others");
    assert_eq!(mate.get("/api/v1/search/files?q=%20").await.status, 400);
    assert_eq!(page["posts"][0]["files"][0]["name"], "résumégnp.html", "reads carry the files: {page}");

    let got = download(&mate, &path, &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.bytes, image, "the bytes come back as uploaded");
    assert_eq!(got.header("content-type"), "image/png");
    assert_eq!(got.header("x-content-type-options"), "nosniff");
    assert!(got.header("content-disposition").starts_with("inline;"), "{}", got.header("content-disposition"));
    assert!(got.header("cache-control").contains("max-age=31536000"));
    let etag = got.header("etag").to_string();
    assert!(!etag.is_empty());

    let cached = download(&mate, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(cached.status, 304, "an unchanged file is not sent again");
    let part = download(&mate, &path, &[("range", "bytes=8-23")]).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes, image[8..24].to_vec());
    assert_eq!(part.header("content-range"), format!("bytes 8-23/{}", image.len()));
    let beyond = download(&mate, &path, &[("range", &format!("bytes={}-", image.len()))]).await;
    assert_eq!(beyond.status, 416);

    let thumb = download(&mate, &format!("{path}/thumbnail"), &[]).await;
    assert_eq!((thumb.status, thumb.header("content-type")), (200, "image/png"));
    let small = image::load_from_memory(&thumb.bytes).unwrap();
    assert_eq!((small.width(), small.height()), (400, 200), "the thumbnail fits 400×400");

    // A team mate outside the private channel, a stranger's token, no token: nothing.
    assert_eq!(download(&outsider, &path, &[]).await.status, 404);
    assert_eq!(download(&outsider, &format!("{path}/thumbnail"), &[]).await.status, 404);
    assert_eq!(outsider.get(&format!("{path}/info")).await.status, 404);
    let anonymous = reqwest::get(format!("{}{path}", app.address)).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(mate.get(&format!("/api/v1/files/{}", uuid::Uuid::now_v7())).await.code(), "not_found");

    // Zero bytes are a file too.
    let empty = upload_one(&owner, &ch, "empty.txt", Vec::new()).await;
    assert_eq!((empty["size"].as_u64(), empty["mime_type"].as_str()), (Some(0), Some("application/octet-stream")));
    let got = download(&owner, &format!("/api/v1/files/{}", empty["id"].as_str().unwrap()), &[]).await;
    assert_eq!((got.status, got.bytes.len()), (200, 0));
}

async fn html_and_svg_are_served_as_attachments_that_cannot_run(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let (owner, _, _, ch) = channel_with_outsider(&app.address).await;
    let cases = [
        ("page.html", "text/html", b"<html><script>alert(document.cookie)</script></html>".to_vec()),
        (
            "logo.svg",
            "image/svg+xml",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec(),
        ),
        ("fake.png", "image/png", b"<script>alert(1)</script> claims to be a PNG".to_vec()),
    ];
    for (name, claimed, bytes) in cases {
        let file = upload(&owner, &ch, vec![(name, claimed, bytes.clone())]).await.expect(201)["files"][0].clone();
        let sniffed = file["mime_type"].as_str().unwrap();
        assert!(
            sniffed == "text/html" || sniffed == "text/plain; charset=utf-8",
            "{name}: typed from its bytes: {file}"
        );
        assert_eq!(file["has_thumbnail"], false, "{name}");
        let got = download(&owner, &format!("/api/v1/files/{}", file["id"].as_str().unwrap()), &[]).await;
        assert_eq!(got.status, 200, "{name}");
        let served = got.header("content-type");
        assert!(served == "application/octet-stream" || served == "text/plain; charset=utf-8", "{name}: {served}");
        assert!(
            got.header("content-disposition").starts_with("attachment;"),
            "{name}: {}",
            got.header("content-disposition")
        );
        assert_eq!(got.header("x-content-type-options"), "nosniff", "{name}");
        assert!(got.header("content-security-policy").contains("sandbox"), "{name}");
        assert_eq!(got.bytes, bytes, "{name}");
    }
}

async fn files_are_taken_by_one_post_of_their_uploader_in_their_channel(db: Db) {
    let Some(app) = spawn_app(db, &[("RUSTCHAT_FILES_PER_POST", "2")]).await else { return };
    let (owner, mate, _, ch) = channel_with_outsider(&app.address).await;
    let team = owner.get("/api/v1/teams").await.expect(200)[0]["id"].as_str().unwrap().to_string();
    let other = owner.create_channel(&team, "elsewhere", "public").await;
    let mine = |n: &str| n.to_string();
    let a = upload_one(&owner, &ch, "a.bin", vec![1; 10]).await["id"].as_str().map(mine).unwrap();
    let b = upload_one(&owner, &ch, "b.bin", vec![2; 10]).await["id"].as_str().map(mine).unwrap();
    let c = upload_one(&owner, &ch, "c.bin", vec![3; 10]).await["id"].as_str().map(mine).unwrap();
    let theirs = upload_one(&mate, &ch, "m.bin", vec![4; 10]).await["id"].as_str().map(mine).unwrap();
    let elsewhere = upload_one(&owner, &other, "e.bin", vec![5; 10]).await["id"].as_str().map(mine).unwrap();

    let refusals = [
        (vec![&a, &b, &c], "more files than RUSTCHAT_FILES_PER_POST"),
        (vec![&a, &a], "the same file twice"),
        (vec![&theirs], "another user's upload"),
        (vec![&elsewhere], "an upload to another channel"),
    ];
    for (files, why) in refusals {
        let ids: Vec<&str> = files.iter().map(|s| s.as_str()).collect();
        let (url, body) = post_with(&ch, &ids);
        let r = owner.post(&url, body).await;
        assert_eq!((r.status, r.code()), (400, "validation_failed"), "{why}: {}", r.body);
    }
    let (url, body) = post_with(&ch, &[&a, &b]);
    owner.post(&url, body).await.expect(201);
    let (url, body) = post_with(&ch, &[&c, &a]);
    let r = owner.post(&url, body).await;
    assert_eq!(r.status, 400, "a file another post took: {}", r.body);
    // The refused post took nothing: c is still free.
    // A post of files alone needs no text (a pasted screenshot); without files it does.
    let r = owner.post(&format!("/api/v1/channels/{ch}/posts"), json!({ "message": " ", "file_ids": [c] })).await;
    let post = r.expect(201);
    assert_eq!((post["message"].as_str(), post["files"][0]["id"].as_str()), (Some(""), Some(c.as_str())), "{post}");
    let r = owner.post(&format!("/api/v1/channels/{ch}/posts"), json!({ "message": " ", "file_ids": [] })).await;
    assert_eq!((r.status, r.code()), (400, "validation_failed"), "{}", r.body);
    // The limits a client checks before sending are this node's.
    let limits = owner.get("/api/v1/files/limits").await.expect(200);
    assert_eq!(limits, json!({ "max_size_bytes": 50u64 << 20, "per_post": 2 }));
    // Upload limits: too many parts at once.
    let parts = (0..3).map(|i| ("x.bin", "application/octet-stream", vec![i; 4])).collect();
    assert_eq!(upload(&owner, &ch, parts).await.status, 400);
    // Not a member of the channel: 403, before a byte is stored.
    let team_channel = owner.create_channel(&team, "owners-only", "private").await;
    assert_eq!(upload(&mate, &team_channel, vec![("x", "text/plain", b"x".to_vec())]).await.status, 404);
}

async fn unattached_uploads_are_swept_and_deleted_posts_take_their_files(db: Db) {
    let files_dir = tempfile::tempdir().unwrap();
    let dir = files_dir.path().to_str().unwrap();
    let Some(app) = spawn_app(db, &[("RUSTCHAT_FILES_DIR", dir), ("RUSTCHAT_FILES_ORPHAN_AGE_SECONDS", "2")]).await
    else {
        return;
    };
    let (owner, mate, _, ch) = channel_with_outsider(&app.address).await;
    let orphan = upload_one(&owner, &ch, "orphan.png", png(20, 20)).await["id"].as_str().unwrap().to_string();
    let kept = upload_one(&owner, &ch, "kept.png", png(20, 20)).await["id"].as_str().unwrap().to_string();
    let (url, body) = post_with(&ch, &[&kept]);
    let post = owner.post(&url, body).await.expect(201)["id"].as_str().unwrap().to_string();
    let on_disk = |id: &str| files_dir.path().join("files").join(id).exists();
    assert!(on_disk(&orphan) && on_disk(&kept));

    eventually(Duration::from_secs(15), "the orphan to be swept", || async {
        let gone = download(&owner, &format!("/api/v1/files/{orphan}"), &[]).await.status == 404;
        (gone && !on_disk(&orphan)).then_some(())
    })
    .await;
    // Two orphan ages later the attached file is still there.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(download(&mate, &format!("/api/v1/files/{kept}"), &[]).await.status, 200);
    assert!(on_disk(&kept));

    owner.delete(&format!("/api/v1/posts/{post}")).await.expect(204);
    eventually(Duration::from_secs(15), "a deleted post's files to go", || async {
        let gone = download(&owner, &format!("/api/v1/files/{kept}"), &[]).await.status == 404;
        (gone && !on_disk(&kept)).then_some(())
    })
    .await;
}
