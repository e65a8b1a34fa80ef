//! The authorization matrix: every endpoint that touches a channel, called as an outsider (not in the
//! team), a member and a channel admin, on a private channel and a DM. An outsider must learn nothing:
//! every answer is the same 404 a missing id gets.

use serde_json::{Value, json};

use crate::common::{Api, Db, spawn_app};
use crate::on_both_databases;

on_both_databases!(every_channel_endpoint_refuses_outsiders_like_a_missing_id);

struct Case {
    method: &'static str,
    /// `{c}` = channel id, `{p}` = a post id in it, `{u}` = the outsider's user id.
    path: &'static str,
    body: Value,
    member: u16,
    admin: u16,
}

fn cases() -> Vec<Case> {
    let c = |method, path, body, member, admin| Case { method, path, body, member, admin };
    vec![
        c("GET", "/api/v1/channels/{c}", json!(null), 200, 200),
        c("GET", "/api/v1/channels/{c}/members", json!(null), 200, 200),
        c("GET", "/api/v1/channels/{c}/posts", json!(null), 200, 200),
        c("GET", "/api/v1/channels/{c}/pinned", json!(null), 200, 200),
        c("GET", "/api/v1/channels/{c}/events?after_seq=0", json!(null), 200, 200),
        c("GET", "/api/v1/channels/{c}/read", json!(null), 200, 200),
        c("POST", "/api/v1/channels/{c}/view", json!({}), 200, 200),
        c("POST", "/api/v1/channels/{c}/posts", json!({"message": "hello"}), 201, 201),
        c("PATCH", "/api/v1/channels/{c}", json!({"header": "h"}), 200, 200),
        c("POST", "/api/v1/channels/{c}/members", json!({"user_id": "{u}"}), 404, 404),
        c("GET", "/api/v1/posts/{p}", json!(null), 200, 200),
        c("GET", "/api/v1/posts/{p}/thread", json!(null), 200, 200),
        c("POST", "/api/v1/posts/{p}/reactions", json!({"emoji_name": "eyes"}), 201, 201),
        c("DELETE", "/api/v1/posts/{p}/reactions/eyes", json!(null), 204, 204),
        c("POST", "/api/v1/posts/{p}/pin", json!({}), 200, 200),
        c("DELETE", "/api/v1/posts/{p}/pin", json!(null), 200, 200),
        c("PATCH", "/api/v1/posts/{p}", json!({"message": "edited"}), 403, 200),
        c("DELETE", "/api/v1/channels/{c}/members/{u}", json!(null), 403, 404),
        c("DELETE", "/api/v1/posts/{p}", json!(null), 403, 204),
        c("DELETE", "/api/v1/channels/{c}", json!(null), 403, 200),
    ]
}

async fn call(api: &Api, case: &Case, channel: &str, post: &str, outsider: &str) -> (u16, Value) {
    let path = case.path.replace("{c}", channel).replace("{p}", post).replace("{u}", outsider);
    let body: Value = serde_json::from_str(&case.body.to_string().replace("{u}", outsider)).unwrap();
    let r = match case.method {
        "GET" => api.get(&path).await,
        "POST" => api.post(&path, body).await,
        "PATCH" => api.patch(&path, body).await,
        "DELETE" => api.delete(&path).await,
        m => panic!("method {m}"),
    };
    (r.status, r.body)
}

async fn every_channel_endpoint_refuses_outsiders_like_a_missing_id(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let admin = Api::register(&app.address, "chanadmin").await;
    let member = Api::register(&app.address, "member").await;
    let outsider = Api::register(&app.address, "outsider").await;
    let team = admin.create_team("acme", false).await;
    admin.add_to_team(&team, &member.user_id).await;

    let missing_channel = outsider.get(&format!("/api/v1/channels/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(missing_channel.status, 404);

    // Fresh channels per case, so destructive cases (delete, archive) do not affect the next one.
    for case in cases() {
        let private =
            admin.create_channel(&team, &format!("p{}", uuid::Uuid::new_v4().simple()).as_str()[..20], "private").await;
        admin.add_to_channel(&private, &member.user_id).await;
        let post = admin.say(&private, "secret").await["id"].as_str().unwrap().to_string();

        let (status, body) = call(&outsider, &case, &private, &post, &outsider.user_id).await;
        assert_eq!(status, 404, "outsider {} {} -> {body}", case.method, case.path);
        assert_eq!(body["error"]["code"], "not_found", "{} {}", case.method, case.path);
        assert!(!body.to_string().contains("secret"), "an outsider's answer leaks content: {body}");

        if case.method == "DELETE" && case.path.contains("/reactions/") {
            for who in [&member, &admin] {
                who.post(&format!("/api/v1/posts/{post}/reactions"), json!({"emoji_name": "eyes"})).await.expect(201);
            }
        }
        let (status, body) = call(&member, &case, &private, &post, &outsider.user_id).await;
        assert_eq!(status, case.member, "member {} {} -> {body}", case.method, case.path);
        let (status, body) = call(&admin, &case, &private, &post, &outsider.user_id).await;
        assert_eq!(status, case.admin, "admin {} {} -> {body}", case.method, case.path);
    }

    // A DM between admin and member is invisible to the outsider, whatever they try.
    let dm = admin.post("/api/v1/channels/direct", json!({"user_id": member.user_id})).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let post = admin.say(&dm, "just us").await["id"].as_str().unwrap().to_string();
    for case in cases() {
        let (status, _) = call(&outsider, &case, &dm, &post, &outsider.user_id).await;
        assert_eq!(status, 404, "outsider on a DM: {} {}", case.method, case.path);
    }
    // Even a system admin (the first account is one) has no way into other people's DMs.
    let dm2 = member.post("/api/v1/channels/direct", json!({"user_id": outsider.user_id})).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(admin.get(&format!("/api/v1/channels/{dm2}/posts")).await.status, 404);
}
