//! Real time on one node (both databases): the WebSocket protocol, delivery, authorization of
//! subscriptions, resume without loss or duplicates, slow consumers.

use std::time::Duration;

use serde_json::json;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::ws::{Read, assert_contiguous};
use crate::common::{Api, Db, Ws, eventually, spawn_app};
use crate::on_both_databases;

const T: Duration = Duration::from_secs(10);

on_both_databases!(
    the_socket_requires_a_valid_token_and_says_hello,
    members_receive_channel_events_in_order_and_outsiders_receive_nothing,
    client_actions_get_replies_correlated_by_id,
    a_reconnecting_client_resumes_without_loss_or_duplicates,
    a_resume_at_the_channels_head_reads_nothing_back_and_one_behind_reads_what_it_missed,
    an_announced_resume_is_waited_for_so_a_late_one_duplicates_nothing,
    membership_changes_start_and_stop_delivery_at_once,
    typing_is_ephemeral_and_never_replayed,
    a_post_arrives_live_exactly_as_it_is_replayed,
    client_frames_with_junk_are_refused_and_never_relayed,
    a_socket_that_answers_pings_stays_open_and_a_silent_one_is_closed,
);

/// A post is published as the transaction wrote it, not read back; what a resuming client replays
/// from the log must be the same event. Covers the plain post (one statement on PostgreSQL), a reply
/// and a mention (the transaction).
async fn a_post_arrives_live_exactly_as_it_is_replayed(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let (owner, mate, _, open, _) = trio(&app.address).await;
    let mut live = Ws::connect(&app.address, &token(&mate)).await;
    let before = owner.get(&format!("/api/v1/channels/{open}")).await.expect(200)["last_seq"].as_i64().unwrap();
    let plain = owner.say(&open, "plain words, \"quoted\" and ünïcode").await;
    let root = plain["id"].as_str().unwrap().to_string();
    owner
        .post(&format!("/api/v1/channels/{open}/posts"), json!({"message": "a reply", "root_id": root}))
        .await
        .expect(201);
    let last = owner.say(&open, "hey @mate").await["seq"].as_i64().unwrap();
    let live_events = live.until_seq(&open, last, T).await;
    let live_posted: Vec<_> = live_events.into_iter().filter(|e| e["event"] == "posted").collect();
    assert_eq!(live_posted.len(), 3);

    let mut replay = Ws::connect_announcing_resume(&app.address, &token(&mate)).await;
    replay.send(json!({"action": "resume", "since": { open.clone(): before }})).await;
    let replayed: Vec<_> =
        replay.until_seq(&open, last, T).await.into_iter().filter(|e| e["event"] == "posted").collect();
    assert_eq!(live_posted, replayed);
    assert_eq!(replayed[0]["data"]["post"]["message"], "plain words, \"quoted\" and ünïcode");
    assert_eq!(replayed[0]["data"]["post"]["reply_count"], 0);
    assert_eq!(replayed[1]["data"]["post"]["root_id"], root.as_str());
    assert_eq!(replayed[2]["data"]["mentions"]["usernames"], json!(["mate"]));
}

/// Owner and mate in one public channel, and an outsider in the team but not the private channel.
async fn trio(base: &str) -> (Api, Api, Api, String, String) {
    let owner = Api::register(base, "owner").await;
    let mate = Api::register(base, "mate").await;
    let other = Api::register(base, "other").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    owner.add_to_team(&team, &other.user_id).await;
    let open = owner.create_channel(&team, "general", "public").await;
    mate.add_to_channel(&open, &mate.user_id).await;
    let secret = owner.create_channel(&team, "secret", "private").await;
    owner.add_to_channel(&secret, &mate.user_id).await;
    (owner, mate, other, open, secret)
}

fn token(api: &Api) -> String {
    api.token.clone().unwrap()
}

async fn the_socket_requires_a_valid_token_and_says_hello(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let user = Api::register(&app.address, "sam").await;
    for bad in [None, Some("not-a-token")] {
        match Ws::try_connect(&app.address, bad).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("{bad:?} was not refused: {:?}", other.map(|_| ())),
        }
    }
    let mut ws = Ws::try_connect(&app.address, Some(&token(&user))).await.unwrap();
    let hello = ws.expect("hello", T).await;
    assert_eq!(hello["data"]["user_id"], user.user_id.as_str());
    assert_eq!(hello["data"]["node_id"], "test-node");
    assert_eq!(hello["data"]["server_version"], env!("CARGO_PKG_VERSION"));
    let (_, chosen) = Ws::connect_with_subprotocol(&app.address, &token(&user)).await;
    assert_eq!(chosen.as_deref(), Some("rustchat.bearer"), "the browser subprotocol is accepted");
    // A client's close is answered at once with a close frame echoing its code.
    assert_eq!(ws.close_handshake(Duration::from_secs(2)).await, Some(1000), "the server answers a close");
}

async fn members_receive_channel_events_in_order_and_outsiders_receive_nothing(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let (owner, mate, other, open, secret) = trio(&app.address).await;
    other.add_to_channel(&open, &other.user_id).await;
    let mut mate_ws = Ws::connect(&app.address, &token(&mate)).await;
    let mut other_ws = Ws::connect(&app.address, &token(&other)).await;
    let start = owner.get(&format!("/api/v1/channels/{secret}")).await.expect(200)["last_seq"].as_i64().unwrap();

    let p = owner.say(&secret, "for members only").await;
    let id = p["id"].as_str().unwrap().to_string();
    owner.patch(&format!("/api/v1/posts/{id}"), json!({"message": "edited"})).await.expect(200);
    mate.post(&format!("/api/v1/posts/{id}/reactions"), json!({"emoji_name": "eyes"})).await.expect(201);
    owner.delete(&format!("/api/v1/posts/{id}")).await.expect(204);

    let got = mate_ws.until_seq(&secret, start + 4, T).await;
    assert_contiguous(&got, start + 1);
    let kinds: Vec<_> = got.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["posted", "post_edited", "reaction_added", "post_deleted"]);
    assert_eq!(got[0]["data"]["post"]["message"], "for members only");
    // The live frames are the log's frames, byte for byte in meaning.
    let log = owner.get(&format!("/api/v1/channels/{secret}/events?after_seq={start}")).await.expect(200);
    for (live, stored) in got.iter().zip(log.as_array().unwrap()) {
        assert_eq!(live["data"], stored["data"]);
    }

    // The outsider saw nothing of the private channel (a public post proves their socket works).
    owner.say(&open, "public").await;
    let public = other_ws.expect("posted", T).await;
    assert_eq!(public["channel_id"], open.as_str());
    assert!(other_ws.seen.iter().all(|e| e["channel_id"] != secret.as_str()), "an outsider received a private event");
}

/// The server pings every socket; a client that reads (and so answers each ping with a pong) stays
/// open well past the timeout, one that stops reading is closed as idle (1001) when a ping falls due
/// after the timeout passed without a word from it.
async fn a_socket_that_answers_pings_stays_open_and_a_silent_one_is_closed(db: Db) {
    let vars = [("RUSTCHAT_WS_PING_SECONDS", "1"), ("RUSTCHAT_WS_CLIENT_TIMEOUT_SECONDS", "2")];
    let Some(app) = spawn_app(db, &vars).await else { return };
    let (owner, mate, ..) = trio(&app.address).await;
    let mut silent = Ws::connect(&app.address, &token(&owner)).await;
    let mut lively = Ws::connect(&app.address, &token(&mate)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match lively.read(left).await {
            Read::TimedOut => break,
            Read::Event(_) => {}
            Read::Closed(c) => panic!("a client answering pings was closed: {c:?}"),
        }
    }
    assert!(lively.pings >= 3, "a ping a second, {} in 5 s", lively.pings);
    lively.send(json!({"action": "ping", "id": 1})).await;
    assert_eq!(lively.expect("pong", T).await["id"], 1);

    assert_eq!(silent.expect_close(T).await, (1001, "idle timeout".to_string()));
    assert!(silent.pings >= 1, "the silent client was pinged before it was closed");
}

async fn client_actions_get_replies_correlated_by_id(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let (owner, mate, _, open, secret) = trio(&app.address).await;
    let mut ws = Ws::connect(&app.address, &token(&mate)).await;
    ws.send(json!({"action": "ping", "id": 7})).await;
    assert_eq!(ws.expect("pong", T).await["id"], 7);

    ws.send(json!({"action": "post", "id": "c1", "channel_id": open, "message": "from the socket"})).await;
    let reply = ws.expect("reply", T).await;
    assert_eq!((reply["id"].as_str(), reply["status"].as_str()), (Some("c1"), Some("ok")), "{reply}");
    let seq = reply["data"]["seq"].as_i64().unwrap();
    let echoed = ws.until_seq(&open, seq, T).await;
    assert_eq!(echoed.last().unwrap()["data"]["post"]["message"], "from the socket");
    let page = owner.get(&format!("/api/v1/channels/{open}/posts")).await.expect(200);
    assert_eq!(page["posts"][0]["message"], "from the socket", "the post is durable");

    let cases = [
        (json!({"action": "post", "id": "c2", "channel_id": open, "message": ""}), "validation_failed"),
        (json!({"action": "post", "id": "c3", "channel_id": uuid::Uuid::now_v7(), "message": "x"}), "not_found"),
        (json!({"action": "post", "id": "c4", "channel_id": open, "message": "x".repeat(16_001)}), "payload_too_large"),
        (json!({"action": "fly", "id": "c5"}), "unknown_action"),
        (json!({"id": "c6"}), "validation_failed"),
    ];
    for (frame, code) in cases {
        let id = frame["id"].clone();
        ws.send(frame).await;
        let reply = ws.expect("reply", T).await;
        assert_eq!(reply["id"], id);
        assert_eq!((reply["status"].as_str(), reply["error"]["code"].as_str()), (Some("error"), Some(code)), "{reply}");
    }
    ws.stream_send_raw("not json").await;
    assert_eq!(ws.expect("reply", T).await["error"]["code"], "invalid_json");

    // The socket lives as long as the login it was opened with (tests/api/logins.rs has the rest).
    mate.post("/api/v1/auth/logout", json!({})).await.expect(204);
    assert_eq!(ws.expect_close(T).await, (4003, "login ended: logged out".to_string()));
    let _ = secret;
}

/// Whatever a client sends is parsed before anything is done with it: a `typing` with junk is refused
/// and relays nothing; a valid one relays exactly the user and thread ids.
async fn client_frames_with_junk_are_refused_and_never_relayed(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let (owner, mate, _, open, _) = trio(&app.address).await;
    let mut owner_ws = Ws::connect(&app.address, &token(&owner)).await;
    let mut mate_ws = Ws::connect(&app.address, &token(&mate)).await;
    let junk = json!({ "payload": "x".repeat(50_000) });
    let cases = [
        (json!({"action": "typing", "id": 1, "channel_id": open, "root_id": junk}), "UUID"),
        (json!({"action": "typing", "id": 2, "channel_id": open, "extra": junk}), "unknown field `extra`"),
        (json!({"action": "typing", "id": 3, "channel_id": 7}), "UUID"),
        (json!({"action": "presence", "id": 4, "status": "online", "note": "hi"}), "unknown field `note`"),
        (json!({"action": "resume", "id": 5, "since": {open.clone(): "ten"}}), "invalid type"),
        (json!({"action": "ping", "id": {"nested": true}}), "\"id\""),
    ];
    for (frame, needle) in cases {
        owner_ws.send(frame.clone()).await;
        let reply = owner_ws.expect("reply", T).await;
        assert_eq!(
            (reply["status"].as_str(), reply["error"]["code"].as_str()),
            (Some("error"), Some("validation_failed")),
            "{frame}: {reply}"
        );
        assert!(reply["error"]["message"].as_str().unwrap().contains(needle), "{reply}");
        assert!(reply.to_string().len() < 1_000, "the reply does not echo the junk");
    }
    let root = owner.say(&open, "a thread").await["id"].as_str().unwrap().to_string();
    owner_ws.send(json!({"action": "typing", "id": 9, "channel_id": open, "root_id": root})).await;
    assert_eq!(owner_ws.expect("reply", T).await["status"], "ok");
    let typing = mate_ws.expect("typing", T).await;
    assert_eq!(typing["data"], json!({ "user_id": owner.user_id, "root_id": root }), "only the parsed ids are relayed");
    assert_eq!(mate_ws.seen.iter().filter(|e| e["event"] == "typing").count(), 1, "{:?}", mate_ws.seen);
}

async fn a_reconnecting_client_resumes_without_loss_or_duplicates(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let (owner, mate, _, open, secret) = trio(&app.address).await;
    let mut ws = Ws::connect(&app.address, &token(&mate)).await;
    let base = owner.get(&format!("/api/v1/channels/{open}")).await.expect(200)["last_seq"].as_i64().unwrap();
    for i in 0..3 {
        owner.say(&open, &format!("before {i}")).await;
    }
    let first = ws.until_seq(&open, base + 3, T).await;
    let last_seen = first.last().unwrap()["seq"].as_i64().unwrap();
    let secret_seen = ws
        .max_seq(&secret)
        .max(owner.get(&format!("/api/v1/channels/{secret}")).await.expect(200)["last_seq"].as_i64().unwrap());
    ws.drop_connection();

    for i in 0..5 {
        owner.say(&open, &format!("while away {i}")).await;
    }
    owner.say(&secret, "secret while away").await;

    let mut again = Ws::connect(&app.address, &token(&mate)).await;
    again.send(json!({"action": "resume", "id": "r", "since": { open.clone(): last_seen, secret.clone(): secret_seen, uuid::Uuid::now_v7().to_string(): 0 }})).await;
    let reply = again.expect("reply", T).await;
    assert_eq!(reply["data"]["resumed"].as_array().unwrap().len(), 2, "{reply}");
    assert_eq!(reply["data"]["unknown"].as_array().unwrap().len(), 1, "{reply}");
    let replayed = again.until_seq(&open, last_seen + 5, T).await;
    assert_contiguous(&replayed, last_seen + 1);
    let texts: Vec<_> = replayed.iter().map(|e| e["data"]["post"]["message"].as_str().unwrap()).collect();
    assert_eq!(texts, (0..5).map(|i| format!("while away {i}")).collect::<Vec<_>>());
    let secret_replayed = again.until_seq(&secret, secret_seen + 1, T).await;
    assert_eq!(secret_replayed.len(), 1);

    // Then live events continue after the replay, still contiguous.
    owner.say(&open, "live again").await;
    let all = again.until_seq(&open, last_seen + 6, T).await;
    assert_contiguous(&all, last_seen + 1);
}

/// Event-log reads by catching-up sockets so far, from the node's metrics.
async fn read_backs(app: &crate::common::TestApp) -> f64 {
    let text = app.get("/api/v1/health/metrics").await.text().await.unwrap();
    crate::operability::sample(&text, "rustchat_websocket_read_backs_total", &[]).unwrap_or(0.0)
}

/// Reconnect waves (a rolling restart moves every client) must not cost a log read per channel per
/// client when the clients are up to date: the channel actor tells each session how far it had got.
async fn a_resume_at_the_channels_head_reads_nothing_back_and_one_behind_reads_what_it_missed(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let (owner, mate, _, open, secret) = trio(&app.address).await;
    // The owner's socket keeps both channels' actors alive with a known head across mate's reconnects.
    let mut watcher = Ws::connect(&app.address, &token(&owner)).await;
    owner.say(&open, "one").await;
    owner.say(&open, "two").await;
    owner.say(&secret, "three").await;
    let head = |ch: String| {
        let owner = &owner;
        async move { owner.get(&format!("/api/v1/channels/{ch}")).await.expect(200)["last_seq"].as_i64().unwrap() }
    };
    let (open_head, secret_head) = (head(open.clone()).await, head(secret.clone()).await);
    watcher.until_seq(&open, open_head, T).await;
    watcher.until_seq(&secret, secret_head, T).await;

    let before = read_backs(&app).await;
    let mut ws = Ws::connect_announcing_resume(&app.address, &token(&mate)).await;
    // Joining the channel actors takes microseconds; this leaves no doubt they answered before the resume.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ws.send(json!({"action": "resume", "id": "r", "since": { open.clone(): open_head, secret.clone(): secret_head }}))
        .await;
    assert_eq!(ws.expect("reply", T).await["data"]["resumed"].as_array().unwrap().len(), 2);
    owner.say(&open, "live").await;
    let live = ws.until_seq(&open, open_head + 1, T).await;
    assert_eq!(live.len(), 1, "only what is new: {live:?}");
    assert_eq!(live[0]["data"]["post"]["message"], "live");
    assert_eq!(read_backs(&app).await, before, "an up-to-date resume reads nothing from the log");
    ws.drop_connection();

    let mut behind = Ws::connect_announcing_resume(&app.address, &token(&mate)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    behind.send(json!({"action": "resume", "id": "r", "since": { open.clone(): open_head - 1, secret.clone(): secret_head }})).await;
    behind.expect("reply", T).await;
    let missed = behind.until_seq(&open, open_head + 1, T).await;
    assert_contiguous(&missed, open_head);
    let texts: Vec<_> = missed.iter().map(|e| e["data"]["post"]["message"].as_str().unwrap()).collect();
    assert_eq!(texts, ["two", "live"]);
    assert!(read_backs(&app).await > before, "a resume behind the head reads back");
}

/// A client that announces its resume in the handshake gets nothing before its resume is applied, however
/// late the resume comes (a busy node may read it after the default one-second window).
async fn an_announced_resume_is_waited_for_so_a_late_one_duplicates_nothing(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let (owner, mate, _, open, _) = trio(&app.address).await;
    let known = owner.say(&open, "known").await["seq"].as_i64().unwrap();
    let mut ws = Ws::connect_announcing_resume(&app.address, &token(&mate)).await;
    owner.say(&open, "while connecting").await;
    // Longer than the default window: without the announcement, "while connecting" would be delivered
    // now and again after the resume below.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    loop {
        match ws.read(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
            Read::TimedOut => break,
            // Ephemeral events (presence) are never held: they have no place in the log to resume from.
            Read::Event(e) if e["seq"] == 0 => continue,
            other => panic!("no channel event may arrive before the announced resume: {other:?}"),
        }
    }
    ws.send(json!({"action": "resume", "id": "r", "since": { open.clone(): known - 1 }})).await;
    owner.say(&open, "after").await;
    let events = ws.until_seq(&open, known + 2, T).await;
    assert_contiguous(&events, known);
    let texts: Vec<_> = events.iter().map(|e| e["data"]["post"]["message"].as_str().unwrap()).collect();
    assert_eq!(texts, ["known", "while connecting", "after"]);

    let bad = format!("{}/api/v1/ws?resume=maybe", app.address.replacen("http://", "ws://", 1));
    let mut request = bad.into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {}", token(&mate)).parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("?resume=maybe was accepted: {:?}", other.map(|_| ())),
    }
}

async fn membership_changes_start_and_stop_delivery_at_once(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let (owner, _, other, _, secret) = trio(&app.address).await;
    let mut ws = Ws::connect(&app.address, &token(&other)).await;
    owner.say(&secret, "before joining").await;
    owner.add_to_channel(&secret, &other.user_id).await;
    let added = ws.expect("member_added", T).await;
    assert_eq!(added["channel_id"], secret.as_str());
    owner.say(&secret, "welcome").await;
    let welcome = ws.expect("posted", T).await;
    assert_eq!(welcome["data"]["post"]["message"], "welcome");
    assert!(
        ws.seen.iter().all(|e| e["data"]["post"]["message"] != "before joining"),
        "history before joining is not pushed"
    );

    owner.delete(&format!("/api/v1/channels/{secret}/members/{}", other.user_id)).await.expect(204);
    let removed = ws.expect("member_removed", T).await;
    assert_eq!(removed["data"]["user_id"], other.user_id.as_str());
    owner.say(&secret, "after removal").await;
    // A later event in a channel the user is still in proves the socket is alive and ordered.
    let dm = owner.post("/api/v1/channels/direct", json!({"user_id": other.user_id})).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    owner.say(&dm, "ping via dm").await;
    let dm_post = ws.expect("posted", T).await;
    assert_eq!(dm_post["channel_id"], dm.as_str());
    assert!(
        ws.seen.iter().all(|e| e["data"]["post"]["message"] != "after removal"),
        "a removed member still received a post"
    );
}

async fn typing_is_ephemeral_and_never_replayed(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let (owner, mate, _, open, _) = trio(&app.address).await;
    let mut owner_ws = Ws::connect(&app.address, &token(&owner)).await;
    let mut mate_ws = Ws::connect(&app.address, &token(&mate)).await;
    owner_ws.send(json!({"action": "typing", "channel_id": open})).await;
    let typing = mate_ws.expect("typing", T).await;
    assert_eq!((typing["channel_id"].as_str(), typing["seq"].as_i64()), (Some(open.as_str()), Some(0)));
    assert_eq!(typing["data"]["user_id"], owner.user_id.as_str());
    let log = owner.get(&format!("/api/v1/channels/{open}/events")).await.expect(200);
    assert!(log.as_array().unwrap().iter().all(|e| e["event"] != "typing"), "typing is not stored");
    owner_ws.send(json!({"action": "typing", "id": 1, "channel_id": uuid::Uuid::now_v7()})).await;
    assert_eq!(owner_ws.expect("reply", T).await["error"]["code"], "not_found");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_as_slow_consumer_and_others_are_unaffected() {
    let Some(app) =
        spawn_app(Db::Sqlite, &[("RUSTCHAT_WS_MAX_QUEUED_FRAMES", "32"), ("RUSTCHAT_WS_MAX_QUEUED_BYTES", "262144")])
            .await
    else {
        return;
    };
    let (owner, mate, other, open, _) = trio(&app.address).await;
    other.add_to_channel(&open, &other.user_id).await;
    let mut slow = Ws::connect_slow(&app.address, &token(&mate)).await;
    let mut fast = Ws::connect(&app.address, &token(&other)).await;
    let base = owner.get(&format!("/api/v1/channels/{open}")).await.expect(200)["last_seq"].as_i64().unwrap();
    let big = "x".repeat(15_000);
    // ~9 MB: more than the kernel's socket buffers and the outbound queue together can hold.
    let posted = 600;
    for n in 1..=posted {
        owner.say(&open, &big).await;
        // The fast client keeps up as it goes.
        fast.until_seq(&open, base + n, T).await;
    }
    let (code, reason) = slow.expect_close(Duration::from_secs(30)).await;
    assert_eq!(code, 4008, "{reason}");
    assert!(reason.contains("slow consumer"), "{reason}");
    assert_contiguous(&fast.channel_events(&open), base + 1);

    // The slow client comes back and resumes from what it had: nothing lost.
    let had = slow.max_seq(&open).max(base);
    let mut back = Ws::connect(&app.address, &token(&mate)).await;
    back.send(json!({"action": "resume", "since": { open.clone(): had }})).await;
    let replay = back.until_seq(&open, base + posted, Duration::from_secs(60)).await;
    assert_contiguous(&replay, had + 1);
}

/// The runbook's P4 check, run as written: `websocat ws://…/api/v1/ws -H "Authorization: Bearer TOKEN"`.
#[tokio::test(flavor = "multi_thread")]
async fn the_runbooks_websocat_command_connects_and_talks() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    let Some(app) = spawn_app(Db::Sqlite, &[]).await else { return };
    let found = Command::new("websocat").arg("--version").output().is_ok();
    if !found {
        assert!(std::env::var("CI").is_err(), "websocat must be installed on CI (.ci/run installs it)");
        eprintln!("SKIPPED: websocat is not installed (cargo install websocat --locked)");
        return;
    }
    let user = Api::register(&app.address, "opsuser").await;
    let url = format!("ws://localhost:{}/api/v1/ws", app.port);
    let mut child = Command::new("websocat")
        .arg(&url)
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", token(&user)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = |rx: &std::sync::mpsc::Receiver<String>| {
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("websocat printed nothing");
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    let hello = tokio::task::block_in_place(|| next(&rx));
    assert_eq!(hello["event"], "hello");
    writeln!(stdin, "{}", json!({"action": "ping", "id": "ops"})).unwrap();
    let pong = tokio::task::block_in_place(|| next(&rx));
    assert_eq!((pong["event"].as_str(), pong["id"].as_str()), (Some("pong"), Some("ops")));
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn presence_follows_connections_and_the_away_action() {
    let Some(app) = spawn_app(Db::Sqlite, &[]).await else { return };
    let (owner, mate, _, open, _) = trio(&app.address).await;
    let mut mate_ws = Ws::connect(&app.address, &token(&mate)).await;
    // Presence goes out on every shared channel; order is per channel, so watch one.
    let is_owner =
        |e: &serde_json::Value| e["data"]["user_id"] == owner.user_id.as_str() && e["channel_id"] == open.as_str();

    let mut owner_ws = Ws::connect(&app.address, &token(&owner)).await;
    owner_ws.send(json!({"action": "presence", "id": 1, "status": "away"})).await;
    assert_eq!(owner_ws.expect("reply", T).await["status"], "ok");
    owner_ws.close().await;
    let mut status: Vec<String> = Vec::new();
    while status.last().map(String::as_str) != Some("offline") {
        let e = mate_ws.expect("presence", T).await;
        if is_owner(&e) {
            status.push(e["data"]["status"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(status, ["online", "away", "offline"]);
}

/// A reconnect wave far larger than the database pool (300 handshakes, 2 connections, a 500 ms
/// acquire timeout) takes its turn at the database: every handshake gets its `hello`, and posts still
/// go through meanwhile.
#[tokio::test]
async fn a_burst_of_handshakes_on_a_small_pool_waits_its_turn_and_every_socket_says_hello() {
    let Some(app) = spawn_app(
        Db::Postgres,
        &[
            ("RUSTCHAT_DB_POOL__MAX_CONNECTIONS", "2"),
            ("RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS", "500"),
            ("RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE", "100000"),
        ],
    )
    .await
    else {
        return;
    };
    let (owner, mate, _, open, _) = trio(&app.address).await;
    // The first user registered is the system admin.
    owner.patch("/api/v1/admin/config/site", json!({"max_simultaneous_connections": 200})).await.expect(200);
    let sockets = (0..300).map(|i| {
        let (address, token) = (app.address.clone(), token(if i % 2 == 0 { &owner } else { &mate }));
        tokio::spawn(async move { Ws::try_connect(&address, Some(&token)).await })
    });
    let poster = {
        let (owner, open) = (owner.clone(), open.clone());
        tokio::spawn(async move {
            for i in 0..20 {
                owner.say(&open, &format!("during the wave {i}")).await;
            }
        })
    };
    let mut open_sockets = Vec::new();
    for socket in sockets {
        match socket.await.unwrap() {
            Ok(ws) => open_sockets.push(ws),
            Err(e) => panic!("a handshake in the wave was refused: {e:?}"),
        }
    }
    poster.await.unwrap();
    for ws in &mut open_sockets {
        assert_eq!(ws.expect("hello", T).await["event"], "hello");
    }
}

/// Channels past `RUSTCHAT_WS_PRESENCE_MAX_MEMBERS` carry no presence (a reconnect wave there would be
/// members² frames); small ones still do, and anyone can ask who is online instead.
#[tokio::test]
async fn large_channels_carry_no_presence_and_statuses_can_be_asked_for() {
    let Some(app) = spawn_app(Db::Sqlite, &[("RUSTCHAT_WS_PRESENCE_MAX_MEMBERS", "2")]).await else { return };
    let (owner, mate, other, open, secret) = trio(&app.address).await;
    other.add_to_channel(&open, &other.user_id).await; // open: 3 members, past the limit; secret: 2
    let mut mate_ws = Ws::connect(&app.address, &token(&mate)).await;
    let presence_in = |ws: &Ws, channel: &str| -> Vec<String> {
        ws.seen
            .iter()
            .filter(|e| {
                e["event"] == "presence" && e["channel_id"] == channel && e["data"]["user_id"] == owner.user_id.as_str()
            })
            .map(|e| e["data"]["status"].as_str().unwrap().to_string())
            .collect()
    };

    let owner_ws = Ws::connect(&app.address, &token(&owner)).await;
    // Channel frames keep their order per channel, so once a later post has arrived in each channel,
    // any presence for it would have too.
    let ask = |ids: Vec<&str>| {
        let mate = mate.clone();
        let ids: Vec<String> = ids.into_iter().map(str::to_string).collect();
        async move { mate.post("/api/v1/users/status/ids", json!(ids)).await.expect(200) }
    };
    let statuses = ask(vec![&owner.user_id, &other.user_id, &owner.user_id]).await;
    assert_eq!(statuses.as_array().unwrap().len(), 2, "each user once: {statuses}");
    let status_of = |all: &serde_json::Value, id: &str| {
        all.as_array().unwrap().iter().find(|s| s["user_id"] == id).map(|s| s["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status_of(&statuses, &owner.user_id).as_deref(), Some("online"));
    assert_eq!(status_of(&statuses, &other.user_id).as_deref(), Some("offline"));

    let seq_open = owner.say(&open, "after connect").await["seq"].as_i64().unwrap();
    let seq_secret = owner.say(&secret, "after connect").await["seq"].as_i64().unwrap();
    mate_ws.until_seq(&open, seq_open, T).await;
    mate_ws.until_seq(&secret, seq_secret, T).await;
    assert_eq!(presence_in(&mate_ws, &secret), ["online"], "the small channel hears of the connect");
    assert!(presence_in(&mate_ws, &open).is_empty(), "the large one does not: {:?}", mate_ws.seen);

    owner_ws.close().await;
    eventually(T, "the owner's status to read offline", || {
        let owner_id = owner.user_id.clone();
        async move {
            let statuses = ask(vec![&owner_id]).await;
            (status_of(&statuses, &owner_id).as_deref() == Some("offline")).then_some(())
        }
    })
    .await;
    while presence_in(&mate_ws, &secret).len() < 2 {
        mate_ws.expect("presence", T).await;
    }
    assert_eq!(presence_in(&mate_ws, &secret), ["online", "offline"]);
    let seq_open = owner.say(&open, "after close").await["seq"].as_i64().unwrap();
    mate_ws.until_seq(&open, seq_open, T).await;
    assert!(presence_in(&mate_ws, &open).is_empty(), "no offline in the large channel: {:?}", mate_ws.seen);

    // The request is bounded, and needs a caller.
    let too_many: Vec<String> = (0..501).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let refused = mate.post("/api/v1/users/status/ids", json!(too_many)).await;
    assert_eq!((refused.status, refused.code()), (400, "validation_failed"));
    let anonymous = Api::anonymous(&app.address).post("/api/v1/users/status/ids", json!([owner.user_id])).await;
    assert_eq!(anonymous.status, 401);
    let malformed = mate.post("/api/v1/users/status/ids", json!(["not-a-uuid"])).await;
    assert_eq!(malformed.status, 400);
}

/// `@here` mentions exactly the members who are connected right now.
#[tokio::test]
async fn at_here_counts_a_mention_for_online_members_only() {
    let Some(app) = spawn_app(Db::Sqlite, &[]).await else { return };
    let (owner, mate, other, open, _) = trio(&app.address).await;
    other.add_to_channel(&open, &other.user_id).await;
    for who in [&mate, &other] {
        who.post(&format!("/api/v1/channels/{open}/view"), json!({})).await.expect(200);
    }
    let _online = Ws::connect(&app.address, &token(&mate)).await;
    owner.say(&open, "@here standup in 5").await;
    let mentions = |who: &Api| {
        let who = who.clone();
        let open = open.clone();
        async move { who.get(&format!("/api/v1/channels/{open}/read")).await.expect(200)["mention_count"].as_i64().unwrap() }
    };
    assert_eq!(mentions(&mate).await, 1, "connected member is mentioned");
    assert_eq!(mentions(&other).await, 0, "offline member is not");
    owner.say(&open, "@here @mate twice over").await;
    assert_eq!(mentions(&mate).await, 2, "one mention per post, however many ways");
}

/// A client reconnecting to a node that has not yet heard of the newest post (its peer wrote it, and
/// the node learns it from the bus or its sweep of the log) reads it at the handshake as the
/// channel's head, then resumes from before it: the post still arrives once the node hears of it.
/// Two nodes on one database and no Redis, so the second node learns only from its sweep.
#[tokio::test]
async fn a_resume_below_a_post_the_node_heard_of_late_still_gets_it() {
    let Some(db) = crate::common::TestDb::create().await else {
        return;
    };
    let (a, b) = crate::common::two_nodes_on(&db).await;
    let (owner, mate, _, open, _) = trio(&a.address).await;
    let seen = owner.say(&open, "seen before the reconnect").await["seq"].as_i64().unwrap();
    // The owner's socket on b keeps the channel's actor there alive, at `seen`.
    let mut watcher = Ws::connect(&b.address, &token(&owner)).await;
    // Reading the head takes milliseconds; this leaves no doubt the actor has it.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let missed = owner.say(&open, "written on a while mate reconnects to b").await["seq"].as_i64().unwrap();
    let mut ws = Ws::connect_announcing_resume(&b.address, &token(&mate)).await;
    // b's sweep brings the post to its channel actor while mate's socket waits for the resume.
    watcher.until_seq(&open, missed, Duration::from_secs(15)).await;
    ws.send(json!({"action": "resume", "id": "r", "since": { open.clone(): seen }})).await;
    ws.expect("reply", T).await;
    let events = ws.until_seq(&open, missed, T).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["post"]["message"], "written on a while mate reconnects to b");
}
