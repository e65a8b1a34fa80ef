//! Accounts and sessions: registration policy, login, token refresh and revocation, roles.

use serde_json::json;

use crate::common::{Api, Db, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    the_first_account_becomes_system_admin_and_later_ones_do_not,
    login_works_by_username_or_email_and_never_reveals_whether_an_account_exists,
    a_refresh_token_works_once_and_its_reuse_revokes_the_session,
    logout_revokes_the_session_at_once,
    a_password_change_ends_every_other_session,
    registration_follows_the_site_policy,
    a_deactivated_user_is_logged_out_and_cannot_log_in,
    bad_input_gets_a_clear_4xx_with_the_json_error_body,
    profiles_can_be_updated_and_users_found,
);

async fn the_first_account_becomes_system_admin_and_later_ones_do_not(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let admin = Api::register(&app.address, "root").await;
    let me = admin.get("/api/v1/users/me").await.expect(200);
    assert_eq!(me["is_system_admin"], true);
    let bob = Api::register(&app.address, "bob").await;
    assert_eq!(bob.get("/api/v1/users/me").await.expect(200)["is_system_admin"], false);
    let dup = Api::anonymous(&app.address)
        .post(
            "/api/v1/auth/register",
            json!({"username": "BOB", "email": "other@example.com", "password": "password-x"}),
        )
        .await;
    assert_eq!((dup.status, dup.code()), (409, "conflict"), "usernames are case-insensitive");
}

async fn login_works_by_username_or_email_and_never_reveals_whether_an_account_exists(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    Api::register(&app.address, "carol").await;
    for login in ["carol", "CAROL@example.com"] {
        let body = Api::login(&app.address, login, "password-carol").await.expect(200);
        assert!(body["access_token"].is_string() && body["refresh_token"].is_string(), "{body}");
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["user"]["username"], "carol");
    }
    let wrong_password = Api::login(&app.address, "carol", "not-the-password").await;
    let no_such_user = Api::login(&app.address, "nobody", "not-the-password").await;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(wrong_password.status, no_such_user.status);
    assert_eq!(wrong_password.body, no_such_user.body, "the answers must not differ");
}

async fn a_refresh_token_works_once_and_its_reuse_revokes_the_session(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let mut dave = Api::register(&app.address, "dave").await;
    let first = dave.refresh.clone().unwrap();
    let rotated = dave.post("/api/v1/auth/refresh", json!({ "refresh_token": first })).await.expect(200);
    assert_ne!(rotated["refresh_token"], first.as_str());
    dave.adopt(&rotated);
    dave.get("/api/v1/users/me").await.expect(200);

    // A thief replays the first token: the session dies, for the thief and the owner alike.
    let replay = dave.post("/api/v1/auth/refresh", json!({ "refresh_token": first })).await;
    assert_eq!((replay.status, replay.code()), (401, "invalid_token"));
    let owner = dave.get("/api/v1/users/me").await;
    assert_eq!(owner.status, 401, "the session must be revoked after refresh-token reuse");
    let next = dave.post("/api/v1/auth/refresh", json!({ "refresh_token": dave.refresh.clone().unwrap() })).await;
    assert_eq!(next.status, 401);

    let garbage = dave.post("/api/v1/auth/refresh", json!({ "refresh_token": "not-a-token" })).await;
    assert_eq!(garbage.status, 401);
}

async fn logout_revokes_the_session_at_once(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let erin = Api::register(&app.address, "erin").await;
    let other_device = Api::login(&app.address, "erin", "password-erin").await.expect(200);
    erin.post("/api/v1/auth/logout", json!({})).await.expect(204);
    let after = erin.get("/api/v1/users/me").await;
    assert_eq!((after.status, after.code()), (401, "invalid_token"));
    assert!(after.body["error"]["message"].as_str().unwrap().contains("Unauthorized"));
    let refresh = erin.post("/api/v1/auth/refresh", json!({ "refresh_token": erin.refresh.clone().unwrap() })).await;
    assert_eq!(refresh.status, 401, "logout also kills the refresh token");
    let mut other = Api::anonymous(&app.address);
    other.adopt(&other_device);
    other.get("/api/v1/users/me").await.expect(200);
}

async fn a_password_change_ends_every_other_session(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let frank = Api::register(&app.address, "frank").await;
    let mut laptop = Api::anonymous(&app.address);
    laptop.adopt(&Api::login(&app.address, "frank", "password-frank").await.expect(200));

    let wrong = frank
        .post("/api/v1/auth/password", json!({"current_password": "nope-nope", "new_password": "brand-new-pass"}))
        .await;
    assert_eq!(wrong.status, 401);
    let short = frank
        .post("/api/v1/auth/password", json!({"current_password": "password-frank", "new_password": "short"}))
        .await;
    assert_eq!((short.status, short.code()), (400, "validation_failed"));

    frank
        .post("/api/v1/auth/password", json!({"current_password": "password-frank", "new_password": "brand-new-pass"}))
        .await
        .expect(204);
    frank.get("/api/v1/users/me").await.expect(200);
    assert_eq!(laptop.get("/api/v1/users/me").await.status, 401, "other sessions end");
    assert_eq!(Api::login(&app.address, "frank", "password-frank").await.status, 401);
    Api::login(&app.address, "frank", "brand-new-pass").await.expect(200);
}

async fn registration_follows_the_site_policy(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let admin = Api::register(&app.address, "admin1").await;
    let team = admin.create_team("invited", false).await;

    admin.patch("/api/v1/admin/config/site", json!({"registration": "closed"})).await.expect(200);
    let closed = Api::anonymous(&app.address)
        .post(
            "/api/v1/auth/register",
            json!({"username": "gina", "email": "g@example.com", "password": "password-gina"}),
        )
        .await;
    assert_eq!((closed.status, closed.code()), (403, "forbidden"));

    admin.patch("/api/v1/admin/config/site", json!({"registration": "invite_only"})).await.expect(200);
    let without = Api::anonymous(&app.address)
        .post(
            "/api/v1/auth/register",
            json!({"username": "gina", "email": "g@example.com", "password": "password-gina"}),
        )
        .await;
    assert_eq!(without.status, 403);
    let invite = admin.post(&format!("/api/v1/teams/{team}/invites"), json!({"max_uses": 1})).await.expect(201);
    let code = invite["code"].as_str().unwrap();
    let gina = Api::anonymous(&app.address)
        .post(
            "/api/v1/auth/register",
            json!({"username": "gina", "email": "g@example.com", "password": "password-gina", "invite_code": code}),
        )
        .await
        .expect(201);
    let mut gina_api = Api::anonymous(&app.address);
    gina_api.adopt(&gina);
    let teams = gina_api.get("/api/v1/teams").await.expect(200);
    assert_eq!(teams[0]["id"], team.as_str(), "the invite joins its team");
    let spent = Api::anonymous(&app.address)
        .post(
            "/api/v1/auth/register",
            json!({"username": "hank", "email": "h@example.com", "password": "password-hank", "invite_code": code}),
        )
        .await;
    assert_eq!(spent.status, 403, "a single-use invite works once");
}

async fn a_deactivated_user_is_logged_out_and_cannot_log_in(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let admin = Api::register(&app.address, "boss").await;
    let ivan = Api::register(&app.address, "ivan").await;
    let refused = ivan.post(&format!("/api/v1/users/{}/deactivate", admin.user_id), json!({})).await;
    assert_eq!(refused.status, 403, "members cannot deactivate anyone");

    admin.post(&format!("/api/v1/users/{}/deactivate", ivan.user_id), json!({})).await.expect(200);
    assert_eq!(ivan.get("/api/v1/users/me").await.status, 401);
    assert_eq!(Api::login(&app.address, "ivan", "password-ivan").await.status, 401);
    admin.post(&format!("/api/v1/users/{}/activate", ivan.user_id), json!({})).await.expect(200);
    Api::login(&app.address, "ivan", "password-ivan").await.expect(200);
}

async fn bad_input_gets_a_clear_4xx_with_the_json_error_body(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let anon = Api::anonymous(&app.address);
    let cases = [
        (
            json!({"username": "x", "email": "x@example.com", "password": "password-x"}),
            400,
            "validation_failed",
            "username",
        ),
        (json!({"username": "okname", "email": "nope", "password": "password-x"}), 400, "validation_failed", "email"),
        (
            json!({"username": "okname", "email": "o@example.com", "password": "short"}),
            400,
            "validation_failed",
            "password",
        ),
        (json!({"username": "okname", "email": "o@example.com"}), 400, "validation_failed", "password"),
        (
            json!({"username": 5, "email": "o@example.com", "password": "password-x"}),
            400,
            "validation_failed",
            "username",
        ),
    ];
    for (body, status, code, mentions) in cases {
        let r = anon.post("/api/v1/auth/register", body.clone()).await;
        assert_eq!((r.status, r.code()), (status, code), "{body} -> {}", r.body);
        assert!(r.body["error"]["message"].as_str().unwrap().contains(mentions), "{body} -> {}", r.body);
    }
    let raw = anon
        .http
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert_eq!(raw.json::<serde_json::Value>().await.unwrap()["error"]["code"], "invalid_json");
    let huge = anon
        .http
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("content-type", "application/json")
        .body(vec![b' '; 200_000])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    assert_eq!(huge.json::<serde_json::Value>().await.unwrap()["error"]["code"], "payload_too_large");
    let no_token = anon.get("/api/v1/users/me").await;
    assert_eq!((no_token.status, no_token.code()), (401, "unauthorized"));
    let mut forged = anon.clone();
    forged.token = Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged".into());
    assert_eq!(forged.get("/api/v1/users/me").await.code(), "invalid_token");
}

async fn profiles_can_be_updated_and_users_found(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let jane = Api::register(&app.address, "jane").await;
    Api::register(&app.address, "janet").await;
    let me = jane.patch("/api/v1/users/me", json!({"display_name": "Jane Doe"})).await.expect(200);
    assert_eq!(me["display_name"], "Jane Doe");
    let taken = jane.patch("/api/v1/users/me", json!({"email": "janet@example.com"})).await;
    assert_eq!(taken.status, 409);
    let found = jane.get("/api/v1/users?q=jan").await.expect(200);
    let names: Vec<_> = found.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["jane", "janet"]);
    assert!(found[0].get("email").is_none(), "others' emails are not listed");
    let one = jane.get(&format!("/api/v1/users/{}", jane.user_id)).await.expect(200);
    assert_eq!(one["display_name"], "Jane Doe");
    assert_eq!(jane.get("/api/v1/users/not-a-uuid").await.status, 404);
    assert_eq!(jane.get("/api/v1/users?limit=500").await.status, 400);
}

/// Two nodes on one database: a logout on one is refused on the other from the next request on.
#[tokio::test]
async fn a_token_revoked_on_one_node_is_refused_on_another() {
    let Some(db) = crate::common::TestDb::create().await else {
        return;
    };
    let (a, b) = crate::common::two_nodes_on(&db).await;
    let on_a = Api::register(&a.address, "roamer").await;
    let mut on_b = on_a.clone();
    on_b.base = b.address.clone();
    on_b.get("/api/v1/users/me").await.expect(200);
    on_a.post("/api/v1/auth/logout", json!({})).await.expect(204);
    assert_eq!(on_b.get("/api/v1/users/me").await.status, 401);
    drop((a, b));
}
