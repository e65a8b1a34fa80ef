//! Outgoing webhooks and slash commands against a real HTTP target: what is sent (Mattermost's
//! fields, the HMAC signature, the idempotency key), retries with backoff, giving up, the per-host
//! breaker, the reply post, the SSRF guard, and a call surviving the node that made it being killed.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::client::Api;
use crate::common::target::{Answer, Target};
use crate::common::{Db, eventually, spawn_app};

const WAIT: Duration = Duration::from_secs(20);

/// A node that may call 127.0.0.1 (the test target), with `extra` settings.
async fn node(db: Db, extra: &[(&str, &str)]) -> Option<crate::common::TestApp> {
    let mut vars = vec![("RUSTCHAT_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1")];
    vars.extend_from_slice(extra);
    spawn_app(db, &vars).await
}

/// A team admin with a team and a public channel.
async fn team_and_channel(base: &str, name: &str) -> (Api, String, String) {
    let admin = Api::register(base, name).await;
    let team = admin.create_team(&format!("{name}-team"), false).await;
    let channel = admin.create_channel(&team, "builds", "public").await;
    (admin, team, channel)
}

async fn create_hook(api: &Api, team: &str, body: Value) -> Value {
    api.post(&format!("/api/v1/teams/{team}/outgoing_webhooks"), body).await.expect(201)
}

fn hmac_hex(key: &str, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn metric(base: &str, series: &str) -> f64 {
    let scrape = reqwest::get(format!("{base}/api/v1/health/metrics")).await.unwrap().text().await.unwrap();
    scrape
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn channel_messages(api: &Api, channel: &str) -> Vec<(String, String)> {
    let page = api.get(&format!("/api/v1/channels/{channel}/posts")).await.expect(200);
    page["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["message"].as_str().unwrap().to_string(), p["user_id"].as_str().unwrap().to_string()))
        .collect()
}

async fn a_trigger_word_post_is_delivered_signed_and_its_answer_is_posted(db: Db) {
    let Some(app) = node(db, &[]).await else { return };
    let target = Target::start(vec![], Answer::Status(200, r#"{"text":"deploying now"}"#.into())).await;
    let (admin, team, channel) = team_and_channel(&app.address, "hookadmin").await;
    let hook = create_hook(
        &admin,
        &team,
        json!({ "channel_id": channel, "display_name": "CI", "trigger_words": ["deploy"], "callback_urls": [target.url] }),
    )
    .await;
    let token = hook["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 26);

    admin.say(&channel, "not a trigger").await;
    let post = admin.say(&channel, "deploy main please").await;
    let seen = target.wait_for(1, WAIT).await;
    let call = &seen[0];
    assert_eq!(call.method, "POST");
    assert_eq!(call.header("content-type"), Some("application/json"));
    let body = call.json();
    assert_eq!(body["token"], token.as_str());
    assert_eq!(body["team_id"], team.as_str());
    assert_eq!(body["channel_id"], channel.as_str());
    assert_eq!(body["channel_name"], "builds");
    assert_eq!(body["user_id"], admin.user_id.as_str());
    assert_eq!(body["user_name"], "hookadmin");
    assert_eq!(body["post_id"], post["id"]);
    assert_eq!(body["text"], "deploy main please");
    assert_eq!(body["trigger_word"], "deploy");
    assert!(body["timestamp"].as_i64().unwrap() > 1_700_000_000_000, "{body}");
    assert_eq!(
        call.header("x-rustchat-signature").unwrap(),
        hmac_hex(&token, &call.body),
        "signature over the exact body"
    );
    let key = call.header("idempotency-key").unwrap();
    assert!(key.starts_with(post["id"].as_str().unwrap()), "{key}");

    // The answer's text is posted in the channel, as the hook's creator.
    eventually(WAIT, "the hook's reply in the channel", || async {
        channel_messages(&admin, &channel).await.into_iter().find(|(m, _)| m == "deploying now")
    })
    .await;
    let deliveries =
        admin.get(&format!("/api/v1/outgoing_webhooks/{}/deliveries", hook["id"].as_str().unwrap())).await.expect(200);
    assert_eq!(deliveries[0]["state"], "delivered");
    assert_eq!(deliveries[0]["attempts"], 1);
    assert_eq!(target.seen().len(), 1, "only the trigger word's post was sent");
    assert_eq!(metric(&app.address, "rustchat_webhook_deliveries_total{result=\"success\"}").await, 1.0);
}

async fn an_every_message_hook_does_not_answer_its_own_replies(db: Db) {
    let Some(app) = node(db, &[]).await else { return };
    let target = Target::start(vec![], Answer::Status(200, r#"{"text":"echo"}"#.into())).await;
    let (admin, team, channel) = team_and_channel(&app.address, "echoadmin").await;
    create_hook(
        &admin,
        &team,
        json!({ "channel_id": channel, "callback_urls": [target.url], "content_type": "application/x-www-form-urlencoded" }),
    )
    .await;
    admin.say(&channel, "one").await;
    let first = target.wait_for(1, WAIT).await;
    assert_eq!(first[0].header("content-type"), Some("application/x-www-form-urlencoded"));
    assert!(first[0].body.contains("text=one"), "{}", first[0].body);
    eventually(WAIT, "the echo", || async {
        channel_messages(&admin, &channel).await.into_iter().find(|(m, _)| m == "echo")
    })
    .await;
    // Had the reply triggered the hook, its call would come before this later post's.
    admin.say(&channel, "two").await;
    let seen = target.wait_for(2, WAIT).await;
    assert!(seen[1].body.contains("text=two"), "the reply triggered the hook: {}", seen[1].body);
    assert_eq!(target.seen().len(), 2);
}

async fn a_failing_target_is_retried_with_backoff_and_the_same_key(db: Db) {
    let Some(app) = node(db, &[("RUSTCHAT_WEBHOOK_RETRY_BASE_MS", "500")]).await else { return };
    let target = Target::start(
        vec![Answer::Status(500, "{}".into()), Answer::Status(503, "{}".into())],
        Answer::Status(200, "{}".into()),
    )
    .await;
    let (admin, team, channel) = team_and_channel(&app.address, "retryadmin").await;
    let hook = create_hook(&admin, &team, json!({ "channel_id": channel, "callback_urls": [target.url] })).await;
    admin.say(&channel, "build 42 failed").await;
    let seen = target.wait_for(3, WAIT).await;
    let key = seen[0].header("idempotency-key").unwrap();
    assert!(seen.iter().all(|s| s.header("idempotency-key") == Some(key)), "one key on every try");
    let (gap1, gap2) = (seen[1].at - seen[0].at, seen[2].at - seen[1].at);
    // base × 2^(n-1) plus up to 25 % jitter (plus the worker's poll).
    assert!(gap1 >= Duration::from_millis(500), "first retry after {gap1:?}");
    assert!(gap2 >= Duration::from_millis(1000), "second retry after {gap2:?}");
    assert!(gap2 > gap1, "backoff grows: {gap1:?} then {gap2:?}");
    let id = hook["id"].as_str().unwrap();
    let delivered = eventually(WAIT, "the call marked delivered", || async {
        let d = admin.get(&format!("/api/v1/outgoing_webhooks/{id}/deliveries")).await.expect(200);
        (d[0]["state"] == "delivered").then_some(d)
    })
    .await;
    assert_eq!(delivered[0]["attempts"], 3);
    assert_eq!(delivered[0]["last_error"], "answered HTTP 503");
    assert_eq!(metric(&app.address, "rustchat_webhook_deliveries_total{result=\"retry\"}").await, 2.0);
    assert_eq!(metric(&app.address, "rustchat_webhook_deliveries_total{result=\"success\"}").await, 1.0);
    assert!(metric(&app.address, "rustchat_webhook_delivery_duration_seconds_count").await >= 3.0);
}

async fn a_call_that_keeps_failing_is_given_up_and_shown_dead(db: Db) {
    let Some(app) = node(db, &[("RUSTCHAT_WEBHOOK_RETRY_BASE_MS", "50"), ("RUSTCHAT_WEBHOOK_MAX_ATTEMPTS", "3")]).await
    else {
        return;
    };
    let target = Target::start(vec![], Answer::Status(500, "{}".into())).await;
    let (admin, team, channel) = team_and_channel(&app.address, "deadadmin").await;
    let hook = create_hook(&admin, &team, json!({ "channel_id": channel, "callback_urls": [target.url] })).await;
    admin.say(&channel, "hello").await;
    let id = hook["id"].as_str().unwrap();
    let dead = eventually(WAIT, "the call given up", || async {
        let d = admin.get(&format!("/api/v1/outgoing_webhooks/{id}/deliveries")).await.expect(200);
        (d[0]["state"] == "dead").then_some(d)
    })
    .await;
    assert_eq!(dead[0]["attempts"], 3);
    assert!(dead[0]["finished_at"].is_string());
    assert_eq!(target.seen().len(), 3, "exactly RUSTCHAT_WEBHOOK_MAX_ATTEMPTS tries");
    assert_eq!(metric(&app.address, "rustchat_webhook_deliveries_total{result=\"failed\"}").await, 1.0);
    assert_eq!(metric(&app.address, "rustchat_webhook_deliveries_total{result=\"retry\"}").await, 2.0);
}

async fn a_failing_host_opens_its_breaker(db: Db) {
    let Some(app) =
        node(db, &[("RUSTCHAT_WEBHOOK_RETRY_BASE_MS", "10"), ("RUSTCHAT_WEBHOOK_MAX_ATTEMPTS", "50")]).await
    else {
        return;
    };
    let target = Target::start(vec![], Answer::Status(502, "{}".into())).await;
    let (admin, team, channel) = team_and_channel(&app.address, "breakeradmin").await;
    create_hook(&admin, &team, json!({ "channel_id": channel, "callback_urls": [target.url] })).await;
    admin.say(&channel, "hello").await;
    let open = "rustchat_circuit_breaker_state_changes_total{breaker=\"webhook\",from=\"closed\",to=\"open\"}";
    eventually(WAIT, "the host's breaker open", || async { (metric(&app.address, open).await >= 1.0).then_some(()) })
        .await;
    eventually(WAIT, "a call put off by the open breaker", || async {
        let n = metric(&app.address, "rustchat_webhook_deliveries_total{result=\"breaker_open\"}").await;
        (n >= 1.0).then_some(())
    })
    .await;
    // Five failures in a row opened it; while open (5 s) the host is not called again.
    assert_eq!(target.seen().len(), 5);
}

async fn internal_targets_are_refused_unless_allowed(db: Db) {
    // No allow-list: the default an operator gets.
    let Some(app) = spawn_app(db, &[]).await else { return };
    let target = Target::start(vec![], Answer::Status(200, "{}".into())).await;
    let (admin, team, channel) = team_and_channel(&app.address, "ssrfadmin").await;
    for url in [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00:ec2::254]/",
        "http://127.0.0.1:9/x",
    ] {
        let r = admin
            .post(
                &format!("/api/v1/teams/{team}/outgoing_webhooks"),
                json!({ "channel_id": channel, "callback_urls": [url] }),
            )
            .await;
        assert_eq!(r.status, 400, "{url}: {r:?}");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("refused"), "{url}: {r:?}");
    }
    for url in ["ftp://example.com/", "http://user:secret@example.com/"] {
        let r = admin
            .post(
                &format!("/api/v1/teams/{team}/outgoing_webhooks"),
                json!({ "channel_id": channel, "callback_urls": [url] }),
            )
            .await;
        assert_eq!(r.status, 400, "{url}: {r:?}");
    }
    // A name is checked when called: `localhost` resolves to loopback, so the call is refused.
    let named = format!("http://localhost:{}/hook", target.port);
    let hook = create_hook(&admin, &team, json!({ "channel_id": channel, "callback_urls": [named] })).await;
    admin.say(&channel, "hello").await;
    let id = hook["id"].as_str().unwrap();
    let dead = eventually(WAIT, "the call refused", || async {
        let d = admin.get(&format!("/api/v1/outgoing_webhooks/{id}/deliveries")).await.expect(200);
        (d.as_array().is_some_and(|a| !a.is_empty()) && d[0]["state"] == "dead").then_some(d)
    })
    .await;
    assert!(dead[0]["last_error"].as_str().unwrap().contains("loopback"), "{dead}");
    assert!(target.seen().is_empty(), "the target was called");
    assert_eq!(metric(&app.address, "rustchat_webhook_deliveries_total{result=\"refused\"}").await, 1.0);
}

async fn a_redirect_is_not_followed(db: Db) {
    let Some(app) = node(db, &[]).await else { return };
    let target = Target::start(vec![], Answer::Status(302, "{}".into())).await;
    let (admin, team, channel) = team_and_channel(&app.address, "redirectadmin").await;
    let hook = create_hook(&admin, &team, json!({ "channel_id": channel, "callback_urls": [target.url] })).await;
    admin.say(&channel, "hello").await;
    let id = hook["id"].as_str().unwrap();
    let dead = eventually(WAIT, "the call given up", || async {
        let d = admin.get(&format!("/api/v1/outgoing_webhooks/{id}/deliveries")).await.expect(200);
        (d.as_array().is_some_and(|a| !a.is_empty()) && d[0]["state"] == "dead").then_some(d)
    })
    .await;
    assert_eq!(dead[0]["last_error"], "answered HTTP 302 (redirects are not followed)");
    assert_eq!(target.seen().len(), 1, "neither followed nor retried");
}

async fn hooks_are_managed_by_their_creator_and_team_admins(db: Db) {
    let Some(app) = node(db, &[]).await else { return };
    let (admin, team, channel) = team_and_channel(&app.address, "mgmtadmin").await;
    let member = Api::register(&app.address, "mgmtmember").await;
    let outsider = Api::register(&app.address, "mgmtoutsider").await;
    admin.add_to_team(&team, &member.user_id).await;
    admin.add_to_channel(&channel, &member.user_id).await;
    let hook =
        create_hook(&member, &team, json!({ "channel_id": channel, "callback_urls": ["https://example.com/h"] })).await;
    let id = hook["id"].as_str().unwrap();
    // Team-wide hooks are for team admins, and need trigger words.
    let r = member
        .post(
            &format!("/api/v1/teams/{team}/outgoing_webhooks"),
            json!({ "trigger_words": ["x"], "callback_urls": ["https://example.com/h"] }),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = admin
        .post(&format!("/api/v1/teams/{team}/outgoing_webhooks"), json!({ "callback_urls": ["https://example.com/h"] }))
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(outsider.get(&format!("/api/v1/outgoing_webhooks/{id}")).await.status, 404);
    assert_eq!(outsider.delete(&format!("/api/v1/outgoing_webhooks/{id}")).await.status, 404);
    assert_eq!(
        admin.get(&format!("/api/v1/teams/{team}/outgoing_webhooks")).await.expect(200).as_array().unwrap().len(),
        1
    );
    assert_eq!(admin.delete(&format!("/api/v1/outgoing_webhooks/{id}")).await.status, 204);
    assert_eq!(member.get(&format!("/api/v1/outgoing_webhooks/{id}")).await.status, 404);
}

async fn create_command(api: &Api, team: &str, trigger: &str, url: &str) -> Value {
    api.post(
        &format!("/api/v1/teams/{team}/commands"),
        json!({ "trigger": trigger, "url": url, "auto_complete": true, "auto_complete_hint": "[branch]" }),
    )
    .await
    .expect(201)
}

async fn slash_commands_answer_in_the_channel_or_only_to_the_caller(db: Db) {
    let Some(app) = node(db, &[]).await else { return };
    let target = Target::start(
        vec![
            Answer::Status(200, r#"{"response_type":"in_channel","text":"deployed main"}"#.into()),
            Answer::Status(200, r#"{"response_type":"ephemeral","text":"only you see this"}"#.into()),
            Answer::Status(200, r#"{"response_type":"ephemeral","text":"via the socket"}"#.into()),
        ],
        Answer::Status(500, "{}".into()),
    )
    .await;
    let (admin, team, channel) = team_and_channel(&app.address, "cmdadmin").await;
    let member = Api::register(&app.address, "cmdmember").await;
    admin.add_to_team(&team, &member.user_id).await;
    admin.add_to_channel(&channel, &member.user_id).await;
    let command = create_command(&admin, &team, "deploy", &target.url).await;
    let token = command["token"].as_str().unwrap().to_string();
    // Members see the team's commands (to type them), not their tokens.
    let listed = member.get(&format!("/api/v1/teams/{team}/commands")).await.expect(200);
    assert_eq!(listed[0]["trigger"], "deploy");
    assert_eq!(listed[0]["token"], "");
    assert_eq!(
        member
            .post(&format!("/api/v1/teams/{team}/commands"), json!({ "trigger": "x", "url": target.url }))
            .await
            .status,
        403
    );

    let mut caller_ws = crate::common::ws::Ws::connect(&app.address, admin.token.as_deref().unwrap()).await;
    let mut other_ws = crate::common::ws::Ws::connect(&app.address, member.token.as_deref().unwrap()).await;

    // in_channel: the answer is posted as the caller; the command line itself is not.
    let posted = admin
        .post(&format!("/api/v1/channels/{channel}/posts"), json!({ "message": "/deploy main" }))
        .await
        .expect(201);
    assert_eq!(posted["message"], "deployed main");
    assert_eq!(posted["user_id"], admin.user_id.as_str());
    let call = &target.seen()[0];
    assert_eq!(call.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(call.header("authorization"), Some(format!("Token {token}").as_str()));
    assert_eq!(call.header("x-rustchat-signature").unwrap(), hmac_hex(&token, &call.body));
    let fields: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(call.body.as_bytes()).into_owned().collect();
    assert_eq!(fields["command"], "/deploy");
    assert_eq!(fields["text"], "main");
    assert_eq!(fields["token"], token);
    assert_eq!(fields["channel_id"], channel);
    assert_eq!(fields["team_id"], team);
    assert_eq!(fields["user_id"], admin.user_id);
    assert_eq!(fields["user_name"], "cmdadmin");
    let messages = channel_messages(&admin, &channel).await;
    assert!(messages.iter().all(|(m, _)| !m.starts_with("/deploy")), "{messages:?}");

    // ephemeral: only the caller's sockets hear it; nothing is posted.
    let answer = admin
        .post(&format!("/api/v1/channels/{channel}/posts"), json!({ "message": "/deploy status" }))
        .await
        .expect(200);
    assert_eq!(answer["response_type"], "ephemeral");
    assert_eq!(answer["text"], "only you see this");
    let event = caller_ws.expect("ephemeral_message", WAIT).await;
    assert_eq!(event["data"]["text"], "only you see this");
    assert_eq!(event["channel_id"], channel.as_str());
    // The other member's socket hears the next post, and never heard the ephemeral answer before it.
    admin.say(&channel, "after the command").await;
    let next = other_ws.expect("posted", WAIT).await;
    let next =
        if next["data"]["post"]["message"] == "deployed main" { other_ws.expect("posted", WAIT).await } else { next };
    assert_eq!(next["data"]["post"]["message"], "after the command", "{next}");
    assert!(other_ws.seen.iter().all(|e| e["event"] != "ephemeral_message"), "{:?}", other_ws.seen);
    assert_eq!(channel_messages(&admin, &channel).await.len(), 2, "the answer was not posted");

    // The socket's post action runs command lines too.
    caller_ws.send(json!({"action": "post", "id": "c1", "channel_id": channel, "message": "/deploy ws"})).await;
    let reply = caller_ws.expect("reply", WAIT).await;
    assert_eq!((reply["id"].as_str(), reply["status"].as_str()), (Some("c1"), Some("ok")), "{reply}");
    let event = caller_ws.expect("ephemeral_message", WAIT).await;
    assert_eq!(event["data"]["text"], "via the socket");
    assert!(target.seen()[2].body.contains("text=ws"), "{}", target.seen()[2].body);

    // A failing command server is a clear 503; an unknown command a 404; neither is posted.
    let r = admin.post(&format!("/api/v1/channels/{channel}/posts"), json!({ "message": "/deploy again" })).await;
    assert_eq!(r.status, 503, "{r:?}");
    let r = admin.post(&format!("/api/v1/channels/{channel}/posts"), json!({ "message": "/unknown thing" })).await;
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("/unknown"), "{r:?}");
    // `//` escapes the slash: an ordinary post.
    admin.say(&channel, "//deploy is a command").await;
    let id = command["id"].as_str().unwrap();
    assert_eq!(admin.delete(&format!("/api/v1/commands/{id}")).await.status, 204);
    let r = admin.post(&format!("/api/v1/channels/{channel}/commands/run"), json!({ "command": "/deploy x" })).await;
    assert_eq!(r.status, 404, "a removed command is unknown: {r:?}");
}

async fn a_command_to_an_internal_address_is_refused(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let target = Target::start(vec![], Answer::Status(200, r#"{"text":"x"}"#.into())).await;
    let (admin, team, channel) = team_and_channel(&app.address, "cmdssrf").await;
    let r = admin
        .post(
            &format!("/api/v1/teams/{team}/commands"),
            json!({ "trigger": "meta", "url": "http://169.254.169.254/latest" }),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    create_command(&admin, &team, "local", &format!("http://localhost:{}/x", target.port)).await;
    let r = admin.post(&format!("/api/v1/channels/{channel}/commands/run"), json!({ "command": "/local" })).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("loopback"), "{r:?}");
    assert!(target.seen().is_empty());
}

async fn mattermost_clients_run_slash_commands_through_v4(db: Db) {
    let Some(app) = node(db, &[]).await else { return };
    let target = Target::start(
        vec![Answer::Status(200, r#"{"response_type":"in_channel","text":"v4 posted"}"#.into())],
        Answer::Status(200, r#"{"text":"v4 private"}"#.into()),
    )
    .await;
    let (admin, team, channel) = team_and_channel(&app.address, "mmcmd").await;
    create_command(&admin, &team, "ship", &target.url).await;
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{}/api/v4/users/login", app.address))
        .json(&json!({ "login_id": "mmcmd", "password": "password-mmcmd" }))
        .send()
        .await
        .unwrap();
    let token = login.headers()["token"].to_str().unwrap().to_string();
    let execute = |line: &'static str| {
        let (http, token, base, channel) = (http.clone(), token.clone(), app.address.clone(), channel.clone());
        async move {
            let r = http
                .post(format!("{base}/api/v4/commands/execute"))
                .bearer_auth(token)
                .json(&json!({ "channel_id": channel, "command": line }))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = execute("/ship it").await;
    assert_eq!(
        (status, body["response_type"].as_str(), body["text"].as_str()),
        (200, Some("in_channel"), Some("v4 posted"))
    );
    assert!(channel_messages(&admin, &channel).await.iter().any(|(m, _)| m == "v4 posted"));
    let (status, body) = execute("/ship quietly").await;
    assert_eq!(
        (status, body["response_type"].as_str(), body["text"].as_str()),
        (200, Some("ephemeral"), Some("v4 private"))
    );
    let (status, body) = execute("/nope").await;
    assert_eq!(status, 404, "{body}");
}

/// Posts whose hooks the outbox worker has not looked at yet, read from the node's database.
async fn pending_triggers(db_url: &str) -> i64 {
    use sqlx::Connection;
    let sql = "SELECT COUNT(*) FROM outgoing_triggers";
    if db_url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(db_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    }
}

async fn the_site_can_turn_outgoing_webhooks_and_commands_off(db: Db) {
    let Some(app) = node(db, &[]).await else { return };
    let target = Target::start(vec![], Answer::Status(200, r#"{"text":"x"}"#.into())).await;
    // The first account is the system admin.
    let (admin, team, channel) = team_and_channel(&app.address, "siteadmin").await;
    create_hook(&admin, &team, json!({ "channel_id": channel, "callback_urls": [target.url] })).await;
    create_command(&admin, &team, "go", &target.url).await;
    admin
        .patch("/api/v1/admin/config/site", json!({ "enable_outgoing_webhooks": false, "enable_commands": false }))
        .await
        .expect(200);
    let r = admin
        .post(
            &format!("/api/v1/teams/{team}/outgoing_webhooks"),
            json!({ "channel_id": channel, "callback_urls": [target.url] }),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = admin.post(&format!("/api/v1/channels/{channel}/posts"), json!({ "message": "/go" })).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("enable_commands"), "{r:?}");
    // A post while hooks are off calls nothing; one after they are back on does.
    admin.say(&channel, "while off").await;
    eventually(WAIT, "the post's trigger consumed while hooks are off", || async {
        (pending_triggers(&app.db_url).await == 0).then_some(())
    })
    .await;
    admin.patch("/api/v1/admin/config/site", json!({ "enable_outgoing_webhooks": true })).await.expect(200);
    admin.say(&channel, "back on").await;
    let seen = target.wait_for(1, WAIT).await;
    assert!(seen[0].json()["text"] == "back on", "{}", seen[0].body);
    assert_eq!(target.seen().len(), 1);
}

crate::on_both_databases!(
    mattermost_clients_run_slash_commands_through_v4,
    the_site_can_turn_outgoing_webhooks_and_commands_off,
    slash_commands_answer_in_the_channel_or_only_to_the_caller,
    a_command_to_an_internal_address_is_refused,
    a_trigger_word_post_is_delivered_signed_and_its_answer_is_posted,
    an_every_message_hook_does_not_answer_its_own_replies,
    a_failing_target_is_retried_with_backoff_and_the_same_key,
    a_call_that_keeps_failing_is_given_up_and_shown_dead,
    a_failing_host_opens_its_breaker,
    internal_targets_are_refused_unless_allowed,
    a_redirect_is_not_followed,
    hooks_are_managed_by_their_creator_and_team_admins,
);

/// The node making a call is killed with SIGKILL while the target holds the request open: the lease
/// expires and the other node makes the call, with the same idempotency key, and it is delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_node_is_killed_mid_delivery_is_made_by_another_node() {
    let extra = [("RUSTCHAT_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1"), ("RUSTCHAT_WEBHOOK_TIMEOUT_MS", "5000")];
    let Some(mut cluster) = crate::common::Cluster::start(2, &extra).await else { return };
    let target = Target::start(vec![Answer::Hold], Answer::Status(200, r#"{"text":"survived"}"#.into())).await;
    let (admin, team, channel) = team_and_channel(&cluster.base(0), "killadmin").await;
    let hook = create_hook(&admin, &team, json!({ "channel_id": channel, "callback_urls": [target.url] })).await;
    admin.say(&channel, "release 7").await;

    let first = target.wait_for(1, WAIT).await;
    let key = first[0].header("idempotency-key").unwrap().to_string();
    let started = |l: &Value| l["message"] == "outgoing webhook call started";
    // Whichever node claimed the call is the one holding it.
    let holder = eventually(WAIT, "the node making the call", || {
        let found = (0..2).find(|i| cluster.logs(*i).iter().any(started));
        async move { found }
    })
    .await;
    let survivor = 1 - holder;
    cluster.kill9(holder);

    let seen = target.wait_for(2, Duration::from_secs(40)).await;
    assert_eq!(seen[1].header("idempotency-key"), Some(key.as_str()), "the retry carries the same key");
    assert_eq!(seen[1].body, first[0].body, "the same call");
    cluster.wait_log(survivor, "the survivor to deliver it", |l| l["message"] == "outgoing webhook delivered").await;
    let survivor_api = Api { base: cluster.base(survivor), ..admin.clone() };
    let id = hook["id"].as_str().unwrap();
    let d = eventually(WAIT, "the call marked delivered", || async {
        let d = survivor_api.get(&format!("/api/v1/outgoing_webhooks/{id}/deliveries")).await.expect(200);
        (d[0]["state"] == "delivered").then_some(d)
    })
    .await;
    assert_eq!(d.as_array().unwrap().len(), 1, "one call, made twice");
    eventually(WAIT, "the reply posted by the survivor", || async {
        channel_messages(&survivor_api, &channel).await.into_iter().find(|(m, _)| m == "survived")
    })
    .await;
    assert_eq!(target.seen().len(), 2);
}

/// A command run through one node answers ephemerally to the caller's socket on another node (over
/// Redis), and to no other member's socket there.
#[tokio::test]
async fn an_ephemeral_answer_reaches_the_callers_sockets_on_every_node_and_no_one_else() {
    let Some(db) = crate::common::TestDb::create().await else { return };
    if !crate::common::redis_available().await {
        return;
    }
    let prefix = format!("test{}", uuid::Uuid::new_v4().simple());
    let redis = crate::common::redis_url();
    let vars = [
        ("RUSTCHAT_JWT_SECRET", crate::common::CLUSTER_JWT_SECRET),
        ("RUSTCHAT_ENCRYPTION_KEY", crate::common::CLUSTER_ENCRYPTION_KEY),
        ("RUSTCHAT_REDIS_URL", redis.as_str()),
        ("RUSTCHAT_REDIS_PREFIX", prefix.as_str()),
        ("RUSTCHAT_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1"),
    ];
    let a = crate::common::spawn_app_on(&db.url, &vars).await.unwrap();
    let b = crate::common::spawn_app_on(&db.url, &vars).await.unwrap();
    let target = Target::start(vec![], Answer::Status(200, r#"{"text":"for your eyes"}"#.into())).await;
    let (admin, team, channel) = team_and_channel(&a.address, "xnodeadmin").await;
    let member = Api::register(&a.address, "xnodemember").await;
    admin.add_to_team(&team, &member.user_id).await;
    admin.add_to_channel(&channel, &member.user_id).await;
    create_command(&admin, &team, "peek", &target.url).await;
    let mut caller_on_b = crate::common::ws::Ws::connect(&b.address, admin.token.as_deref().unwrap()).await;
    let mut member_on_b = crate::common::ws::Ws::connect(&b.address, member.token.as_deref().unwrap()).await;
    // The caller on the node that runs the command too: it delivers the answer itself and must not
    // deliver the bus's echo of it a second time.
    let mut caller_on_a = crate::common::ws::Ws::connect(&a.address, admin.token.as_deref().unwrap()).await;

    let answer = admin
        .post(&format!("/api/v1/channels/{channel}/commands/run"), json!({ "command": "/peek" }))
        .await
        .expect(200);
    assert_eq!(answer["response_type"], "ephemeral");
    let event = caller_on_b.expect("ephemeral_message", WAIT).await;
    assert_eq!(event["data"]["text"], "for your eyes");
    caller_on_a.expect("ephemeral_message", WAIT).await;
    admin.say(&channel, "next").await;
    member_on_b.expect("posted", WAIT).await;
    caller_on_a.expect("posted", WAIT).await;
    caller_on_b.expect("posted", WAIT).await;
    assert!(member_on_b.seen.iter().all(|e| e["event"] != "ephemeral_message"), "{:?}", member_on_b.seen);
    for (node, ws) in [("a", &caller_on_a), ("b", &caller_on_b)] {
        let answers = ws.seen.iter().filter(|e| e["event"] == "ephemeral_message").count();
        assert_eq!(answers, 1, "node {node} delivered the answer {answers} times: {:?}", ws.seen);
    }
}
