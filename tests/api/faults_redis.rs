//! Faults past the shared Redis, each against real processes the test starts itself (issue 22):
//!
//! - a Redis restart that loses its memory (a `redis-server` of the test's own, no persistence):
//!   registry, connection slots, rate-limit state and fan-out rebuild themselves, and WebSocket clients
//!   get every event exactly once, in seq order;
//! - one node partitioned from Redis but not from PostgreSQL (through a relay the test holds): its
//!   clients still get every event within the supervisor's sweep bound, and it rejoins the bus;
//! - a node whose clock is minutes off (libfaketime): seq order and token expiry.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::ws::assert_contiguous;
use crate::common::{Api, Cluster, Relay, TempRedis, Ws, eventually};

const T: Duration = Duration::from_secs(20);

/// How long a node's clients may wait for an event another node wrote while the bus cannot carry
/// it: the supervisor's sweep runs every `SWEEP_INTERVAL` (5 s) and the channel actor then reads the
/// log back; 3 s of slack covers the read and a loaded CI machine.
const SWEEP_BOUND: Duration = Duration::from_secs(rustchat_actors::supervisor::SWEEP_INTERVAL.as_secs() + 3);

fn token(api: &Api) -> String {
    api.token.clone().unwrap()
}

/// owner and mate, and a private channel of theirs.
async fn people(base: &str) -> (Api, Api, String) {
    let owner = Api::register(base, "owner").await;
    let mate = Api::register(base, "mate").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    let private = owner.create_channel(&team, "core", "private").await;
    owner.add_to_channel(&private, &mate.user_id).await;
    (owner, mate, private)
}

async fn last_seq(api: &Api, channel: &str) -> i64 {
    api.get(&format!("/api/v1/channels/{channel}")).await.expect(200)["last_seq"].as_i64().unwrap()
}

async fn stats(base: &str) -> Value {
    reqwest::get(format!("{base}/api/v1/health/stats")).await.unwrap().json().await.unwrap()
}

/// The node ids a node's registry lists (`/health/stats`' `cluster`).
async fn peers_seen(base: &str) -> Vec<String> {
    let mut ids: Vec<String> = stats(base).await["cluster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node_id"].as_str().unwrap().into())
        .collect();
    ids.sort();
    ids
}

async fn numsub(c: &mut redis::aio::MultiplexedConnection, topic: &str) -> i64 {
    let (_, n): (String, i64) = redis::cmd("PUBSUB").arg("NUMSUB").arg(topic).query_async(c).await.unwrap();
    n
}

#[tokio::test]
async fn a_redis_restart_that_loses_everything_heals_itself_and_clients_miss_nothing() {
    let Some(mut redis) = TempRedis::start().await else { return };
    // A login budget of 6 a minute per account name, cluster-wide; requests say where they come from
    // (X-Forwarded-For from a trusted loopback proxy), so the per-address limit stays out of the way.
    let extra =
        [("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", "6"), ("RUSTCHAT_SECURITY_TRUSTED_PROXIES", "127.0.0.1")];
    let Some(cluster) = Cluster::start_on_redis(2, &extra, &redis.url(), &[]).await else { return };
    let (owner, mate, private) = people(&cluster.base(0)).await;
    let mut local = Ws::connect(&cluster.base(0), &token(&mate)).await;
    let mut remote = Ws::connect(&cluster.base(1), &token(&mate)).await;
    let p = cluster.prefix.clone();
    let topic = format!("{p}:ch:{private}");
    let slots = format!("{p}:conns:{}", mate.user_id);
    let writers = [owner.on(&cluster.base(0)), owner.on(&cluster.base(1))];

    let start = last_seq(&owner, &private).await;
    for i in 0..4 {
        writers[i % 2].say(&private, &format!("before {i}")).await;
    }
    for ws in [&mut local, &mut remote] {
        assert_contiguous(&ws.until_seq(&private, start + 4, T).await, start + 1);
    }
    let mut c = redis.connection().await;
    assert_eq!(numsub(&mut c, &topic).await, 2, "both nodes listen on the channel's topic");
    let held: i64 = redis::cmd("ZCARD").arg(&slots).query_async(&mut c).await.unwrap();
    assert_eq!(held, 2, "the mate's two sockets hold two slots");

    // Redis dies and comes back empty: no persistence, as the test's server is configured.
    redis.kill();
    for i in 0..4 {
        let r = writers[i % 2]
            .post(&format!("/api/v1/channels/{private}/posts"), json!({"message": format!("during {i}")}))
            .await;
        assert_eq!(r.status, 201, "posting needs PostgreSQL only: {r:?}");
    }
    redis.restart().await;
    let mut c = redis.connection().await;
    let restarted = Instant::now();

    // Connection slots: each node renews its sockets' slots when its bus is back (and once more after
    // the command link's breaker cooldown), not only at the presence's round every 20 s, so the
    // per-user count is whole again within the cooldown and some slack.
    let bound = rustchat_actors::breaker::OPEN_COOLDOWN + Duration::from_secs(7);
    assert!(bound < rustchat_actors::presence::SLOT_REFRESH_INTERVAL);
    let rebuilt = eventually(bound, "the mate's two slots to be back in Redis", || {
        let mut c = c.clone();
        let slots = slots.clone();
        async move {
            let n: i64 = redis::cmd("ZCARD").arg(&slots).query_async(&mut c).await.ok()?;
            (n == 2).then_some(restarted.elapsed())
        }
    })
    .await;
    eprintln!("connection slots rebuilt {rebuilt:?} after the restart");

    for i in 0..4 {
        writers[i % 2].say(&private, &format!("after {i}")).await;
    }
    // Every event, each once, in seq order, on both nodes: the bus lost the ones written during the
    // outage; the sweep and the reconnect's read-back bring them.
    for ws in [&mut local, &mut remote] {
        assert_contiguous(&ws.until_seq(&private, start + 12, T).await, start + 1);
    }

    // The registry: each node announces itself again at its next heartbeat (every 5 s).
    let both = vec!["node-0".to_string(), "node-1".to_string()];
    for i in 0..2 {
        let base = cluster.base(i);
        eventually(T, "each node to list both nodes again", || {
            let base = base.clone();
            let both = both.clone();
            async move { (peers_seen(&base).await == both).then_some(()) }
        })
        .await;
    }
    let mut registered: Vec<String> =
        redis::cmd("ZRANGE").arg(format!("{p}:nodes")).arg(0).arg(-1).query_async(&mut c).await.unwrap();
    registered.sort();
    assert_eq!(registered, both, "the new Redis holds the registry again");

    // Fan-out: both nodes subscribed again, and the bus (not only the sweep) carries events.
    eventually(T, "both nodes to re-subscribe to the channel's topic", || {
        let mut c = c.clone();
        let topic = topic.clone();
        async move { (numsub(&mut c, &topic).await == 2).then_some(()) }
    })
    .await;
    for i in 0..2 {
        assert_eq!(stats(&cluster.base(i)).await["redis_bus_connected"], true);
    }

    // Rate limits start from nothing (a client gets a fresh budget once per restart) and are counted
    // in the new Redis, across nodes: 6 failed logins spread over both nodes, then a 429 on either.
    let name = "nobody-in-particular";
    for i in 0..6 {
        let r = login_from(&cluster.base(i % 2), name, &format!("198.51.100.{i}")).await;
        assert_eq!(r.0, 401, "attempt {i} is within the budget: {}", r.1);
    }
    let refused = login_from(&cluster.base(0), name, "198.51.100.77").await;
    assert_eq!(refused.0, 429, "the 7th attempt, over both nodes, is refused: {}", refused.1);
    let refused = login_from(&cluster.base(1), name, "198.51.100.78").await;
    assert_eq!(refused.0, 429, "and on the other node too: {}", refused.1);
    let kept: bool = redis::cmd("EXISTS").arg(format!("{p}:rl:login:{name}")).query_async(&mut c).await.unwrap();
    assert!(kept, "the limit's state lives in the new Redis");

    // Nothing came twice, late: one more post closes the run, and each socket saw 13 events, in order.
    writers[1].say(&private, "closing").await;
    for ws in [&mut local, &mut remote] {
        assert_contiguous(&ws.until_seq(&private, start + 13, T).await, start + 1);
    }
}

/// A failed login for `name` from `ip` (as a trusted proxy reports it); the status and body.
async fn login_from(base: &str, name: &str, ip: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .header("X-Forwarded-For", ip)
        .json(&json!({"login": name, "password": "not-the-password"}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The number of messages node `base` has received from the bus (its Prometheus counter).
async fn bus_received(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/api/v1/health/metrics")).await.unwrap().text().await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("rustchat_redis_messages_received"))
        .unwrap_or_else(|| panic!("no rustchat_redis_messages_received in the metrics:\n{text}"));
    line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64
}

/// Posts on node 1, one at a time, and checks each reaches `ws` (on the partitioned node) within
/// [`SWEEP_BOUND`]; returns the slowest delivery.
async fn each_within_the_sweep_bound(writer: &Api, ws: &mut Ws, channel: &str, what: &str, n: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for i in 0..n {
        let seq = writer.say(channel, &format!("{what} {i}")).await["seq"].as_i64().unwrap();
        let posted = Instant::now();
        ws.until_seq(channel, seq, SWEEP_BOUND).await;
        slowest = slowest.max(posted.elapsed());
    }
    slowest
}

/// After the relay heals: the node's bus carries events again (its received counter grows with
/// posts made after any backlog the relay held was flushed), and its readiness is back.
async fn back_on_the_bus(cluster: &Cluster, writer: &Api, ws: &mut Ws, channel: &str) {
    cluster.wait_ready(0).await;
    // Whatever the relay held is flushed at once on heal; wait for the counter to settle first.
    let mut settled = bus_received(&cluster.base(0)).await;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = bus_received(&cluster.base(0)).await;
        if now == settled {
            break;
        }
        settled = now;
    }
    let base = cluster.base(0);
    for i in 0..3 {
        writer.say(channel, &format!("healed {i}")).await;
    }
    ws.until_seq(channel, last_seq(writer, channel).await, T).await;
    eventually(T, "the healed node to receive the new posts over the bus", || {
        let base = base.clone();
        async move { (bus_received(&base).await >= settled + 3).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn a_node_cut_off_from_redis_but_not_postgres_still_serves_every_event_within_the_sweep_bound() {
    let Some(redis) = TempRedis::start().await else { return };
    // Node 0 reaches Redis through the relay; node 1 directly.
    let relay = Relay::start(format!("127.0.0.1:{}", redis.port)).await;
    let relayed = format!("redis://{}", relay.address());
    let own = [vec![("RUSTCHAT_REDIS_URL", relayed.as_str())], vec![]];
    let Some(cluster) = Cluster::start_on_redis(2, &[], &redis.url(), &own).await else { return };
    let (owner, mate, private) = people(&cluster.base(1)).await;
    let writer = owner.on(&cluster.base(1));
    let mut ws = Ws::connect(&cluster.base(0), &token(&mate)).await;
    let start = last_seq(&owner, &private).await;
    writer.say(&private, "before").await;
    ws.until_seq(&private, start + 1, T).await;

    // A black hole: connections stay open, nothing passes either way. The node cannot tell at once
    // (an idle subscription sees no error); its readiness ping times out and says so.
    relay.hold();
    let reads_before = channel_read_backs(&cluster.base(0)).await;
    let held = each_within_the_sweep_bound(&writer, &mut ws, &private, "held", 4).await;
    eprintln!("slowest delivery while held: {held:?} (bound {SWEEP_BOUND:?})");
    // What the sweep read back shows in the node's metrics, for an operator to see the bus failing.
    let reads = channel_read_backs(&cluster.base(0)).await - reads_before;
    assert!(reads >= 1.0, "the held events reached the client, but no channel read-back was counted");
    let ready = eventually(T, "the partitioned node's readiness to name redis", || {
        let base = cluster.base(0);
        async move {
            let r = reqwest::get(format!("{base}/api/v1/health/ready")).await.ok()?;
            let status = r.status();
            let body: Value = r.json().await.ok()?;
            (status == 503 && body["checks"]["redis"]["status"] == "error").then_some(body)
        }
    })
    .await;
    assert_eq!(ready["checks"]["database"]["status"], "ok", "{ready}");
    relay.heal();
    // The held bus messages arrive late, after the sweep delivered them: none may reach the client again.
    back_on_the_bus(&cluster, &writer, &mut ws, &private).await;

    // Cut: every connection closed and new ones refused, so the node knows; same bound, same rejoin.
    relay.cut();
    let cut = each_within_the_sweep_bound(&writer, &mut ws, &private, "cut", 4).await;
    eprintln!("slowest delivery while cut: {cut:?} (bound {SWEEP_BOUND:?})");
    relay.heal();
    back_on_the_bus(&cluster, &writer, &mut ws, &private).await;

    // The partitioned node's own writes reached node 1's clients throughout (its writes go to
    // PostgreSQL; node 1's sweep reads them back), and every socket saw each event once, in order.
    let mut far = Ws::connect(&cluster.base(1), &token(&mate)).await;
    far.send(json!({"action": "resume", "since": { private.clone(): start }})).await;
    owner.on(&cluster.base(0)).say(&private, "from the healed node").await;
    let end = last_seq(&owner, &private).await;
    assert_contiguous(&ws.until_seq(&private, end, T).await, start + 1);
    assert_contiguous(&far.until_seq(&private, end, T).await, start + 1);
}

/// Event-log reads by the node's channel actors so far, from its metrics.
async fn channel_read_backs(base: &str) -> f64 {
    let text = reqwest::get(format!("{base}/api/v1/health/metrics")).await.unwrap().text().await.unwrap();
    crate::operability::sample(&text, "rustchat_channel_read_backs_total", &[]).unwrap_or(0.0)
}

/// How far the skewed nodes' clocks are off: more than an access token's life (15 min), so a token
/// a node behind issues is already expired for the rest of the cluster.
const SKEW_MINUTES: i64 = 20;

/// Variables that run a node under libfaketime (Debian's `faketime` package) `offset` off, e.g.
/// `-20m`. The monotonic clock is left alone: timers and timeouts stay real. `None` when libfaketime
/// is not installed outside CI.
fn skewed(offset: &str) -> Option<Vec<(&'static str, String)>> {
    let lib =
        ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
    if !crate::common::available_tool("libfaketime (apt-get install faketime)", lib.is_some()) {
        return None;
    }
    Some(vec![
        ("LD_PRELOAD", lib.unwrap().to_string()),
        ("FAKETIME", offset.to_string()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_string()),
    ])
}

/// A node's clock as its HTTP `Date` header shows it, minus the real one, in minutes (rounded).
async fn clock_offset_minutes(base: &str) -> i64 {
    let r = reqwest::get(format!("{base}/api/v1/health/live")).await.unwrap();
    let date = r.headers()["date"].to_str().unwrap().to_string();
    // An HTTP date ("Mon, 07 Dec 2026 08:04:40 GMT") is RFC 2822 with the obsolete zone name GMT.
    let theirs = time::OffsetDateTime::parse(&date, &time::format_description::well_known::Rfc2822)
        .unwrap_or_else(|e| panic!("Date header {date:?}: {e}"));
    let secs = theirs.unix_timestamp() - unix_now();
    (secs as f64 / 60.0).round() as i64
}

/// `true` when `token` is accepted on `base`; `false` on a 401 (anything else fails the test).
async fn accepted(base: &str, token: &str) -> bool {
    let r = reqwest::Client::new().get(format!("{base}/api/v1/users/me")).bearer_auth(token).send().await.unwrap();
    match r.status().as_u16() {
        200 => true,
        401 => false,
        s => panic!("unexpected {s}: {}", r.text().await.unwrap()),
    }
}

fn exp_of(token: &str) -> i64 {
    use base64::Engine;
    let claims = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    claims["exp"].as_i64().unwrap()
}

fn as_refs<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn nodes_minutes_off_keep_seq_order_and_expire_tokens_and_limits_on_the_database_clock() {
    let Some(redis) = TempRedis::start().await else { return };
    let (Some(behind), Some(ahead)) = (skewed(&format!("-{SKEW_MINUTES}m")), skewed(&format!("+{SKEW_MINUTES}m")))
    else {
        return;
    };
    // Node 0 keeps the real time; node 1 runs behind, node 2 ahead.
    let own = [vec![], as_refs(&behind), as_refs(&ahead)];
    let extra =
        [("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", "20"), ("RUSTCHAT_SECURITY_TRUSTED_PROXIES", "127.0.0.1")];
    let Some(cluster) = Cluster::start_on_redis(3, &extra, &redis.url(), &own).await else { return };
    assert_eq!(clock_offset_minutes(&cluster.base(0)).await, 0);
    assert_eq!(clock_offset_minutes(&cluster.base(1)).await, -SKEW_MINUTES, "node 1 runs behind");
    assert_eq!(clock_offset_minutes(&cluster.base(2)).await, SKEW_MINUTES, "node 2 runs ahead");

    // Seq order comes from the database: posts written on all three, interleaved, reach sockets on
    // all three in seq order, and the channel's history lists them in that same order.
    let (owner, _, private) = people(&cluster.base(0)).await;
    // The owner writes through a session opened on the node written to, as a balanced client would
    // (a token is only good where its issuer's clock agrees; see below).
    let mut writers = Vec::new();
    for i in 0..3 {
        let mut api = Api::anonymous(&cluster.base(i));
        api.adopt(&Api::login(&cluster.base(i), "owner", "password-owner").await.expect(200));
        writers.push(api);
    }
    // The mate logs in on each node (a socket needs a token its node accepts; see below).
    let password = "password-mate";
    let mut tokens = Vec::new();
    for i in 0..3 {
        let body = Api::login(&cluster.base(i), "mate", password).await.expect(200);
        tokens.push((
            body["access_token"].as_str().unwrap().to_string(),
            body["refresh_token"].as_str().unwrap().to_string(),
        ));
    }
    let mut sockets = Vec::new();
    for (i, (access, _)) in tokens.iter().enumerate() {
        sockets.push(Ws::connect(&cluster.base(i), access).await);
    }
    let opened = Instant::now();
    let start = last_seq(&owner, &private).await;
    let texts: Vec<String> = (0..9).map(|i| format!("m{i} from node {}", i % 3)).collect();
    for (i, text) in texts.iter().enumerate() {
        writers[i % 3].say(&private, text).await;
    }
    for ws in &mut sockets {
        let got = ws.until_seq(&private, start + 9, T).await;
        assert_contiguous(&got, start + 1);
        let order: Vec<&str> = got.iter().map(|e| e["data"]["post"]["message"].as_str().unwrap()).collect();
        assert_eq!(order, texts, "events arrive in the order they were written");
    }
    for i in 0..3 {
        let page =
            owner.on(&cluster.base(i)).get(&format!("/api/v1/channels/{private}/posts?limit=50")).await.expect(200);
        let mut listed: Vec<String> =
            page["posts"].as_array().unwrap().iter().map(|p| p["message"].as_str().unwrap().to_string()).collect();
        listed.reverse();
        assert_eq!(listed, texts, "node {i}'s history lists the posts in seq order (oldest first once reversed)");
    }

    // Token expiry. Each node compares its clock with PostgreSQL's at start (and every 30 s) and,
    // finding it minutes off, logs a warning and stamps times on the database's clock: `exp` (15 min
    // after issue) and the check of `exp` (5 s of leeway; `iat` is not checked) are on one clock
    // whichever node issues or checks a token.
    for (i, sign) in [(1, -1), (2, 1)] {
        let warned = cluster
            .wait_log(i, "the skewed node to warn about its clock", |l| {
                l["message"].as_str().unwrap_or("").contains("clock is off the database's")
            })
            .await;
        assert_eq!(warned["level"], "WARN");
        let offset = warned["fields"]["offset_seconds"].as_i64().unwrap();
        // The correction is the database's clock minus the node's: the opposite of the skew.
        assert!((offset + sign * SKEW_MINUTES * 60).abs() < 5, "node {i} measured {offset} s");
    }
    assert!(
        cluster.logs(0).iter().all(|l| !l["message"].as_str().unwrap_or("").contains("clock is off")),
        "the real-time node sees no difference"
    );
    for (i, (access, _)) in tokens.iter().enumerate() {
        let life = exp_of(access) - unix_now();
        assert!((life - 15 * 60).abs() < 60, "node {i}'s token lives 15 min in real time: {life} s");
        for j in 0..3 {
            assert!(accepted(&cluster.base(j), access).await, "node {j} refuses node {i}'s fresh token");
        }
    }
    // An expired token is refused by every node, the skewed ones included: node 1 (20 min behind)
    // would take a token 10 minutes past its exp by its own clock.
    let keys = crate::common::cluster::token_keys();
    let claims = rustchat::auth::TokenKeys::verify_access(&keys, &tokens[0].0).unwrap();
    let expired = keys.issue_access_expiring(claims.sub, claims.sid, unix_now() - 10 * 60).unwrap();
    for j in 0..3 {
        assert!(!accepted(&cluster.base(j), &expired).await, "node {j} takes a token 10 minutes past its exp");
    }

    // Rate limits count on one timeline: an attempt through the node ahead does not push the budget
    // 20 minutes out for the others (by its own clock, the next attempt would be that far away), and
    // the node behind does not hand out a fresh one. 20 failed logins for one name, the first on the
    // node ahead, the rest spread over all three; the 21st is refused on each.
    let name = "someone-else";
    for i in 0..20 {
        let node = if i == 0 { 2 } else { i % 3 };
        let (status, body) = login_from(&cluster.base(node), name, &format!("203.0.113.{i}")).await;
        assert_eq!(status, 401, "attempt {i} on node {node} is within the budget: {body}");
    }
    for node in 0..3 {
        let (status, body) = login_from(&cluster.base(node), name, "203.0.113.99").await;
        assert_eq!(status, 429, "node {node} refuses the 21st attempt: {body}");
    }

    // A socket lives until its token's exp (plus a 10 s grace), counted on the same clock: the node
    // ahead does not close its socket as soon as the grace is over, nor does the node behind keep its
    // open 20 minutes too long (the first is what can be waited for here).
    let grace = rustchat_actors::login::TOKEN_GRACE + Duration::from_secs(2);
    tokio::time::sleep(grace.saturating_sub(opened.elapsed())).await;
    writers[0].say(&private, "still open").await;
    for (i, ws) in sockets.iter_mut().enumerate() {
        let got = ws.until_seq(&private, start + 10, T).await;
        assert_eq!(got.last().unwrap()["data"]["post"]["message"], "still open", "node {i}'s socket");
    }

    // The registry: every node lists all three, whatever its clock says.
    let all = vec!["node-0".to_string(), "node-1".to_string(), "node-2".to_string()];
    for i in 0..3 {
        let base = cluster.base(i);
        let all = all.clone();
        eventually(T, "every node to list all three", || {
            let (base, all) = (base.clone(), all.clone());
            async move { (peers_seen(&base).await == all).then_some(()) }
        })
        .await;
    }
}
