//! Incoming webhooks (#20): created per channel, posted to at `/hooks/{secret}` by a real Slack client
//! library (`slack_sdk`'s `WebhookClient`, PyPI, in target/hooks-venv) and by `curl` with `payload=`
//! form encoding; the post reaches a member's socket and the Mattermost v4 face with its attachments.
//! Then every refusal: unknown or revoked hook, bad payload, oversize body, rate, channel overrides,
//! who may create and revoke; and the hook's secret never appears in a log line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Api, Cluster, Db, Ws, spawn_app};
use crate::on_both_databases;

const T: Duration = Duration::from_secs(10);

fn venv_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/hooks-venv/bin/python")
}

/// Whether slack_sdk is installed; on CI it must be (`.ci/run` installs it).
fn slack_sdk_available() -> bool {
    let ok = venv_python().exists();
    if !ok {
        assert!(std::env::var("CI").is_err(), "target/hooks-venv (slack_sdk) must be installed on CI (.ci/run)");
        eprintln!("SKIPPED: slack_sdk is not installed in target/hooks-venv (see .ci/run)");
    }
    ok
}

/// Creates a hook on `channel`; returns its public id and its URL path.
async fn create_hook(api: &Api, channel: &str, locked: bool) -> (String, String) {
    let body = api
        .post(
            &format!("/api/v1/channels/{channel}/hooks"),
            json!({ "display_name": "CI", "description": "builds", "channel_locked": locked }),
        )
        .await
        .expect(201);
    let url = body["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("/hooks/") && url.len() == "/hooks/".len() + 32, "{body}");
    (body["id"].as_str().unwrap().to_string(), url)
}

/// What a raw POST to a hook answered: status, Retry-After, body.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    fn error_code(&self) -> String {
        let v: Value =
            serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not a JSON error body: {}", self.body));
        v["error"]["code"].as_str().unwrap_or_default().to_string()
    }
}

async fn send(base: &str, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> Answer {
    let res = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    Answer { status, retry_after, body: res.text().await.unwrap() }
}

async fn send_json(base: &str, path: &str, payload: Value) -> Answer {
    send(base, path, "application/json", payload.to_string()).await
}

async fn latest_post(api: &Api, channel: &str) -> Value {
    let page = api.get(&format!("/api/v1/channels/{channel}/posts?limit=1")).await.expect(200);
    page["posts"][0].clone()
}

#[tokio::test]
async fn a_slack_client_and_curl_post_through_a_hook_and_members_see_the_attachments_live_on_another_node_and_on_v4() {
    if !slack_sdk_available() {
        return;
    }
    // Two nodes: the hook is posted to on node 0, bob's socket lives on node 1.
    let Some(cluster) = Cluster::start(2, &[]).await else { return };
    let base = cluster.base(0);
    let alice = Api::register(&base, "alice").await;
    let bob = Api::register(&base, "bob").await;
    let team = alice.create_team("ops", true).await;
    alice.add_to_team(&team, &bob.user_id).await;
    let town = alice.create_channel(&team, "town", "public").await;
    alice.add_to_channel(&town, &bob.user_id).await;
    let mut ws = Ws::connect(&cluster.base(1), bob.token.as_deref().unwrap()).await;

    let (hook_id, url) = create_hook(&alice, &town, false).await;
    let secret = url.trim_start_matches("/hooks/").to_string();

    // The real Slack client library, pointed at our URL.
    let out = tokio::process::Command::new(venv_python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hooks/slack_send.py"))
        .env("HOOK_URL", format!("{base}{url}"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "slack_send.py failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(seen, json!({ "status": 200, "body": "ok" }), "what WebhookClient saw");

    let posted = ws.expect("posted", T).await;
    let post = &posted["data"]["post"];
    assert_eq!(post["channel_id"], town.as_str());
    assert_eq!(post["user_id"], alice.user_id.as_str(), "a hook posts as its creator");
    assert_eq!(post["message"], "Deploy *finished* on prod");
    assert_eq!(post["props"]["from_webhook"], "true");
    let attachment = &post["props"]["attachments"][0];
    assert_eq!(attachment["title"], "Build 42");
    assert_eq!(attachment["color"], "#36a64f");
    assert_eq!(attachment["title_link"], "https://ci.example.com/builds/42");
    assert_eq!(attachment["fields"][1], json!({ "title": "Duration", "value": "4m 12s", "short": true }));
    assert_eq!(latest_post(&bob, &town).await["props"], post["props"], "REST reads back what the socket got");

    // curl, form-encoded, as most shell scripts post to Slack.
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-w", " %{http_code}", "--data-urlencode"])
        .arg(r#"payload={"text": "from curl & a form", "attachments": [{"fallback": "fb", "text": "attached"}]}"#)
        .arg(format!("{base}{url}"))
        .output()
        .await
        .expect("curl is on the machine");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok 200");
    let posted = ws.expect("posted", T).await;
    assert_eq!(posted["data"]["post"]["message"], "from curl & a form");
    assert_eq!(posted["data"]["post"]["props"]["attachments"][0]["text"], "attached");

    // The Mattermost v4 face shows the props its clients render.
    let login = reqwest::Client::new()
        .post(format!("{base}/api/v4/users/login"))
        .json(&json!({ "login_id": "bob", "password": "password-bob" }))
        .send()
        .await
        .unwrap();
    let token = login.headers()["token"].to_str().unwrap().to_string();
    let v4_channel = rustchat::mattermost::ids::encode(town.parse().unwrap());
    let list: Value = reqwest::Client::new()
        .get(format!("{base}/api/v4/channels/{v4_channel}/posts"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &list["posts"][list["order"][1].as_str().unwrap()];
    assert_eq!(first["message"], "Deploy *finished* on prod");
    assert_eq!(first["type"], "slack_attachment");
    assert_eq!(first["props"]["from_webhook"], "true");
    assert_eq!(first["props"]["attachments"][0]["fields"][0]["value"], "main");

    // Audit lines name the hook by its public id; no line anywhere carries its secret.
    cluster.wait_log(0, "the hook's use in the audit log", |l| l["message"] == "incoming webhook used").await;
    let logs = cluster.logs(0);
    let created = logs.iter().find(|l| l["message"] == "incoming webhook created").expect("a created line");
    assert_eq!(created["fields"]["hook_id"], hook_id.as_str());
    let used: Vec<_> = logs.iter().filter(|l| l["message"] == "incoming webhook used").collect();
    assert_eq!(used.len(), 2, "one line per use");
    assert!(used.iter().all(|l| l["fields"]["hook_id"] == hook_id.as_str()));
    for line in logs.iter().chain(cluster.logs(1).iter()) {
        assert!(!line.to_string().contains(&secret), "a log line carries the hook's secret: {line}");
    }
    assert!(
        logs.iter().any(|l| l.to_string().contains("/hooks/{secret}")),
        "the request log shows the hook's path redacted"
    );
}

/// alice (admin, creator) and bob are members of `town`; carol is in the team but in no channel;
/// `ops` is a channel of the team bob is not in.
struct World {
    base: String,
    alice: Api,
    bob: Api,
    carol: Api,
    team: String,
    town: String,
    ops: String,
    _app: crate::common::TestApp,
}

async fn world(db: Db) -> Option<World> {
    let app = spawn_app(db, &[]).await?;
    let base = app.address.clone();
    let alice = Api::register(&base, "alice").await;
    let bob = Api::register(&base, "bob").await;
    let carol = Api::register(&base, "carol").await;
    let team = alice.create_team("ops-team", true).await;
    alice.add_to_team(&team, &bob.user_id).await;
    alice.add_to_team(&team, &carol.user_id).await;
    let town = alice.create_channel(&team, "town", "public").await;
    alice.add_to_channel(&town, &bob.user_id).await;
    let ops = alice.create_channel(&team, "ops", "private").await;
    Some(World { base, alice, bob, carol, team, town, ops, _app: app })
}

async fn every_bad_request_gets_a_clear_answer(db: Db) {
    let Some(w) = world(db).await else { return };
    let (hook_id, url) = create_hook(&w.bob, &w.town, false).await;

    let cases: Vec<(&str, Answer, u16, &str)> = vec![
        (
            "an unknown hook",
            send_json(&w.base, &format!("/hooks/{}", "a".repeat(32)), json!({"text": "x"})).await,
            404,
            "not_found",
        ),
        ("a malformed secret", send_json(&w.base, "/hooks/nope", json!({"text": "x"})).await, 404, "not_found"),
        ("bad JSON", send(&w.base, &url, "application/json", "{\"text\":").await, 400, "validation_failed"),
        (
            "neither text nor attachments",
            send_json(&w.base, &url, json!({"username": "x"})).await,
            400,
            "validation_failed",
        ),
        (
            "a form without payload",
            send(&w.base, &url, "application/x-www-form-urlencoded", "text=hi").await,
            400,
            "validation_failed",
        ),
        ("a JSON array", send_json(&w.base, &url, json!(["text"])).await, 400, "validation_failed"),
        (
            "a body of another type",
            send(&w.base, &url, "text/plain", "{\"text\":\"x\"}").await,
            415,
            "unsupported_media_type",
        ),
        (
            "a body over 100 KB",
            send_json(&w.base, &url, json!({ "text": "x".repeat(101 * 1024) })).await,
            413,
            "payload_too_large",
        ),
        (
            "another channel the creator is not in",
            send_json(&w.base, &url, json!({ "text": "x", "channel": "ops" })).await,
            404,
            "not_found",
        ),
        (
            "a channel that does not exist",
            send_json(&w.base, &url, json!({ "text": "x", "channel": "#nowhere" })).await,
            400,
            "validation_failed",
        ),
        (
            "a control character in the second of two posts",
            send_json(&w.base, &url, json!({ "text": format!("{}\u{1}", "a".repeat(16_000)) })).await,
            400,
            "validation_failed",
        ),
    ];
    for (what, answer, status, code) in cases {
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        assert_eq!(answer.error_code(), code, "{what}");
    }
    let page = w.bob.get(&format!("/api/v1/channels/{}/posts", w.town)).await.expect(200);
    assert_eq!(page["posts"], json!([]), "no refused payload posted anything, not even half of itself");

    // A locked hook may name its own channel, and nothing else.
    let (_, locked) = create_hook(&w.alice, &w.town, true).await;
    assert_eq!(send_json(&w.base, &locked, json!({ "text": "home", "channel": "#town" })).await.status, 200);
    for other in ["ops", "@carol"] {
        let a = send_json(&w.base, &locked, json!({ "text": "x", "channel": other })).await;
        assert_eq!((a.status, a.error_code().as_str()), (403, "forbidden"), "a locked hook sent to {other}");
    }
    // An unlocked hook of alice's reaches ops (she is a member) and a DM with carol.
    let (_, open) = create_hook(&w.alice, &w.town, false).await;
    assert_eq!(send_json(&w.base, &open, json!({ "text": "to ops", "channel": "ops" })).await.body, "ok");
    assert_eq!(latest_post(&w.alice, &w.ops).await["message"], "to ops");
    assert_eq!(send_json(&w.base, &open, json!({ "text": "psst", "channel": "@carol" })).await.body, "ok");
    let dm = w.carol.post("/api/v1/channels/direct", json!({ "user_id": w.alice.user_id })).await.expect(200);
    assert_eq!(latest_post(&w.carol, dm["id"].as_str().unwrap()).await["message"], "psst");

    // Who may create, list and revoke.
    let refused = w.carol.post(&format!("/api/v1/channels/{}/hooks", w.town), json!({ "display_name": "x" })).await;
    assert_eq!(refused.status, 403, "a non-member cannot create a hook: {:?}", refused.body);
    let refused = w.bob.post(&format!("/api/v1/channels/{}/hooks", w.ops), json!({ "display_name": "x" })).await;
    assert_eq!(refused.status, 404, "a private channel one is not in does not exist: {:?}", refused.body);
    let mine = w.bob.get("/api/v1/hooks/incoming").await.expect(200);
    assert_eq!(mine.as_array().unwrap().len(), 1, "bob sees his own hook only: {mine}");
    assert!(!mine.to_string().contains(url.trim_start_matches("/hooks/")), "a list never shows a secret");
    let all = w.alice.get(&format!("/api/v1/hooks/incoming?channel_id={}", w.town)).await.expect(200);
    assert_eq!(all.as_array().unwrap().len(), 3, "a system admin sees every hook: {all}");
    assert!(mine[0]["last_used_at"].is_string(), "a hook shows when it was last presented: {mine}");
    assert_eq!(w.carol.delete(&format!("/api/v1/hooks/incoming/{hook_id}")).await.status, 404, "carol cannot revoke");
    assert_eq!(w.bob.delete(&format!("/api/v1/hooks/incoming/{hook_id}")).await.status, 204);
    let revoked = send_json(&w.base, &url, json!({"text": "x"})).await;
    assert_eq!((revoked.status, revoked.error_code().as_str()), (404, "not_found"), "a revoked hook is gone");
    assert_eq!(w.bob.delete(&format!("/api/v1/hooks/incoming/{hook_id}")).await.status, 404);

    // A hook speaks with its creator's rights at the time of the post: one who left the channel silences it.
    w.alice.add_to_channel(&w.town, &w.carol.user_id).await;
    let (_, carols) = create_hook(&w.carol, &w.town, false).await;
    assert_eq!(send_json(&w.base, &carols, json!({"text": "while a member"})).await.status, 200);
    w.alice.delete(&format!("/api/v1/channels/{}/members/{}", w.town, w.carol.user_id)).await;
    let left = send_json(&w.base, &carols, json!({"text": "after leaving"})).await;
    assert_eq!((left.status, left.error_code().as_str()), (403, "forbidden"), "{}", left.body);

    // An archived channel takes no more posts; admins-only sites refuse members.
    w.alice.delete(&format!("/api/v1/channels/{}", w.town)).await.expect(200);
    let archived = send_json(&w.base, &open, json!({"text": "late"})).await;
    assert_eq!((archived.status, archived.error_code().as_str()), (403, "forbidden"), "{}", archived.body);
    w.alice.patch("/api/v1/admin/config/site", json!({ "incoming_webhooks_admins_only": true })).await.expect(200);
    let refused = w.bob.post(&format!("/api/v1/channels/{}/hooks", w.ops), json!({ "display_name": "x" })).await;
    assert!(refused.status == 403 || refused.status == 404, "{refused:?}");
    let town2 = w.alice.create_channel(&w.team, "town2", "public").await;
    w.alice.add_to_channel(&town2, &w.bob.user_id).await;
    let refused = w.bob.post(&format!("/api/v1/channels/{town2}/hooks"), json!({ "display_name": "x" })).await;
    assert_eq!(refused.status, 403, "a member may not create a hook on an admins-only site: {:?}", refused.body);
    create_hook(&w.alice, &town2, false).await;
}

async fn overrides_are_ignored_unless_the_site_allows_them_and_long_text_is_split(db: Db) {
    let Some(w) = world(db).await else { return };
    let (_, url) = create_hook(&w.bob, &w.town, false).await;
    let payload = json!({ "text": "hello", "username": "ci-bot", "icon_url": "https://ci.example.com/i.png" });
    assert_eq!(send_json(&w.base, &url, payload.clone()).await.body, "ok");
    let post = latest_post(&w.bob, &w.town).await;
    assert_eq!(post["props"], json!({ "from_webhook": "true" }), "overrides are ignored by default");

    w.alice
        .patch(
            "/api/v1/admin/config/site",
            json!({ "enable_post_username_override": true, "enable_post_icon_override": true }),
        )
        .await
        .expect(200);
    assert_eq!(send_json(&w.base, &url, payload).await.body, "ok");
    let post = latest_post(&w.bob, &w.town).await;
    assert_eq!(post["props"]["override_username"], "ci-bot");
    assert_eq!(post["props"]["override_icon_url"], "https://ci.example.com/i.png");

    // 16 000 characters a post: 20 000 become two posts, cut at the line break, attachments on the last.
    let text = format!("{}\n{}", "a".repeat(12_000), "b".repeat(8_000));
    let payload = json!({ "text": text, "attachments": [{ "text": "tail" }] });
    assert_eq!(send_json(&w.base, &url, payload).await.body, "ok");
    let page = w.bob.get(&format!("/api/v1/channels/{}/posts?limit=2", w.town)).await.expect(200);
    let (last, first) = (&page["posts"][0], &page["posts"][1]);
    assert_eq!(first["message"].as_str().unwrap(), format!("{}\n", "a".repeat(12_000)));
    assert!(first["props"].get("attachments").is_none());
    assert_eq!(last["message"].as_str().unwrap(), "b".repeat(8_000));
    assert_eq!(last["props"]["attachments"][0]["text"], "tail");

    // An attachment's words find its post, as the text's do; deleting the post forgets them.
    let payload = json!({ "attachments": [{ "title": "Nightly flamingo", "fields": [{ "title": "Host", "value": "zebrafish-7" }] }] });
    assert_eq!(send_json(&w.base, &url, payload).await.body, "ok");
    let found = latest_post(&w.bob, &w.town).await;
    assert_eq!(found["message"], "", "a post of attachments alone has no text");
    for q in ["flamingo", "zebrafish", "nightly flamingo"] {
        let hits = w.alice.get(&format!("/api/v1/search/posts?q={q}")).await.expect(200);
        let ids: Vec<&str> = hits.as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [found["id"].as_str().unwrap()], "searching '{q}'");
    }
    let text_hits = w.alice.get("/api/v1/search/posts?q=hello").await.expect(200);
    assert_eq!(text_hits.as_array().unwrap().len(), 2, "text search still works: {text_hits}");
    w.bob.delete(&format!("/api/v1/posts/{}", found["id"].as_str().unwrap())).await.expect(204);
    let gone = w.alice.get("/api/v1/search/posts?q=flamingo").await.expect(200);
    assert_eq!(gone, json!([]), "a deleted post is not found by its attachments");

    // Switched off site-wide: no hook posts and none can be created; switched on, the old ones work again.
    w.alice.patch("/api/v1/admin/config/site", json!({ "enable_incoming_webhooks": false })).await.expect(200);
    let off = send_json(&w.base, &url, json!({ "text": "x" })).await;
    assert_eq!((off.status, off.error_code().as_str()), (403, "forbidden"), "{}", off.body);
    let refused = w.bob.post(&format!("/api/v1/channels/{}/hooks", w.town), json!({ "display_name": "x" })).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    w.alice.patch("/api/v1/admin/config/site", json!({ "enable_incoming_webhooks": true })).await.expect(200);
    assert_eq!(send_json(&w.base, &url, json!({ "text": "back" })).await.body, "ok");
}

async fn a_hook_over_its_rate_gets_429_with_retry_after(db: Db) {
    let Some(w) = world(db).await else { return };
    w.alice.patch("/api/v1/admin/config/site", json!({ "incoming_webhook_posts_per_minute": 2 })).await.expect(200);
    let (_, url) = create_hook(&w.bob, &w.town, false).await;
    let (_, other) = create_hook(&w.bob, &w.town, false).await;
    for i in 0..2 {
        assert_eq!(send_json(&w.base, &url, json!({ "text": format!("{i}") })).await.status, 200, "post {i}");
    }
    let limited = send_json(&w.base, &url, json!({ "text": "third" })).await;
    assert_eq!((limited.status, limited.error_code().as_str()), (429, "rate_limited"), "{}", limited.body);
    let wait: u64 = limited.retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=30).contains(&wait), "retry after {wait} s at 2 a minute");
    assert_eq!(send_json(&w.base, &other, json!({ "text": "x" })).await.status, 200, "the limit is per hook");
}

on_both_databases!(
    every_bad_request_gets_a_clear_answer,
    overrides_are_ignored_unless_the_site_allows_them_and_long_text_is_split,
    a_hook_over_its_rate_gets_429_with_retry_after,
);
