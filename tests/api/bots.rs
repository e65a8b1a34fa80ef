//! Bot accounts: created by admins (or anyone where the site allows it), owned, password-less; they
//! act through tokens their manager creates, only where they are members, and what they post is
//! marked as a bot's; disabling the bot or deactivating its owner revokes its tokens and closes its
//! sockets.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Api, Db, TestDb, Ws, spawn_app, two_nodes_over_redis};
use crate::on_both_databases;
use crate::tokens::{enable_tokens, with_token};

const T: Duration = Duration::from_secs(10);

on_both_databases!(a_bot_posts_only_where_it_is_a_member_and_its_posts_say_so);

async fn create_bot(api: &Api, username: &str) -> Value {
    api.post("/api/v1/bots", json!({ "username": username, "display_name": "Deploy Bot", "description": "ships" }))
        .await
        .expect(201)
}

async fn bot_token(api: &Api, bot: &Value) -> String {
    let created = api
        .post(&format!("/api/v1/bots/{}/tokens", bot["user_id"].as_str().unwrap()), json!({ "name": "ci" }))
        .await
        .expect(201);
    created["token"].as_str().unwrap().to_string()
}

async fn a_bot_posts_only_where_it_is_a_member_and_its_posts_say_so(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    let bot = create_bot(&admin, "deploybot").await;
    assert_eq!(bot["owner_id"], admin.user_id.as_str());
    assert_eq!((bot["display_name"].as_str(), bot["description"].as_str()), (Some("Deploy Bot"), Some("ships")));
    let bot_id = bot["user_id"].as_str().unwrap().to_string();
    let as_bot = with_token(&admin, &bot_token(&admin, &bot).await);
    let me = as_bot.get("/api/v1/users/me").await.expect(200);
    assert_eq!((me["id"].as_str(), me["is_bot"].as_bool()), (Some(bot_id.as_str()), Some(true)));
    let seen = admin.get(&format!("/api/v1/users/{bot_id}")).await.expect(200);
    assert_eq!(seen["is_bot"], true, "others see it is a bot: {seen}");
    assert_eq!(admin.get("/api/v1/users/me").await.expect(200)["is_bot"], false);
    let mm_id = rustchat::mattermost::ids::encode(bot_id.parse().unwrap());
    let mm_user: Value = reqwest::Client::new()
        .get(format!("{}/api/v4/users/{mm_id}", app.address))
        .bearer_auth(admin.token.as_deref().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mm_user["is_bot"], true, "the v4 face says so too: {mm_user}");

    let team = admin.create_team("acme", false).await;
    let channel = admin.create_channel(&team, "deploys", "private").await;
    let outside = as_bot.post(&format!("/api/v1/channels/{channel}/posts"), json!({ "message": "hello?" })).await;
    assert!([403, 404].contains(&outside.status), "not a member: {}", outside.body);
    let read = as_bot.get(&format!("/api/v1/channels/{channel}/posts")).await;
    assert!([403, 404].contains(&read.status), "cannot read either: {}", read.body);

    admin.add_to_team(&team, &bot_id).await;
    admin.add_to_channel(&channel, &bot_id).await;
    let mut ws = Ws::connect(&app.address, admin.token.as_deref().unwrap()).await;
    let posted =
        as_bot.post(&format!("/api/v1/channels/{channel}/posts"), json!({ "message": "deployed" })).await.expect(201);
    assert_eq!(posted["from_bot"], true, "{posted}");
    let human = admin.say(&channel, "thanks").await;
    assert!(human.get("from_bot").is_none(), "{human}");
    let events = ws.until_seq(&channel, human["seq"].as_i64().unwrap(), T).await;
    let by_bot = events.iter().find(|e| e["data"]["post"]["message"] == "deployed").expect("the bot's post");
    assert_eq!(by_bot["data"]["post"]["from_bot"], true, "the posted event marks it: {by_bot}");
    let page = admin.get(&format!("/api/v1/channels/{channel}/posts")).await.expect(200);
    let marks: Vec<_> = page["posts"].as_array().unwrap().iter().map(|p| p["from_bot"].as_bool()).collect();
    assert_eq!(marks, [None, Some(true)], "newest first: {page}");
    let post_id = posted["id"].as_str().unwrap();
    let mm_post: Value = reqwest::Client::new()
        .get(format!("{}/api/v4/posts/{}", app.address, rustchat::mattermost::ids::encode(post_id.parse().unwrap())))
        .bearer_auth(admin.token.as_deref().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mm_post["props"]["from_bot"], "true", "Mattermost's marker: {mm_post}");
    as_bot.post(&format!("/api/v1/posts/{post_id}/reactions"), json!({ "emoji_name": "rocket" })).await.expect(201);
}

#[tokio::test]
async fn a_bot_cannot_log_in_with_a_password_and_needs_a_permitted_creator() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    let user = Api::register(&app.address, "user").await;
    let refused = user.post("/api/v1/bots", json!({ "username": "mybot" })).await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    let bot = create_bot(&admin, "nologin").await;
    for password in ["", "password-nologin", "anything at all"] {
        let login = Api::login(&app.address, "nologin", password).await;
        assert_eq!(login.status, 401, "password {password:?}: {}", login.body);
    }
    let v4 = reqwest::Client::new()
        .post(format!("{}/api/v4/users/login", app.address))
        .json(&json!({ "login_id": "nologin", "password": "password-nologin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(v4.status(), 401);
    let bot_id = bot["user_id"].as_str().unwrap();

    // Where the site allows it, anyone may create bots; they manage only their own.
    admin.patch("/api/v1/admin/config/site", json!({ "enable_bot_account_creation": true })).await.expect(200);
    let mine = create_bot(&user, "mybot").await;
    let listed = user.get("/api/v1/bots").await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(admin.get("/api/v1/bots").await.expect(200).as_array().unwrap().len(), 2, "admins see every bot");
    let theirs = user.get(&format!("/api/v1/bots/{bot_id}")).await;
    assert_eq!((theirs.status, theirs.code()), (404, "not_found"));
    let token = user.post(&format!("/api/v1/bots/{bot_id}/tokens"), json!({ "name": "x" })).await;
    assert_eq!(token.status, 404, "no tokens for a bot one does not manage");
    // The owner needs tokens enabled to give their bot one; admins do not.
    let token =
        user.post(&format!("/api/v1/bots/{}/tokens", mine["user_id"].as_str().unwrap()), json!({ "name": "x" })).await;
    assert_eq!((token.status, token.code()), (403, "forbidden"));
    enable_tokens(&admin).await;
    bot_token(&user, &mine).await;
    // A bot makes no tokens or bots of its own.
    let as_bot = with_token(&user, &bot_token(&user, &mine).await);
    assert_eq!(as_bot.post("/api/v1/users/me/tokens", json!({ "name": "more" })).await.status, 403);
    assert_eq!(as_bot.post("/api/v1/bots", json!({ "username": "botbot" })).await.status, 403);
}

#[tokio::test]
async fn bad_bot_input_is_a_4xx_json_error() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let admin = Api::register(&app.address, "admin").await;
    create_bot(&admin, "taken").await;
    for (body, status, why) in [
        (json!({ "username": "" }), 400, "an empty username"),
        (json!({ "username": "Has Spaces" }), 400, "a username with spaces"),
        (json!({ "username": "admin" }), 409, "a taken username"),
        (json!({ "username": "taken" }), 409, "a taken bot username"),
        (json!({ "username": "okbot", "description": "d".repeat(1025) }), 400, "a long description"),
        (json!({ "username": "okbot", "display_name": "n".repeat(65) }), 400, "a long display name"),
        (json!({ "display_name": "no username" }), 400, "no username"),
    ] {
        let reply = admin.post("/api/v1/bots", body).await;
        assert_eq!(reply.status, status, "{why}: {}", reply.body);
        assert!(reply.body["error"]["code"].is_string(), "{why}: {}", reply.body);
    }
    let reply = admin.patch("/api/v1/bots/not-a-uuid", json!({})).await;
    assert_eq!(reply.status, 404);
    let reply = admin.patch(&format!("/api/v1/bots/{}", admin.user_id), json!({ "active": false })).await;
    assert_eq!((reply.status, reply.code()), (404, "not_found"), "a person is not a bot");
    let reply = admin.post(&format!("/api/v1/bots/{}/tokens", admin.user_id), json!({ "name": "x" })).await;
    assert_eq!(reply.status, 404);
    // At most 20 bots per owner ("taken" is the first).
    for i in 1..20 {
        create_bot(&admin, &format!("bot{i}")).await;
    }
    let over = admin.post("/api/v1/bots", json!({ "username": "bot20" })).await;
    assert_eq!((over.status, over.code()), (409, "conflict"), "{}", over.body);
}

/// A bot's socket sits on node b; its owner is deactivated (or the bot disabled) through node a: the
/// socket closes, and the token is refused from then on.
#[tokio::test]
async fn deactivating_the_owner_or_disabling_the_bot_revokes_its_tokens_and_closes_its_sockets() {
    let Some(db) = TestDb::create().await else { return };
    let Some((a, b)) = two_nodes_over_redis(&db).await else { return };
    let admin = Api::register(&a.address, "admin").await;
    let owner = Api::register(&a.address, "owner").await;
    admin
        .patch(
            "/api/v1/admin/config/site",
            json!({ "enable_bot_account_creation": true, "enable_personal_access_tokens": true }),
        )
        .await
        .expect(200);
    let bot = create_bot(&owner, "ownedbot").await;
    let token = bot_token(&owner, &bot).await;
    let mut ws = Ws::connect(&b.address, &token).await;
    let tokens_path = format!("/api/v1/bots/{}/tokens", bot["user_id"].as_str().unwrap());
    assert_eq!(owner.get(&tokens_path).await.expect(200).as_array().unwrap().len(), 1);

    admin.post(&format!("/api/v1/users/{}/deactivate", owner.user_id), json!({})).await.expect(200);
    let (code, reason) = ws.expect_close(T).await;
    assert_eq!((code, reason.as_str()), (4003, "login ended: session revoked"));
    let mut on_b = with_token(&owner, &token);
    on_b.base = b.address.clone();
    assert_eq!(on_b.get("/api/v1/users/me").await.status, 401);
    assert!(admin.get(&tokens_path).await.expect(200).as_array().unwrap().is_empty(), "its tokens are revoked");

    // The admin gives it a new token; disabling the bot ends that one too, and enabling it again
    // does not bring it back.
    let token = bot_token(&admin, &bot).await;
    let mut ws = Ws::connect(&b.address, &token).await;
    let bot_path = format!("/api/v1/bots/{}", bot["user_id"].as_str().unwrap());
    let disabled = admin.patch(&bot_path, json!({ "active": false, "description": "retired" })).await.expect(200);
    assert_eq!((disabled["is_active"].as_bool(), disabled["description"].as_str()), (Some(false), Some("retired")));
    let (code, reason) = ws.expect_close(T).await;
    assert_eq!((code, reason.as_str()), (4003, "login ended: account deactivated"));
    admin.patch(&bot_path, json!({ "active": true })).await.expect(200);
    assert_eq!(with_token(&admin, &token).get("/api/v1/users/me").await.status, 401);
    let refused = admin.post(&format!("{bot_path}/tokens"), json!({ "name": "fresh" })).await;
    assert_eq!(refused.status, 201, "enabled again, it may get new tokens: {}", refused.body);
}
