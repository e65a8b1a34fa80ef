//! The runbook's monitoring, incident and tuning steps, verbatim: metric names and labels fed by real
//! traffic, PromQL that parses, the stats JSON, every log filter run with the real `jq` over a real
//! node's output, cluster-wide rate limits, and breakers opening and closing with their dependency.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Api, Cluster, Db, TcpProxy, TestDb, Ws, eventually, spawn_app, spawn_app_on};

const T: Duration = Duration::from_secs(15);

/// The runbook's key-metric queries (read from the runbook itself when it is beside the checkout).
fn runbook_queries() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/spec/runbook.md");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let from_runbook: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('|') && l.contains("`") && l.contains("rustchat_"))
        .filter_map(|l| l.split('`').nth(1).map(str::to_string))
        .collect();
    if from_runbook.len() >= 5 {
        return from_runbook;
    }
    [
        r#"rate(rustchat_http_requests_total{status=~"5.."}[5m])"#,
        "histogram_quantile(0.99, rate(rustchat_http_request_duration_seconds_bucket[5m]))",
        "rustchat_db_pool_saturation_ratio",
        "rustchat_websocket_active_connections",
        "rustchat_circuit_breaker_state_changes_total",
    ]
    .map(String::from)
    .to_vec()
}

/// Runs `jq` with `args` over `input`; returns stdout lines.
fn jq(args: &[&str], input: &str) -> Vec<String> {
    let mut child = Command::new("jq")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("jq is installed (.ci/run installs it)");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
}

/// The value of the first sample of `series` (exact name and label subset) in a scrape.
pub(crate) fn sample(scrape: &str, series: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (name_and_labels, value) = line.rsplit_once(' ')?;
        let name = name_and_labels.split('{').next()?;
        if name != series {
            return None;
        }
        let all = labels.iter().all(|(k, v)| name_and_labels.contains(&format!("{k}=\"{v}\"")));
        if all { value.parse().ok() } else { None }
    })
}

#[tokio::test]
async fn the_runbook_metrics_are_fed_by_real_traffic_and_its_promql_is_valid() {
    let Some(app) = spawn_app(Db::Sqlite, &[]).await else { return };
    let user = Api::register(&app.address, "metered").await;
    let team = user.create_team("metrics", false).await;
    let channel = user.create_channel(&team, "general", "public").await;
    let mut ws = Ws::connect(&app.address, user.token.as_deref().unwrap()).await;
    // The first client frame ends the resume window, so the post below is delivered live.
    ws.send(serde_json::json!({"action": "ping"})).await;
    ws.expect("pong", T).await;
    user.say(&channel, "counted").await;
    ws.expect("posted", T).await;
    Api::anonymous(&app.address).get("/api/v1/users/me").await;

    let scrape = eventually(T, "the WebSocket gauge to show the connection", || async {
        let text = app.get("/api/v1/health/metrics").await.text().await.ok()?;
        let fanned_out = sample(&text, "rustchat_fanout_delivery_latency_seconds_count", &[]).unwrap_or(0.0) >= 1.0;
        (sample(&text, "rustchat_websocket_active_connections", &[]) == Some(1.0) && fanned_out).then_some(text)
    })
    .await;
    let route = "/api/v1/channels/{channel_id}/posts";
    assert_eq!(
        sample(&scrape, "rustchat_http_requests_total", &[("method", "POST"), ("route", route), ("status", "201")]),
        Some(1.0),
        "route is the pattern:\n{scrape}"
    );
    assert!(
        sample(&scrape, "rustchat_http_requests_total", &[("route", "/api/v1/users/me"), ("status", "401")]).is_some()
    );
    assert!(!scrape.contains(&channel), "raw ids never become labels");
    assert!(
        sample(&scrape, "rustchat_http_request_duration_seconds_bucket", &[("route", route), ("le", "0.5")]).is_some()
    );
    assert!(
        sample(&scrape, "rustchat_http_request_duration_seconds_bucket", &[("le", "0.4")]).is_some(),
        "buckets around 500 ms"
    );
    let saturation = sample(&scrape, "rustchat_db_pool_saturation_ratio", &[]).expect("pool saturation");
    assert!((0.0..=1.0).contains(&saturation));
    assert_eq!(sample(&scrape, "rustchat_posts_created_total", &[]), Some(1.0));
    assert!(sample(&scrape, "rustchat_websocket_messages_sent_total", &[]).unwrap_or(0.0) >= 1.0, "hello was sent");
    // The heap a soak watches: a running node holds megabytes, and its free heap is a number too.
    let in_use = sample(&scrape, "rustchat_heap_bytes", &[("state", "in_use")]).expect("heap in use");
    assert!(in_use > 1_000_000.0, "a node's heap in use is megabytes: {in_use}");
    assert!(sample(&scrape, "rustchat_heap_bytes", &[("state", "free")]).is_some(), "free heap");

    // Every runbook query parses as PromQL (promtool), and names only series a node exports.
    let queries = runbook_queries();
    let mut rules = String::from("groups:\n- name: runbook\n  rules:\n");
    for (i, q) in queries.iter().enumerate() {
        rules.push_str(&format!("  - record: runbook:query{i}\n    expr: '{}'\n", q.replace('\'', "''")));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runbook-rules.yml");
    std::fs::write(&file, rules).unwrap();
    match Command::new("promtool").arg("check").arg("rules").arg(&file).output() {
        Ok(out) => {
            assert!(out.status.success(), "promtool rejects a runbook query:\n{}", String::from_utf8_lossy(&out.stdout))
        }
        Err(_) => {
            assert!(std::env::var("CI").is_err(), "promtool must be installed on CI (.ci/run installs prometheus)");
            eprintln!("SKIPPED promtool: not installed");
        }
    }
    // Every other name the queries use is in every scrape.
    for q in &queries {
        for name in q.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("rustchat_")) {
            assert!(scrape.lines().any(|l| l.starts_with(name)), "{name} (from `{q}`) is not exported:\n{scrape}");
        }
    }
}

#[tokio::test]
async fn a_fresh_node_exports_every_breakers_state_changes_at_zero_from_the_first_scrape() {
    let Some(app) = spawn_app(Db::Sqlite, &[]).await else { return };
    let scrape = app.get("/api/v1/health/metrics").await.text().await.unwrap();
    let transitions =
        [("closed", "open"), ("open", "half_open"), ("open", "closed"), ("half_open", "closed"), ("half_open", "open")];
    // Identity providers' breakers (`oidc`, labelled by provider) are declared when their provider is
    // first used: a_broken_provider_trips_only_its_own_breaker checks theirs.
    for breaker in ["database", "redis", "storage"] {
        for (from, to) in transitions {
            let labels = [("breaker", breaker), ("from", from), ("to", to)];
            assert_eq!(
                sample(&scrape, "rustchat_circuit_breaker_state_changes_total", &labels),
                Some(0.0),
                "{breaker}: {from} -> {to} is not exported at 0:\n{scrape}"
            );
        }
    }
}

#[tokio::test]
async fn stats_answer_the_runbooks_jq_questions_without_user_data() {
    let Some(app) = spawn_app(Db::Sqlite, &[]).await else { return };
    let user = Api::register(&app.address, "statsy").await;
    let _ws = Ws::connect(&app.address, user.token.as_deref().unwrap()).await;
    let body = eventually(T, "stats to count the socket", || async {
        let (status, body) = app.get_json("/api/v1/health/stats").await;
        (status == 200 && body["websocket_connections"] == 1).then_some(body)
    })
    .await;
    let text = body.to_string();
    assert_eq!(jq(&[".websocket_connections"], &text), ["1"]);
    assert_eq!(body["active_users"], 1);
    assert!(body["db_pool_saturation"].is_number());
    let breakers = jq(&["-c", ".circuit_breakers"], &text);
    let breakers: Value = serde_json::from_str(&breakers[0]).unwrap();
    for name in ["database", "redis", "oidc"] {
        assert_eq!(breakers[name]["state"], "closed", "{breakers}");
        assert!(breakers[name]["consecutive_failures"].is_number());
    }
    assert_eq!(body["node_id"], "test-node");
    assert_eq!(body["cluster"][0]["node_id"], "test-node");
    assert!(body["uptime_seconds"].is_number());
    assert!(!text.contains("statsy"), "stats reveal no user data");
}

#[tokio::test]
async fn the_login_limit_holds_across_nodes_and_answers_429_with_retry_after() {
    let Some(cluster) = Cluster::start(
        2,
        &[("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", "10"), ("RUSTCHAT_SECURITY_TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await
    else {
        return;
    };
    let http = reqwest::Client::new();
    let attempt = |node: usize, ip: &str, login: &str| {
        let url = format!("{}/api/v1/auth/login", cluster.base(node));
        let req =
            http.post(url).header("x-forwarded-for", ip).json(&json!({"login": login, "password": "wrong-password"}));
        async move {
            let r = req.send().await.unwrap();
            let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), retry, r.json::<Value>().await.unwrap())
        }
    };
    for i in 0..10 {
        let (status, _, body) = attempt(i % 2, "203.0.113.7", &format!("user{i}")).await;
        assert_eq!(status, 401, "attempt {i}: {body}");
    }
    for node in [0, 1] {
        let (status, retry, body) = attempt(node, "203.0.113.7", "user-eleven").await;
        assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")), "node {node}: {body}");
        assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    }
    let (status, _, _) = attempt(0, "198.51.100.1", "someone").await;
    assert_eq!(status, 401, "another client address has its own budget");
    // Per account: ten addresses guessing one account's password are limited too.
    for i in 0..10 {
        attempt(i % 2, &format!("192.0.2.{i}"), "victim").await;
    }
    let (status, _, _) = attempt(1, "192.0.2.200", "victim").await;
    assert_eq!(status, 429, "the account's own limit");

    let line = cluster.wait_log(0, "a 'Rate limit exceeded' line", |l| l["message"] == "Rate limit exceeded").await;
    assert_eq!(line["ip"], "203.0.113.7", "ip at top level, from the trusted proxy's X-Forwarded-For");
    let scrape =
        reqwest::get(format!("{}/api/v1/health/metrics", cluster.base(1))).await.unwrap().text().await.unwrap();
    assert!(
        sample(&scrape, "rustchat_rate_limit_exceeded_total", &[("limit", "auth")]).unwrap_or(0.0) >= 1.0,
        "{scrape}"
    );
}

#[tokio::test]
async fn the_database_breaker_opens_fails_fast_and_closes_when_the_database_returns() {
    let Some(db) = TestDb::create().await else { return };
    let pg = url::Url::parse(&db.url).unwrap();
    let proxy = TcpProxy::start(format!("{}:{}", pg.host_str().unwrap(), pg.port().unwrap_or(5432))).await;
    let mut via = pg.clone();
    via.set_port(Some(proxy.port)).unwrap();
    let Some(app) = spawn_app_on(via.as_ref(), &[("RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS", "300")]).await else {
        return;
    };
    let user = Api::register(&app.address, "breaker").await;
    user.get("/api/v1/users/me").await.expect(200);

    proxy.cut();
    let stats = eventually(Duration::from_secs(30), "the database breaker to open", || async {
        let _ = user.get("/api/v1/users/me").await;
        let (_, stats) = app.get_json("/api/v1/health/stats").await;
        (stats["circuit_breakers"]["database"]["state"] == "open").then_some(stats)
    })
    .await;
    assert!(stats["circuit_breakers"]["database"]["total_failures"].as_u64().unwrap() >= 5);
    let fast = std::time::Instant::now();
    let refused = user.get("/api/v1/users/me").await;
    assert_eq!((refused.status, refused.code()), (503, "database_unavailable"), "{:?}", refused.body);
    assert!(fast.elapsed() < Duration::from_millis(250), "an open breaker fails fast");
    let scrape = app.get("/api/v1/health/metrics").await.text().await.unwrap();
    assert_eq!(
        sample(
            &scrape,
            "rustchat_circuit_breaker_state_changes_total",
            &[("breaker", "database"), ("from", "closed"), ("to", "open")]
        ),
        Some(1.0),
        "{scrape}"
    );

    proxy.restore();
    eventually(Duration::from_secs(30), "the database breaker to close", || async {
        let (_, stats) = app.get_json("/api/v1/health/stats").await;
        (stats["circuit_breakers"]["database"]["state"] == "closed").then_some(())
    })
    .await;
    user.get("/api/v1/users/me").await.expect(200);
    drop(db);
}

#[tokio::test]
async fn the_redis_breaker_opens_and_closes_with_redis_and_logs_each_transition() {
    let Some(cluster) = Cluster::start_behind_proxy(1, &[]).await else { return };
    let proxy = cluster.redis_proxy.clone().unwrap();
    let base = cluster.base(0);
    proxy.cut();
    eventually(Duration::from_secs(40), "the redis breaker to open", || async {
        let _ = reqwest::get(format!("{base}/api/v1/health/ready")).await;
        let stats: Value = reqwest::get(format!("{base}/api/v1/health/stats")).await.ok()?.json().await.ok()?;
        (stats["circuit_breakers"]["redis"]["state"] == "open").then_some(())
    })
    .await;
    // Local service continues while Redis is out.
    let user = Api::register(&base, "solo").await;
    user.get("/api/v1/users/me").await.expect(200);
    proxy.restore();
    eventually(Duration::from_secs(40), "the redis breaker to close", || async {
        let _ = reqwest::get(format!("{base}/api/v1/health/ready")).await;
        let stats: Value = reqwest::get(format!("{base}/api/v1/health/stats")).await.ok()?.json().await.ok()?;
        (stats["circuit_breakers"]["redis"]["state"] == "closed"
            && stats["circuit_breakers"]["redis"]["last_change"].is_number())
        .then_some(())
    })
    .await;
    let logs = cluster.logs(0).iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    let transitions = jq(&["-r", r#"select(.message | test("circuit.*redis")) | .message"#], &logs);
    assert!(transitions.iter().any(|m| m.contains("closed -> open")), "{transitions:?}");
    assert!(transitions.iter().any(|m| m.ends_with("-> closed")), "{transitions:?}");
}

/// Every log filter of the runbook, run with jq over a real node's output after making it produce
/// each case.
#[tokio::test]
async fn every_runbook_log_filter_finds_what_it_is_meant_to() {
    let Some(cluster) = Cluster::start(
        2,
        &[
            ("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", "5"),
            ("RUSTCHAT_DB_POOL__MAX_CONNECTIONS", "2"),
            ("RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS", "300"),
        ],
    )
    .await
    else {
        return;
    };
    let base = cluster.base(0);
    let user = Api::register(&base, "logged").await;
    let admin_limit = user.patch("/api/v1/admin/config/site", json!({"max_simultaneous_connections": 1})).await;
    assert_eq!(admin_limit.status, 200, "the first account is admin");
    // Unauthorized and Invalid token.
    let mut forged = Api::anonymous(&base);
    forged.token = Some("forged.token.value".into());
    forged.get("/api/v1/users/me").await;
    // Auth failures, then the rate limit.
    for _ in 0..6 {
        Api::login(&base, "logged", "nope-nope").await;
    }
    // WebSocket lines, and one over the connection limit.
    let token = user.token.clone().unwrap();
    let _ws = Ws::connect(&base, &token).await;
    let mut second = Ws::try_connect(&base, Some(&token)).await.unwrap();
    second.expect_close(T).await;
    // A slow request (> 1 s) and server errors: hold a lock the auth query needs, so requests wait
    // on the database and others time out on the two-connection pool.
    let mut locker = sqlx::PgPool::connect(&cluster.db.url).await.unwrap().acquire().await.unwrap().detach();
    sqlx::raw_sql("BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE;").execute(&mut locker).await.unwrap();
    let slow: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn({
                let u = user.clone();
                async move { u.get("/api/v1/users/me").await.status }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    sqlx::raw_sql("ROLLBACK").execute(&mut locker).await.unwrap();
    let statuses: Vec<u16> = futures_util::future::join_all(slow).await.into_iter().map(|r| r.unwrap()).collect();
    assert!(statuses.contains(&200) && statuses.contains(&503), "{statuses:?}");

    cluster
        .wait_log(0, "cluster heartbeat", |l| l["message"].as_str().unwrap_or("").contains("cluster heartbeat"))
        .await;
    let logs = cluster.logs(0).iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    let grep = |needle: &str| logs.lines().filter(|l| l.contains(needle)).collect::<Vec<_>>().join("\n");
    let count = |args: &[&str], input: &str| jq(args, input).len();

    assert!(count(&["-c", r#"select(.level=="ERROR")"#], &logs) >= 1, "error spikes");
    assert!(count(&["-c", "select(.fields.latency_ms > 1000)"], &logs) >= 1, "slow requests");
    assert!(count(&["-c", r#"select(.message | contains("Unauthorized"))"#], &logs) >= 1, "auth failures");
    assert!(count(&["-c", r#"select(.span.name=="ws_handler")"#], &logs) >= 1, "WebSocket events");
    assert!(!grep("Too many connections").is_empty());
    assert!(!grep("cluster heartbeat").is_empty());
    let ips = jq(&[".ip"], &grep("Rate limit exceeded"));
    assert!(ips.iter().any(|ip| ip == "\"127.0.0.1\""), "{ips:?}");
    assert!(!grep("Invalid token").is_empty(), "grep -c \"Invalid token\"");
    assert!(count(&["-c", r#"select(.message | contains("auth"))"#], &logs) >= 1);
    let over_400 = jq(&["-c", "select(.fields.status | tonumber > 400)"], &logs);
    assert!(
        over_400.iter().all(|l| serde_json::from_str::<Value>(l).unwrap()["fields"]["status"].as_u64().unwrap() > 400)
    );
    assert!(over_400.len() >= 3, "401s, 429s, 503s");
    let grouped = jq(&["-r", ".message"], &logs);
    assert_eq!(grouped.len(), logs.lines().count(), "every line has a string message for sort | uniq -c");
}

/// A server that accepts connections and never answers (a database or Redis that hangs); the
/// connections stay open as long as it lives.
async fn hanging_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

/// A breaker opened by failures, whose cooldown is over (its next call is the probe), and which
/// would hold a probe that never reports for an hour.
fn opened_breaker(name: &str) -> std::sync::Arc<rustchat_actors::breaker::Breaker> {
    let b = rustchat_actors::breaker::Breaker::with_timing(
        name,
        std::sync::Arc::new(|_, _, _| {}),
        Duration::ZERO,
        Duration::from_secs(3600),
    );
    for _ in 0..rustchat_actors::breaker::FAILURE_THRESHOLD {
        b.record_failure();
    }
    std::sync::Arc::new(b)
}

/// The half-open probe of the database and Redis breakers is given back when the call that carries
/// it is dropped mid-flight (the client hung up while the dependency hangs): the next call probes,
/// instead of every call being refused until the node restarts.
#[tokio::test]
async fn a_probe_dropped_mid_flight_leaves_the_database_and_redis_breakers_able_to_probe() {
    let (port, server) = hanging_server().await;

    let database = opened_breaker("database");
    let settings = rustchat::config::DatabaseSettings {
        url: rustchat::config::DatabaseUrl::Postgres(rustchat::config::Secret::new(format!(
            "postgres://postgres@127.0.0.1:{port}/test"
        ))),
        max_connections: 1,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(30),
        auto_migrate: false,
    };
    let store = rustchat::store::Store::connect_lazy(&settings).unwrap().with_breaker(database.clone());
    let dropped = tokio::time::timeout(Duration::from_millis(500), store.ping(Duration::from_secs(30))).await;
    assert!(dropped.is_err(), "the probing query hangs with the database");
    assert_eq!(database.state(), rustchat_actors::breaker::State::HalfOpen);
    assert!(database.permit().is_some(), "the dropped query gave its probe back");

    let redis = opened_breaker("redis");
    let link = rustchat::cluster::RedisLink::new(
        &rustchat::config::Secret::new(format!("redis://127.0.0.1:{port}")),
        Some(redis.clone()),
    )
    .unwrap();
    let dropped = tokio::time::timeout(Duration::from_millis(500), link.connection()).await;
    assert!(dropped.is_err(), "the probing connection hangs with Redis");
    assert_eq!(redis.state(), rustchat_actors::breaker::State::HalfOpen);
    assert!(redis.permit().is_some(), "the dropped call gave its probe back");
    server.abort();
}

/// Where a post's latency goes, stage by stage (issue #21): the node that writes it times the commit
/// and the publish, the node that receives it from Redis times the transit, and every node times its
/// sockets' writes. A node drops the echo Redis sends back of what it published itself (it delivered
/// that already): it receives nothing of its own posts.
#[tokio::test]
async fn a_posts_path_is_timed_stage_by_stage_and_a_node_drops_its_own_echo() {
    let Some(db) = TestDb::create().await else { return };
    let Some((a, b)) = crate::common::two_nodes_over_redis(&db).await else { return };
    let alice = Api::register(&a.address, "stagealice").await;
    let bob = Api::register(&a.address, "stagebob").await;
    let team = alice.create_team("stages", true).await;
    alice.add_to_team(&team, &bob.user_id).await;
    let channel = alice.create_channel(&team, "timed", "public").await;
    alice.add_to_channel(&channel, &bob.user_id).await;
    let mut on_a = Ws::connect(&a.address, alice.token.as_deref().unwrap()).await;
    let mut on_b = Ws::connect(&b.address, bob.token.as_deref().unwrap()).await;
    // Bob's presence is node b's publish: node a receives that, and from then on nothing of b's.
    loop {
        let presence = on_a.expect("presence", T).await;
        if presence["data"]["user_id"] == bob.user_id.as_str() {
            break;
        }
    }

    let metrics = |base: String| async move {
        reqwest::get(format!("{base}/api/v1/health/metrics")).await.unwrap().text().await.unwrap()
    };
    let received_before = sample(&metrics(a.address.clone()).await, "rustchat_redis_messages_received_total", &[]);
    let mut last = 0;
    for i in 0..5 {
        last = alice.say(&channel, &format!("timed {i}")).await["seq"].as_i64().unwrap();
    }
    on_a.until_seq(&channel, last, T).await;
    on_b.until_seq(&channel, last, T).await;

    let stage = |scrape: &str, stage: &str| {
        sample(scrape, "rustchat_post_stage_duration_seconds_count", &[("stage", stage)]).unwrap_or(0.0)
    };
    let at_a = metrics(a.address.clone()).await;
    assert!(stage(&at_a, "commit") >= 5.0, "the writer times each commit: {at_a}");
    let published = eventually(T, "the publishes acknowledged", || {
        let base = a.address.clone();
        async move {
            let scrape = reqwest::get(format!("{base}/api/v1/health/metrics")).await.ok()?.text().await.ok()?;
            (sample(&scrape, "rustchat_post_stage_duration_seconds_count", &[("stage", "publish")])? >= 5.0)
                .then_some(scrape)
        }
    })
    .await;
    assert!(stage(&published, "write") >= 1.0, "alice's socket writes are timed: {published}");
    assert_eq!(
        sample(&published, "rustchat_redis_messages_received_total", &[]),
        received_before,
        "node a received none of its own posts back from Redis"
    );
    let at_b = metrics(b.address.clone()).await;
    assert!(stage(&at_b, "transit") >= 5.0, "the receiving node times each event's transit: {at_b}");
    assert!(stage(&at_b, "write") >= 1.0, "{at_b}");
    assert_eq!(stage(&at_b, "commit"), 0.0, "node b wrote nothing");
    assert!(sample(&at_b, "rustchat_redis_messages_received_total", &[]).unwrap_or(0.0) >= 5.0, "{at_b}");
}
