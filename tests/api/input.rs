//! Text a client sends is checked once, at the edge: a NUL character (U+0000, which PostgreSQL cannot
//! store in text) anywhere in a body, a query string or a path parameter is 400 `validation_failed`
//! naming the field — never a database error. Over HTTP and over the WebSocket, on PostgreSQL.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Api, Db, Ws, spawn_app};

const T: Duration = Duration::from_secs(10);

/// A request and the field its answer must name.
struct Case {
    anonymous: bool,
    method: &'static str,
    path: String,
    body: Option<Value>,
    field: &'static str,
}

fn case(
    anonymous: bool,
    method: &'static str,
    path: impl Into<String>,
    body: Option<Value>,
    field: &'static str,
) -> Case {
    Case { anonymous, method, path: path.into(), body, field }
}

#[tokio::test]
async fn a_nul_character_anywhere_a_client_sends_text_is_refused_naming_the_field() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    let anonymous = Api::anonymous(&app.address);
    let team = admin.create_team("acme", false).await;
    let channel = admin.create_channel(&team, "general", "public").await;
    let post = admin.say(&channel, "hello").await["id"].as_str().unwrap().to_string();

    let cases = [
        // The five of issue #15, each a 500 before.
        case(true, "POST", "/api/v1/auth/login", Some(json!({"login": "a\u{0}", "password": "password-x"})), "login"),
        case(true, "GET", "/api/v1/auth/oidc/a%00b/login", None, "provider"),
        case(false, "GET", "/api/v1/search/posts?q=a%00b", None, "q"),
        case(false, "GET", "/api/v1/users?q=a%00b", None, "q"),
        case(false, "PATCH", "/api/v1/admin/config/site", Some(json!({"site_name": "a\u{0}b"})), "site_name"),
        // And every other way text comes in.
        case(
            true,
            "POST",
            "/api/v1/auth/register",
            Some(
                json!({"username": "newbie", "email": "n@example.com", "password": "password-1", "invite_code": "\u{0}"}),
            ),
            "invite_code",
        ),
        case(true, "POST", "/api/v1/auth/refresh", Some(json!({"refresh_token": "a\u{0}"})), "refresh_token"),
        case(true, "POST", "/api/v1/auth/oidc/exchange", Some(json!({"code": "a\u{0}"})), "code"),
        case(true, "GET", "/api/v1/auth/oidc/a%00b/callback?state=s", None, "provider"),
        case(true, "GET", "/api/v1/auth/oidc/sso/callback?state=a%00b", None, "state"),
        case(
            false,
            "POST",
            "/api/v1/admin/oidc/providers",
            Some(
                json!({"id": "corp", "issuer": "https://idp.example.com", "client_id": "a\u{0}", "client_secret": "s"}),
            ),
            "client_id",
        ),
        case(false, "DELETE", "/api/v1/admin/oidc/providers/a%00b", None, "id"),
        case(false, "PATCH", "/api/v1/users/me", Some(json!({"display_name": "a\u{0}"})), "display_name"),
        case(false, "POST", "/api/v1/teams", Some(json!({"name": "nul", "description": "a\u{0}"})), "description"),
        case(false, "POST", format!("/api/v1/channels/{channel}/posts"), Some(json!({"message": "a\u{0}"})), "message"),
        case(false, "PATCH", format!("/api/v1/channels/{channel}"), Some(json!({"purpose": "\u{0}"})), "purpose"),
        case(false, "GET", format!("/api/v1/channels/{channel}/posts?before=a%00"), None, "before"),
        case(
            false,
            "POST",
            format!("/api/v1/posts/{post}/reactions"),
            Some(json!({"emoji_name": "+1\u{0}"})),
            "emoji_name",
        ),
        case(false, "DELETE", format!("/api/v1/posts/{post}/reactions/a%00b"), None, "emoji_name"),
        case(false, "PATCH", format!("/api/v1/posts/{post}"), Some(json!({"message": "x\u{0}"})), "message"),
        case(false, "POST", "/api/v1/channels/group", Some(json!({"user_ids": ["\u{0}"]})), "user_ids[0]"),
    ];
    for c in cases {
        let who = if c.anonymous { &anonymous } else { &admin };
        let reply = match (c.method, c.body) {
            ("GET", _) => who.get(&c.path).await,
            ("DELETE", _) => who.delete(&c.path).await,
            ("POST", Some(body)) => who.post(&c.path, body).await,
            ("PATCH", Some(body)) => who.patch(&c.path, body).await,
            (method, body) => panic!("no such case: {method} {body:?}"),
        };
        let what = format!("{} {}", c.method, c.path);
        assert_eq!((reply.status, reply.code()), (400, "validation_failed"), "{what}: {}", reply.body);
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{}: must not contain the NUL character", c.field)),
            "{what}: the message names `{}`: {message}",
            c.field
        );
    }

    // A key is text too; and nothing above was stored.
    let reply = admin.patch("/api/v1/admin/config/site", json!({"site\u{0}name": "x"})).await;
    assert_eq!((reply.status, reply.code()), (400, "validation_failed"), "{}", reply.body);
    assert_eq!(reply.body["error"]["message"], "key: must not contain the NUL character (\\u0000)");
    assert_eq!(admin.get("/api/v1/admin/config/site").await.expect(200)["site_name"], "RustChat");
    let page = admin.get(&format!("/api/v1/channels/{channel}/posts")).await.expect(200);
    assert_eq!(page["posts"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["posts"][0]["message"], "hello");
}

/// Found by schemathesis: serde fills a struct from an array by position, so `[null, null]` passed for
/// `{}` and created an invite. A record is an object.
#[tokio::test]
async fn a_body_that_should_be_an_object_is_refused_as_an_array() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    let team = admin.create_team("acme", false).await;
    for (path, body) in [
        ("/api/v1/users/me".to_string(), json!([null, null])),
        (format!("/api/v1/teams/{team}/invites"), json!([null, null])),
        ("/api/v1/teams".to_string(), json!(["array-team"])),
    ] {
        let reply = if path.ends_with("/me") { admin.patch(&path, body).await } else { admin.post(&path, body).await };
        assert_eq!((reply.status, reply.code()), (400, "validation_failed"), "{path}: {}", reply.body);
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("expected an object"), "{path}: {message}");
    }
    // Bodies that are arrays by definition still are.
    let ids = admin.post("/api/v1/users/status/ids", json!([admin.user_id])).await.expect(200);
    assert_eq!(ids[0]["user_id"], admin.user_id.as_str());
}

#[tokio::test]
async fn the_six_characters_backslash_u0000_are_ordinary_text() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    let team = admin.create_team("acme", false).await;
    let channel = admin.create_channel(&team, "general", "public").await;
    let posted = admin.say(&channel, r"escaped: \u0000").await;
    assert_eq!(posted["message"], r"escaped: \u0000");
    let found = admin.get("/api/v1/search/posts?q=escaped").await.expect(200);
    assert_eq!(found[0]["message"], r"escaped: \u0000");
}

#[tokio::test]
async fn a_nul_character_in_a_socket_post_is_a_validation_error_and_the_socket_goes_on() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    let team = admin.create_team("acme", false).await;
    let channel = admin.create_channel(&team, "general", "public").await;
    let mut ws = Ws::connect(&app.address, admin.token.as_deref().unwrap()).await;

    let frames = [
        (json!({"action": "post", "id": "n1", "channel_id": channel, "message": "a\u{0}b"}), "validation_failed"),
        (
            json!({"action": "post", "id": "n2", "channel_id": channel, "message": "reply", "root_id": "\u{0}"}),
            "validation_failed",
        ),
        (json!({"action": "authenticate", "id": "n3", "token": "a\u{0}b"}), "invalid_token"),
    ];
    for (frame, code) in frames {
        let id = frame["id"].clone();
        ws.send(frame.clone()).await;
        let reply = ws.expect("reply", T).await;
        assert_eq!(reply["id"], id);
        assert_eq!(
            (reply["status"].as_str(), reply["error"]["code"].as_str()),
            (Some("error"), Some(code)),
            "{frame}: {reply}"
        );
        if id == "n1" {
            let message = reply["error"]["message"].as_str().unwrap();
            assert!(message.starts_with("message "), "names the field: {message}");
        }
    }
    ws.send(json!({"action": "post", "id": "ok", "channel_id": channel, "message": "still here"})).await;
    let reply = ws.expect("reply", T).await;
    assert_eq!((reply["id"].as_str(), reply["status"].as_str()), (Some("ok"), Some("ok")), "{reply}");
    let page = admin.get(&format!("/api/v1/channels/{channel}/posts")).await.expect(200);
    let messages: Vec<&str> =
        page["posts"].as_array().unwrap().iter().map(|p| p["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["still here"]);
}
