//! Personal access tokens: a user creates named tokens where the site allows it, sees each secret
//! once, lists (with last use) and revokes them; a token works as `Authorization: Bearer` on REST,
//! the WebSocket and the Mattermost v4 face; revoking it refuses it at once and closes its sockets on
//! every node; the audit trail records creation, use and revocation, never the secret.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{Api, Cluster, Db, TestDb, Ws, spawn_app, two_nodes_over_redis};
use crate::on_both_databases;

const T: Duration = Duration::from_secs(10);

on_both_databases!(a_token_is_shown_once_listed_with_its_last_use_and_revoked);

/// Turns personal access tokens on (as the site's admin).
pub async fn enable_tokens(admin: &Api) {
    admin.patch("/api/v1/admin/config/site", json!({ "enable_personal_access_tokens": true })).await.expect(200);
}

/// `api` acting with `token` instead of its login.
pub fn with_token(api: &Api, token: &str) -> Api {
    let mut other = api.clone();
    other.token = Some(token.to_string());
    other.refresh = None;
    other
}

/// Creates a token named `name` for the caller and returns the creation answer.
pub async fn create_token(api: &Api, name: &str) -> Value {
    api.post("/api/v1/users/me/tokens", json!({ "name": name })).await.expect(201)
}

fn secret(created: &Value) -> String {
    created["token"].as_str().unwrap().to_string()
}

async fn a_token_is_shown_once_listed_with_its_last_use_and_revoked(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    let user = Api::register(&app.address, "user").await;
    enable_tokens(&admin).await;

    let created = create_token(&user, "  CI deploys ").await;
    let token = secret(&created);
    assert!(token.starts_with("rcpat_"), "{created}");
    assert_eq!(created["name"], "CI deploys", "the name is trimmed");
    assert_eq!(created["user_id"], user.user_id.as_str());
    assert_eq!(created["created_by"], user.user_id.as_str());
    assert!(created["last_used_at"].is_null());

    let listed = user.get("/api/v1/users/me/tokens").await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], created["id"]);
    assert!(listed[0].get("token").is_none(), "the secret is never listed: {listed}");
    assert!(!listed.to_string().contains(&token[6..]), "no part of the secret is listed");

    let bearer = with_token(&user, &token);
    let me = bearer.get("/api/v1/users/me").await.expect(200);
    assert_eq!(me["id"], user.user_id.as_str());
    let listed = user.get("/api/v1/users/me/tokens").await.expect(200);
    assert!(listed[0]["last_used_at"].is_string(), "the first use is recorded: {listed}");

    // A token cannot list another user's tokens, and a wrong secret is refused.
    let other = Api::register(&app.address, "other").await;
    assert!(other.get("/api/v1/users/me/tokens").await.expect(200).as_array().unwrap().is_empty());
    let forged = format!("{}{}", &token[..token.len() - 1], if token.ends_with('A') { 'B' } else { 'A' });
    let refused = with_token(&user, &forged).get("/api/v1/users/me").await;
    assert_eq!((refused.status, refused.code()), (401, "invalid_token"));

    let id = created["id"].as_str().unwrap();
    let not_yours = other.delete(&format!("/api/v1/users/me/tokens/{id}")).await;
    assert_eq!((not_yours.status, not_yours.code()), (404, "not_found"));
    user.delete(&format!("/api/v1/users/me/tokens/{id}")).await.expect(204);
    let refused = bearer.get("/api/v1/users/me").await;
    assert_eq!((refused.status, refused.code()), (401, "invalid_token"));
    assert!(user.get("/api/v1/users/me/tokens").await.expect(200).as_array().unwrap().is_empty());
    let again = user.delete(&format!("/api/v1/users/me/tokens/{id}")).await;
    assert_eq!(again.status, 404, "a revoked token is gone");
}

#[tokio::test]
async fn tokens_are_refused_where_the_site_has_not_enabled_them_except_to_admins() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    let user = Api::register(&app.address, "user").await;
    let refused = user.post("/api/v1/users/me/tokens", json!({ "name": "ci" })).await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"), "{}", refused.body);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("enable_personal_access_tokens"));
    create_token(&admin, "admin's own").await;
}

#[tokio::test]
async fn bad_token_input_is_a_4xx_json_error() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    enable_tokens(&admin).await;
    let user = Api::register(&app.address, "user").await;
    for (body, status, why) in [
        (json!({ "name": "" }), 400, "an empty name"),
        (json!({ "name": "   " }), 400, "a blank name"),
        (json!({ "name": "x".repeat(65) }), 400, "a name over 64 characters"),
        (json!({ "name": "a\u{7}b" }), 400, "a control character"),
        (json!({}), 400, "no name"),
        (json!({ "name": 5 }), 400, "a name that is not text"),
    ] {
        let reply = user.post("/api/v1/users/me/tokens", body).await;
        assert_eq!(reply.status, status, "{why}: {}", reply.body);
        assert!(reply.body["error"]["code"].is_string(), "{why}: a JSON error body: {}", reply.body);
    }
    let reply = user.delete("/api/v1/users/me/tokens/not-a-uuid").await;
    assert_eq!((reply.status, reply.code()), (404, "not_found"));
    for garbage in ["rcpat_", "rcpat_nothex", &format!("rcpat_{}_{}", "0".repeat(32), "A".repeat(43))] {
        let reply = with_token(&user, garbage).get("/api/v1/users/me").await;
        assert_eq!((reply.status, reply.code()), (401, "invalid_token"), "{garbage}");
    }
    // The limit on live tokens per user; revoking one makes room.
    let mut last = Value::Null;
    for i in 0..20 {
        last = create_token(&user, &format!("token {i}")).await;
    }
    let over = user.post("/api/v1/users/me/tokens", json!({ "name": "one too many" })).await;
    assert_eq!((over.status, over.code()), (409, "conflict"), "{}", over.body);
    user.delete(&format!("/api/v1/users/me/tokens/{}", last["id"].as_str().unwrap())).await.expect(204);
    create_token(&user, "room again").await;
}

#[tokio::test]
async fn a_token_authenticates_the_websocket_and_the_mattermost_face() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    enable_tokens(&admin).await;
    let token = secret(&create_token(&admin, "everywhere").await);

    let team = admin.create_team("acme", false).await;
    let channel = admin.create_channel(&team, "general", "public").await;
    let mut ws = Ws::connect(&app.address, &token).await;
    let posted = with_token(&admin, &token)
        .post(&format!("/api/v1/channels/{channel}/posts"), json!({ "message": "by token" }))
        .await
        .expect(201);
    let seq = posted["seq"].as_i64().unwrap();
    let events = ws.until_seq(&channel, seq, T).await;
    assert_eq!(events.last().unwrap()["data"]["post"]["message"], "by token");
    assert!(events.last().unwrap()["data"]["post"].get("from_bot").is_none(), "a person's post is not marked");

    let http = reqwest::Client::new();
    for scheme in ["Bearer", "Token", "BEARER"] {
        let me = http
            .get(format!("{}/api/v4/users/me", app.address))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200, "{scheme}");
        let me: Value = me.json().await.unwrap();
        assert_eq!((me["username"].as_str(), me["is_bot"].as_bool()), (Some("admin"), Some(false)), "{scheme}");
    }

    // Mattermost's WebSocket, authenticated on the upgrade.
    let mut request =
        format!("{}/api/v4/websocket", app.address.replacen("http://", "ws://", 1)).into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (mut mm, _) = tokio_tungstenite::connect_async(request).await.expect("v4 WebSocket handshake");
    let hello = loop {
        match tokio::time::timeout(T, mm.next()).await.expect("a frame").expect("open") {
            Ok(Message::Text(t)) => break serde_json::from_str::<Value>(&t).unwrap(),
            Ok(_) => continue,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(hello["event"], "hello", "{hello}");
}

/// The socket sits on node b; the token is revoked through node a: b closes it at once (not at the
/// next sweep), and b refuses the token from then on.
#[tokio::test]
async fn revoking_a_token_on_one_node_closes_its_socket_on_another() {
    let Some(db) = TestDb::create().await else { return };
    let Some((a, b)) = two_nodes_over_redis(&db).await else { return };
    let admin = Api::register(&a.address, "admin").await;
    let user = Api::register(&a.address, "user").await;
    enable_tokens(&admin).await;
    let created = create_token(&user, "bot on b").await;
    let token = secret(&created);
    let dm = admin.post("/api/v1/channels/direct", json!({ "user_id": user.user_id })).await.expect(200);
    let dm = dm["id"].as_str().unwrap().to_string();
    let mut ws = Ws::connect(&b.address, &token).await;
    let mut login_ws = Ws::connect(&b.address, user.token.as_deref().unwrap()).await;

    user.delete(&format!("/api/v1/users/me/tokens/{}", created["id"].as_str().unwrap())).await.expect(204);
    let seq = admin.say(&dm, "after the revocation").await["seq"].as_i64().unwrap();

    let (code, reason) = ws.expect_close(T).await;
    assert_eq!((code, reason.as_str()), (4003, "login ended: session revoked"));
    assert!(
        !ws.seen.iter().any(|e| e["data"]["post"]["message"] == "after the revocation"),
        "a post made after the revocation reached the token's socket"
    );
    let mut on_b = with_token(&user, &token);
    on_b.base = b.address.clone();
    assert_eq!(on_b.get("/api/v1/users/me").await.status, 401);
    assert!(Ws::try_connect(&b.address, Some(&token)).await.is_err(), "a revoked token opens no socket");
    // The user's password login is another session: its socket reads on.
    let got = login_ws.until_seq(&dm, seq, T).await;
    assert_eq!(got.last().unwrap()["data"]["post"]["message"], "after the revocation");
}

/// Every audit line about a token names it by id and who acted; no line, at any level, holds its
/// secret (nor the request's Authorization header).
#[tokio::test]
async fn token_audit_lines_are_json_and_never_hold_the_secret() {
    let Some(cluster) = Cluster::start(1, &[("RUSTCHAT_LOG_LEVEL", "debug")]).await else { return };
    let base = cluster.base(0);
    let admin = Api::register(&base, "admin").await;
    let user = Api::register(&base, "user").await;
    enable_tokens(&admin).await;
    let created = create_token(&user, "audited").await;
    let token = secret(&created);
    let id = created["id"].as_str().unwrap();
    let bearer = with_token(&user, &token);
    bearer.get("/api/v1/users/me").await.expect(200);
    bearer.get("/api/v1/users/me").await.expect(200);
    let mut ws = Ws::connect(&base, &token).await;
    user.delete(&format!("/api/v1/users/me/tokens/{id}")).await.expect(204);
    ws.expect_close(T).await;
    assert_eq!(bearer.get("/api/v1/users/me").await.status, 401);

    let revoked =
        cluster.wait_log(0, "an 'access token revoked' line", |l| l["message"] == "access token revoked").await;
    let revoked = &revoked["fields"];
    assert_eq!((revoked["token_id"].as_str(), revoked["by"].as_str()), (Some(id), Some(user.user_id.as_str())));
    let lines = cluster.logs(0);
    let created_line =
        &lines.iter().find(|l| l["message"] == "access token created").expect("a creation line")["fields"];
    assert_eq!(created_line["token_id"], id);
    assert_eq!(created_line["user_id"], user.user_id.as_str());
    assert_eq!(created_line["name"], "audited");
    let used: Vec<_> = lines.iter().filter(|l| l["message"] == "access token used").collect();
    assert_eq!(used.len(), 1, "one use line a minute, however many requests: {used:?}");
    let used = &used[0]["fields"];
    assert_eq!((used["token_id"].as_str(), used["first_use"].as_bool()), (Some(id), Some(true)));

    // A valid token is not mistaken for a bad JWT: the only refusal is the use after revocation.
    let refusals: Vec<_> =
        lines.iter().filter(|l| l["message"] == "Invalid token").map(|l| &l["fields"]["reason"]).collect();
    assert_eq!(refusals, [&json!("session revoked")], "the runbook counts these lines");

    // rcpat_<32 hex of the session>_<secret>: the secret's own alphabet may hold '_'.
    let secret_part = &token.strip_prefix("rcpat_").expect("a personal access token")[33..];
    assert!(secret_part.len() >= 40, "{secret_part}");
    let node = cluster.node(0);
    let text = [node.stdout_lines(), node.stderr_lines()].concat().join("\n");
    assert!(!text.contains(secret_part), "a log line holds the token's secret");
    assert!(!text.contains(&token), "a log line holds the token");
}

/// Mattermost's user access token endpoints, on the same tokens.
#[tokio::test]
async fn the_mattermost_face_creates_lists_and_revokes_user_access_tokens() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    enable_tokens(&admin).await;
    let http = reqwest::Client::new();
    let v4 = |method: reqwest::Method, path: &str, token: &str| {
        http.request(method, format!("{}/api/v4{path}", app.address)).header("Authorization", format!("BEARER {token}"))
    };
    let login = admin.token.clone().unwrap();

    let created = v4(reqwest::Method::POST, "/users/me/tokens", &login)
        .json(&json!({ "description": "mmctl" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    assert_eq!((created["description"].as_str(), created["is_active"].as_bool()), (Some("mmctl"), Some(true)));
    let me: Value = v4(reqwest::Method::GET, "/users/me", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["username"], "admin");

    let listed: Value =
        v4(reqwest::Method::GET, "/users/me/tokens", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert!(listed[0].get("token").is_none(), "{listed}");
    assert_eq!(listed[0]["id"], created["id"]);
    // The same token in v1: the ids name the same token.
    let v1 = admin.get("/api/v1/users/me/tokens").await.expect(200);
    assert_eq!(rustchat::mattermost::ids::encode(v1[0]["id"].as_str().unwrap().parse().unwrap()), created["id"]);

    let bad = v4(reqwest::Method::POST, "/users/me/tokens", &login).json(&json!({ "description": "" })).send().await;
    assert_eq!(bad.unwrap().status(), 400);
    let revoked = v4(reqwest::Method::POST, "/users/tokens/revoke", &login)
        .json(&json!({ "token_id": created["id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let refused = v4(reqwest::Method::GET, "/users/me", &token).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let again = v4(reqwest::Method::POST, "/users/tokens/revoke", &login)
        .json(&json!({ "token_id": created["id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}
