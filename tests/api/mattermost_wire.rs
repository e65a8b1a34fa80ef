//! The Mattermost API v4 on the wire, as `curl` and a bare WebSocket see it: the login answer (status,
//! `Token` header, cookies, exact `Content-Type`), cookie authentication with its CSRF check,
//! `AppError` bodies, the unauthenticated socket's refusals, and a v1 user and a v4 user seeing each
//! other's messages live across two nodes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{Api, Cluster, Ws};

async fn mm_login(base: &str, login: &str) -> (String, Vec<String>, Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v4/users/login"))
        .json(&json!({ "login_id": login, "password": format!("password-{login}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let token = res.headers()["token"].to_str().unwrap().to_string();
    let cookies = res.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_string()).collect();
    (token, cookies, res.json().await.unwrap())
}

fn cookie(cookies: &[String], name: &str) -> String {
    let c =
        cookies.iter().find(|c| c.starts_with(&format!("{name}="))).unwrap_or_else(|| panic!("{name}: {cookies:?}"));
    c[name.len() + 1..].split(';').next().unwrap().to_string()
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn socket(base: &str, token: Option<&str>) -> Socket {
    let mut req = format!("{}/api/v4/websocket", base.replacen("http://", "ws://", 1)).into_client_request().unwrap();
    if let Some(t) = token {
        req.headers_mut().insert("Authorization", format!("Bearer {t}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// The next JSON frame, or `None` when the socket closes.
async fn next(ws: &mut Socket) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a frame within 10 s")? {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

#[tokio::test]
async fn login_cookies_csrf_errors_and_v1_v4_users_live_together() {
    let Some(cluster) = Cluster::start(2, &[]).await else { return };
    let (base0, base1) = (cluster.base(0), cluster.base(1));
    let alice = Api::register(&base0, "alice").await;
    let bob = Api::register(&base1, "bob").await;
    let team = alice.create_team("wire", true).await;
    alice.add_to_team(&team, &bob.user_id).await;
    let channel = alice.create_channel(&team, "lobby", "public").await;
    alice.add_to_channel(&channel, &bob.user_id).await;
    let mm_channel = {
        let u = uuid::Uuid::parse_str(&channel).unwrap();
        rustchat::mattermost::ids::encode(u)
    };

    // Login: 200, the token, and the three cookies.
    let (token, cookies, me) = mm_login(&base0, "alice").await;
    assert_eq!(me["username"], "alice");
    assert_eq!(cookie(&cookies, "MMAUTHTOKEN"), token);
    assert_eq!(cookie(&cookies, "MMUSERID"), me["id"].as_str().unwrap());
    let csrf = cookie(&cookies, "MMCSRF");
    let http = reqwest::Client::new();
    let with_cookie = format!("MMAUTHTOKEN={token}; MMCSRF={csrf}");

    // Cookie authentication: reads pass, writes need X-CSRF-Token.
    let r = http.get(format!("{base1}/api/v4/users/me")).header("Cookie", &with_cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let post = json!({ "channel_id": mm_channel, "message": "by cookie" });
    let r = http.post(format!("{base1}/api/v4/posts")).header("Cookie", &with_cookie).json(&post).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status_code"], 401);
    assert!(body["message"].as_str().unwrap().contains("CSRF"), "{body}");
    assert_eq!(body["request_id"].as_str().unwrap().len(), 26);
    let r = http
        .post(format!("{base1}/api/v4/posts"))
        .header("Cookie", &with_cookie)
        .header("X-CSRF-Token", &csrf)
        .json(&post)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // AppError bodies: a bad id, a bad body, no token, another method, an unknown path.
    let bearer = |r: reqwest::RequestBuilder| r.bearer_auth(&token);
    let r = bearer(http.get(format!("{base0}/api/v4/channels/not-an-id"))).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/json");
    let r = bearer(http.post(format!("{base0}/api/v4/posts"))).body("{").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], "api.context.invalid_body_param.app_error");
    let r = http.get(format!("{base0}/api/v4/users/me")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.json::<Value>().await.unwrap()["status_code"].clone()), (401, json!(401)));
    let r = bearer(http.patch(format!("{base0}/api/v4/posts"))).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = bearer(http.get(format!("{base0}/api/v4/plugins"))).send().await.unwrap();
    assert_eq!(r.status(), 501);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], "api.context.not_implemented.app_error");
    let doc: Value = http.get(format!("{base0}/api/v4/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/api/v4/posts"]["post"].is_object());
    assert!(doc["paths"]["/api/v4/websocket"]["get"].is_object());

    // An unauthenticated socket: other actions fail, and it is closed after a few seconds.
    let mut anon = socket(&base0, None).await;
    anon.send(Message::Text(json!({ "seq": 1, "action": "ping" }).to_string().into())).await.unwrap();
    let fail = next(&mut anon).await.unwrap();
    assert_eq!((fail["status"].clone(), fail["seq_reply"].clone()), (json!("FAIL"), json!(1)), "{fail}");
    let started = std::time::Instant::now();
    assert_eq!(next(&mut anon).await, None, "closed");
    assert!(started.elapsed() < Duration::from_secs(8));

    // A v4 socket (header auth) and a v1 socket see each other's users' posts live.
    let mut v4 = socket(&base0, Some(&token)).await;
    let hello = next(&mut v4).await.unwrap();
    assert_eq!((hello["event"].clone(), hello["seq"].clone()), (json!("hello"), json!(0)));
    let mut v1 = Ws::connect(&base1, bob.token.as_deref().unwrap()).await;
    bob.say(&channel, "from v1").await;
    loop {
        let e = next(&mut v4).await.expect("posted");
        if e["event"] == "posted" {
            let post: Value = serde_json::from_str(e["data"]["post"].as_str().unwrap()).unwrap();
            assert_eq!(post["message"], "from v1");
            break;
        }
    }
    let r = bearer(http.post(format!("{base0}/api/v4/posts")))
        .json(&json!({ "channel_id": mm_channel, "message": "from v4" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    loop {
        let e = v1.expect("posted", Duration::from_secs(10)).await;
        if e["data"]["post"]["message"] == "from v4" {
            break;
        }
    }
    drop(cluster);
}

async fn socket_at(base: &str, token: &str, query: &str) -> Socket {
    let url = format!("{}/api/v4/websocket?{query}", base.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// The next event (replies and status changes skipped).
async fn next_event(ws: &mut Socket) -> Value {
    loop {
        let v = next(ws).await.expect("an event");
        if v.get("event").is_some() && v["event"] != "status_change" {
            return v;
        }
    }
}

#[tokio::test]
async fn a_reconnect_resumes_exactly_carries_on_or_starts_over_as_mattermost_does() {
    let Some(cluster) = Cluster::start(1, &[]).await else { return };
    let base = cluster.base(0);
    let alice = Api::register(&base, "alice").await;
    let team = alice.create_team("resume", true).await;
    let channel = alice.create_channel(&team, "room", "public").await;
    let (token, _, _) = mm_login(&base, "alice").await;

    let mut ws = socket_at(&base, &token, "").await;
    let hello = next_event(&mut ws).await;
    let id = hello["data"]["connection_id"].as_str().unwrap().to_string();
    for i in 0..3 {
        alice.say(&channel, &format!("m{i}")).await;
    }
    let mut last = 0;
    for _ in 0..3 {
        last = next_event(&mut ws).await["seq"].as_i64().unwrap();
    }
    drop(ws);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let message = |e: &Value| -> String {
        let post: Value = serde_json::from_str(e["data"]["post"].as_str().unwrap()).unwrap();
        post["message"].as_str().unwrap().to_string()
    };

    // Found: it says it got everything up to m0 (expects last - 1 next): m1 and m2 again, numbered on
    // from there with no gap (a presence change may come first), and no hello.
    let mut ws = socket_at(&base, &token, &format!("connection_id={id}&sequence_number={}", last - 1)).await;
    let mut got = Vec::new();
    let mut seqs = Vec::new();
    while got.len() < 2 {
        let v = next(&mut ws).await.expect("an event");
        if let Some(seq) = v["seq"].as_i64() {
            assert_ne!(v["event"], "hello", "{v}");
            seqs.push(seq);
            if v["event"] == "posted" {
                got.push(message(&v));
            }
        }
    }
    assert_eq!(got, ["m1", "m2"]);
    assert_eq!(seqs, (last - 1..last - 1 + seqs.len() as i64).collect::<Vec<_>>());
    let resumed_next = seqs.last().unwrap() + 1;
    drop(ws);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Lossless: it missed nothing; the next post is numbered on, with no hello.
    let mut ws = socket_at(&base, &token, &format!("connection_id={id}&sequence_number={resumed_next}")).await;
    alice.say(&channel, "m3").await;
    let e = next_event(&mut ws).await;
    assert_eq!(message(&e), "m3", "{e}");
    assert!(e["seq"].as_i64().unwrap() >= resumed_next, "{e}");
    drop(ws);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Loss: a position it cannot have (ahead of what was sent), or an unknown id: a fresh hello, new id.
    for query in [format!("connection_id={id}&sequence_number=999"), "connection_id=unknown&sequence_number=5".into()] {
        let mut ws = socket_at(&base, &token, &query).await;
        let e = next_event(&mut ws).await;
        assert_eq!((e["event"].as_str(), e["seq"].as_i64()), (Some("hello"), Some(0)), "{e}");
        assert_ne!(e["data"]["connection_id"], json!(id));
    }
    drop(cluster);
}
