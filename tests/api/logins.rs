//! A socket lives as long as the right to read. Deactivation, logout, a password change and a revoked
//! session close the sockets of the logins they end, on every node, before anything published later
//! reaches them (close 4003); a login ended behind the nodes' backs (SQL, the admin command line) is
//! found by the next sweep; a socket whose access token expires closes (4001) unless the client
//! presents a fresh token; removal from a team ends the team's channels on the socket at once.

use std::time::Duration;

use serde_json::json;

use crate::common::{Api, Db, Read, TestApp, TestDb, Ws, cluster_token_keys, spawn_app, two_nodes_over_redis};
use crate::on_both_databases;

const T: Duration = Duration::from_secs(10);

on_both_databases!(a_login_ended_behind_the_nodes_backs_closes_its_sockets_at_the_next_sweep);

/// Two nodes over Redis; the owner (a system admin) and mate share a team, a public and a private
/// channel. Every API call goes to node b; the sockets under test sit on node a.
struct Setup {
    _db: TestDb,
    a: TestApp,
    b: TestApp,
    owner: Api,
    mate: Api,
    team: String,
    open: String,
    secret: String,
}

async fn setup() -> Option<Setup> {
    let db = TestDb::create().await?;
    let (a, b) = two_nodes_over_redis(&db).await?;
    let owner = Api::register(&b.address, "owner").await;
    let mate = Api::register(&b.address, "mate").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    let open = owner.create_channel(&team, "general", "public").await;
    mate.add_to_channel(&open, &mate.user_id).await;
    let secret = owner.create_channel(&team, "secret", "private").await;
    owner.add_to_channel(&secret, &mate.user_id).await;
    Some(Setup { _db: db, a, b, owner, mate, team, open, secret })
}

fn token(api: &Api) -> String {
    api.token.clone().unwrap()
}

/// A second login of the same account (another device).
async fn second_login(api: &Api) -> Api {
    let mut other = api.clone();
    let body = Api::login(&api.base, &api.username, &format!("password-{}", api.username)).await.expect(200);
    other.adopt(&body);
    other
}

/// Reads until the socket closes, and asserts nothing with `message` reached it first.
async fn closed_before(ws: &mut Ws, message: &str) -> (u16, String) {
    let close = ws.expect_close(T).await;
    let leaked: Vec<_> = ws.seen.iter().filter(|e| e["data"]["post"]["message"] == message).collect();
    assert!(leaked.is_empty(), "a post made after the login ended reached its socket: {leaked:?}");
    close
}

#[tokio::test]
async fn a_deactivated_members_sockets_close_on_every_node_before_a_later_post_reaches_them() {
    let Some(s) = setup().await else { return };
    let on_b = second_login(&s.mate).await;
    let mut remote = Ws::connect(&s.a.address, &token(&s.mate)).await;
    let mut local = Ws::connect(&s.b.address, &token(&on_b)).await;

    s.owner.post(&format!("/api/v1/users/{}/deactivate", s.mate.user_id), json!({})).await.expect(200);
    s.owner.say(&s.secret, "after the deactivation").await;

    for ws in [&mut remote, &mut local] {
        let (code, reason) = closed_before(ws, "after the deactivation").await;
        assert_eq!((code, reason.as_str()), (4003, "login ended: account deactivated"));
    }
    // A deactivated account cannot open a new socket either.
    assert!(Ws::try_connect(&s.a.address, Some(&token(&s.mate))).await.is_err());
}

#[tokio::test]
async fn logout_closes_the_sockets_of_that_login_only() {
    let Some(s) = setup().await else { return };
    let phone = second_login(&s.mate).await;
    let mut ended = Ws::connect(&s.a.address, &token(&s.mate)).await;
    let mut kept = Ws::connect(&s.a.address, &token(&phone)).await;

    s.mate.post("/api/v1/auth/logout", json!({})).await.expect(204);
    let seq = s.owner.say(&s.secret, "after the logout").await["seq"].as_i64().unwrap();

    let (code, reason) = closed_before(&mut ended, "after the logout").await;
    assert_eq!((code, reason.as_str()), (4003, "login ended: logged out"));
    let got = kept.until_seq(&s.secret, seq, T).await;
    assert_eq!(got.last().unwrap()["data"]["post"]["message"], "after the logout", "the other login reads on");
}

#[tokio::test]
async fn a_password_change_closes_every_other_login_and_keeps_its_own() {
    let Some(s) = setup().await else { return };
    let phone = second_login(&s.mate).await;
    let mut kept = Ws::connect(&s.a.address, &token(&s.mate)).await;
    let mut ended = Ws::connect(&s.a.address, &token(&phone)).await;

    s.mate
        .post("/api/v1/auth/password", json!({"current_password": "password-mate", "new_password": "a new password"}))
        .await
        .expect(204);
    let seq = s.owner.say(&s.secret, "after the password change").await["seq"].as_i64().unwrap();

    let (code, reason) = closed_before(&mut ended, "after the password change").await;
    assert_eq!((code, reason.as_str()), (4003, "login ended: password changed"));
    kept.until_seq(&s.secret, seq, T).await;
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_session_and_closes_its_sockets() {
    let Some(s) = setup().await else { return };
    let mut ws = Ws::connect(&s.a.address, &token(&s.mate)).await;
    let stolen = s.mate.refresh.clone().unwrap();
    let anonymous = Api::anonymous(&s.b.address);
    anonymous.post("/api/v1/auth/refresh", json!({ "refresh_token": stolen })).await.expect(200);
    let reuse = anonymous.post("/api/v1/auth/refresh", json!({ "refresh_token": stolen })).await;
    assert_eq!(reuse.status, 401);
    s.owner.say(&s.secret, "after the revocation").await;

    let (code, reason) = closed_before(&mut ws, "after the revocation").await;
    assert_eq!((code, reason.as_str()), (4003, "login ended: session revoked"));
}

/// Leaving a team is not the end of a login: the socket stays, and every channel of the team stops
/// at its `member_removed`, on every node, while the user's other channels go on.
#[tokio::test]
async fn removal_from_a_team_ends_its_channels_on_the_socket_at_once() {
    let Some(s) = setup().await else { return };
    let dm = s.owner.post("/api/v1/channels/direct", json!({ "user_id": s.mate.user_id })).await.expect(200);
    let dm = dm["id"].as_str().unwrap().to_string();
    let mut ws = Ws::connect(&s.a.address, &token(&s.mate)).await;

    s.owner.delete(&format!("/api/v1/teams/{}/members/{}", s.team, s.mate.user_id)).await.expect(204);
    // The socket hears its removal from each of the team's channels, and nothing of them after it.
    let removed_from = |ws: &Ws, channel: &str| {
        ws.channel_events(channel)
            .iter()
            .any(|e| e["event"] == "member_removed" && e["data"]["user_id"] == s.mate.user_id.as_str())
    };
    let deadline = tokio::time::Instant::now() + T;
    while !(removed_from(&ws, &s.secret) && removed_from(&ws, &s.open)) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "no member_removed in each team channel: {:?}", ws.seen);
        if let Read::Closed(c) = ws.read(left).await {
            panic!("removal from a team closed the socket ({c:?}); the user keeps their other channels");
        }
    }
    s.owner.say(&s.secret, "private, after the removal").await;
    s.owner.say(&s.open, "public, after the removal").await;
    let seq = s.owner.say(&dm, "a direct message").await["seq"].as_i64().unwrap();
    ws.until_seq(&dm, seq, T).await;
    for channel in [&s.secret, &s.open] {
        let last = ws.channel_events(channel).last().cloned().unwrap();
        assert_eq!(last["event"], "member_removed", "{channel}: {:?}", ws.seen);
    }
    let leaked: Vec<_> = ws
        .seen
        .iter()
        .filter(|e| e["data"]["post"]["message"].as_str().is_some_and(|m| m.ends_with("after the removal")))
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
    let _ = &s.b;
}

/// SQL (or the admin command line) revokes a session with no node told: each node's sweep, which
/// checks its sockets' logins before it reads anything back, closes the socket.
async fn a_login_ended_behind_the_nodes_backs_closes_its_sockets_at_the_next_sweep(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let owner = Api::register(&app.address, "owner").await;
    let mate = Api::register(&app.address, "mate").await;
    let mut ws = Ws::connect(&app.address, &token(&mate)).await;
    let mut kept = Ws::connect(&app.address, &token(&owner)).await;

    let sql = "UPDATE sessions SET revoked_at = created_at WHERE user_id = $1";
    // Bound, not spliced: SQLite keeps ids as blobs.
    let user: uuid::Uuid = mate.user_id.parse().unwrap();
    match db {
        Db::Postgres => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
            assert_eq!(sqlx::query(sql).bind(user).execute(&mut c).await.unwrap().rows_affected(), 1);
        }
        Db::Sqlite => {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&app.db_url).await.unwrap();
            assert_eq!(sqlx::query(sql).bind(user).execute(&mut c).await.unwrap().rows_affected(), 1);
        }
    }
    // The sweep runs every 5 seconds.
    let (code, reason) = ws.expect_close(Duration::from_secs(15)).await;
    assert_eq!((code, reason.as_str()), (4003, "login ended: session no longer valid"));
    kept.send(json!({"action": "ping", "id": 1})).await;
    assert_eq!(kept.expect("pong", T).await["id"], 1, "other logins are untouched");
}

/// A socket may outlive its access token by the grace (10 s) only; `authenticate` with a fresh token
/// of the same user keeps it open.
#[tokio::test]
async fn an_expired_token_closes_its_socket_unless_the_client_renews_it() {
    let Some(s) = setup().await else { return };
    let keys = cluster_token_keys();
    let claims = keys.verify_access(&token(&s.mate)).unwrap();
    let soon = claims.exp - 15 * 60 + 2;
    let short = keys.issue_access_expiring(claims.sub, claims.sid, soon).unwrap();
    let mut lapsing = Ws::connect(&s.a.address, &short).await;
    let mut renewed = Ws::connect(&s.a.address, &short).await;

    renewed.send(json!({"action": "authenticate", "id": "x", "token": "junk"})).await;
    let reply = renewed.expect("reply", T).await;
    assert_eq!((reply["id"].as_str(), reply["error"]["code"].as_str()), (Some("x"), Some("invalid_token")), "{reply}");
    renewed.send(json!({"action": "authenticate", "id": "y", "token": token(&s.owner)})).await;
    let reply = renewed.expect("reply", T).await;
    assert_eq!(reply["error"]["code"], "forbidden", "a socket cannot change hands: {reply}");
    renewed.send(json!({"action": "authenticate", "id": "z", "token": token(&s.mate)})).await;
    let reply = renewed.expect("reply", T).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    assert!(reply["data"]["expires_in"].as_u64().unwrap() > 800, "{reply}");

    let (code, reason) = lapsing.expect_close(Duration::from_secs(20)).await;
    assert_eq!((code, reason.as_str()), (4001, "access token expired: refresh it, reconnect and resume"));
    let seq = s.owner.say(&s.secret, "after the first token expired").await["seq"].as_i64().unwrap();
    renewed.until_seq(&s.secret, seq, T).await;
}
