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

/// The same user's client pointed at another node.
fn on(api: &Api, base: &str) -> Api {
    let mut other = api.clone();
    other.base = base.to_string();
    other
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
    let writers = [on(&owner, &cluster.base(0)), on(&owner, &cluster.base(1))];

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
    let writer = on(&owner, &cluster.base(1));
    let mut ws = Ws::connect(&cluster.base(0), &token(&mate)).await;
    let start = last_seq(&owner, &private).await;
    writer.say(&private, "before").await;
    ws.until_seq(&private, start + 1, T).await;

    // A black hole: connections stay open, nothing passes either way. The node cannot tell at once
    // (an idle subscription sees no error); its readiness ping times out and says so.
    relay.hold();
    let held = each_within_the_sweep_bound(&writer, &mut ws, &private, "held", 4).await;
    eprintln!("slowest delivery while held: {held:?} (bound {SWEEP_BOUND:?})");
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
    on(&owner, &cluster.base(0)).say(&private, "from the healed node").await;
    let end = last_seq(&owner, &private).await;
    assert_contiguous(&ws.until_seq(&private, end, T).await, start + 1);
    assert_contiguous(&far.until_seq(&private, end, T).await, start + 1);
}
