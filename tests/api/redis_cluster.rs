//! RustChat on a Redis Cluster (3 masters, each with a replica; local `redis-server` processes the
//! test starts): the bus fans posts out between nodes over sharded pub/sub whatever shard a channel's
//! topic hashes to, connection slots and rate limits are counted cluster-wide, the node registry
//! works, and when a master is killed its replica takes over and fan-out recovers with nothing lost
//! and nothing delivered twice.

use std::sync::Arc;
use std::time::Duration;

use rustchat::cluster::Keys;
use rustchat::cluster::RedisLink;
use rustchat::cluster::slots::RedisSlots;
use rustchat::config::{RateLimitSettings, Secret, Settings};
use rustchat::ratelimit::{Limit, RateLimits};
use rustchat_actors::breaker::{Breaker, State};
use rustchat_actors::ports::Connections;
use uuid::Uuid;

use crate::common::redis_cluster::{RedisCluster, on_node};
use crate::common::ws::assert_contiguous;
use crate::common::{Api, Cluster, Ws, eventually};

const T: Duration = Duration::from_secs(20);

fn prefix() -> String {
    format!("rctest-{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// One value per master of `redis`: `make(i)` for i = 0, 1, … until each master serves one of the
/// keys `key(value)` names.
async fn one_per_master<V: Clone>(
    redis: &RedisCluster,
    make: impl Fn(usize) -> V,
    key: impl Fn(&V) -> String,
) -> Vec<(u16, V)> {
    let masters = redis.masters().await;
    let mut found: Vec<(u16, V)> = Vec::new();
    for i in 0..200 {
        let v = make(i);
        let master = redis.master_of(&key(&v)).await;
        if !found.iter().any(|(m, _)| *m == master) {
            found.push((master, v));
        }
        if found.len() == masters.len() {
            return found;
        }
    }
    panic!("200 keys did not cover the {} masters", masters.len());
}

fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
    Settings::from_vars(vars.iter().copied()).map_err(|e| e.to_string())
}

#[test]
fn a_redis_cluster_is_configured_by_several_seed_urls_or_the_flag() {
    let seeds = "redis://r1:6379, redis://:hunter2@r2:6379,redis://r3:6379";
    let s = settings(&[("RUSTCHAT_REDIS_URL", seeds)]).unwrap();
    assert!(s.redis.cluster, "several URLs are a cluster's seeds");
    let s = settings(&[("RUSTCHAT_REDIS_URL", "redis://r1:6379"), ("RUSTCHAT_REDIS_CLUSTER", "true")]).unwrap();
    assert!(s.redis.cluster, "one seed with the flag");
    let s = settings(&[("RUSTCHAT_REDIS_URL", "redis://redis:6379")]).unwrap();
    assert!(!s.redis.cluster, "one URL alone is one Redis, as before");
    assert_eq!(s.redis.prefix, "rustchat");

    let refused = [
        (vec![("RUSTCHAT_REDIS_CLUSTER", "true")], "RUSTCHAT_REDIS_CLUSTER"),
        (
            vec![("RUSTCHAT_REDIS_URL", "redis://r1:6379,http://r2"), ("RUSTCHAT_REDIS_CLUSTER", "1")],
            "RUSTCHAT_REDIS_URL",
        ),
        (vec![("RUSTCHAT_REDIS_URL", ",")], "RUSTCHAT_REDIS_URL"),
        (vec![("RUSTCHAT_REDIS_URL", seeds), ("RUSTCHAT_REDIS_CLUSTER", "no")], "RUSTCHAT_REDIS_CLUSTER"),
        (vec![("RUSTCHAT_REDIS_URL", "redis://r1"), ("RUSTCHAT_REDIS_CLUSTER", "maybe")], "RUSTCHAT_REDIS_CLUSTER"),
    ];
    for (vars, named) in refused {
        let message = settings(&vars).expect_err("refused");
        assert!(message.contains(named), "{vars:?}: {message}");
        assert!(!message.contains("hunter2") && !message.contains("r2"), "the URL is not shown: {message}");
    }
    // --check-config shows each seed with its password redacted.
    let dir = tempfile::tempdir().unwrap();
    let (_, out, err) = crate::common::process::run(
        dir.path(),
        &[("RUSTCHAT_REDIS_URL", seeds), ("RUSTCHAT_DATA_DIR", dir.path().to_str().unwrap())],
        &["--check-config"],
    );
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("RUSTCHAT_REDIS_URL"))
        .unwrap_or_else(|| panic!("{out}\n{err}"));
    assert!(
        line.contains("redis://r1:6379") && line.contains("redis://:***@r2:6379") && !line.contains("hunter2"),
        "{line}"
    );
    let flag = out.lines().find(|l| l.trim_start().starts_with("RUSTCHAT_REDIS_CLUSTER")).unwrap();
    assert!(flag.contains("true"), "{flag}");
}

#[tokio::test]
async fn connection_slots_and_rate_limits_are_counted_across_the_shards_of_a_redis_cluster() {
    let Some(redis) = RedisCluster::start(3, 0).await else { return };
    let prefix = prefix();
    let breaker = Arc::new(Breaker::new("redis", Arc::new(|_: &str, _, _| {})));
    // Two "nodes", each with its own link, given the seed list as RUSTCHAT_REDIS_URL is.
    let link = || Arc::new(RedisLink::new(&Secret::new(redis.seeds()), Some(breaker.clone())).unwrap());
    let (a, b) = (link(), link());
    assert!(a.is_cluster());
    let keys = Keys::new(&prefix);

    // Slots: users whose sets live on each master; the limit holds across both nodes.
    let users = one_per_master(&redis, |_| Uuid::new_v4(), |u| keys.conns(*u)).await;
    let (slots_a, slots_b) = (RedisSlots::new(a.clone(), keys.clone()), RedisSlots::new(b.clone(), keys.clone()));
    for (master, user) in &users {
        let user = *user;
        assert_eq!(slots_a.acquire(user, Uuid::new_v4(), 2).await, Ok(true));
        let second = Uuid::new_v4();
        assert_eq!(slots_b.acquire(user, second, 2).await, Ok(true));
        assert_eq!(slots_a.acquire(user, Uuid::new_v4(), 2).await, Ok(false), "a third slot on another node");
        assert_eq!(slots_b.count(user).await, Ok(2));
        let size: i64 = on_node(*master, redis::cmd("ZCARD").arg(keys.conns(user))).await.unwrap();
        assert_eq!(size, 2, "the set is under its documented name on its own shard");
        slots_b.release(user, second).await;
        assert_eq!(slots_a.count(user).await, Ok(1));
    }
    let absent = Uuid::new_v4();
    let mut asked: Vec<Uuid> = users.iter().map(|(_, u)| *u).collect();
    asked.push(absent);
    let online = slots_a.online(asked).await.unwrap();
    assert_eq!(online, users.iter().map(|(_, u)| *u).collect::<Vec<_>>(), "users on every shard are online");

    // Rate limits: 5 a minute for each client, counted across both nodes (alone each would allow 5).
    let settings =
        RateLimitSettings { auth_per_minute: 5, ws_per_minute: 5, uploads_per_minute: 5, trusted_proxies: vec![] };
    let (limits_a, limits_b) =
        (RateLimits::new(&settings, Some(a.clone()), &prefix), RateLimits::new(&settings, Some(b.clone()), &prefix));
    let clients = one_per_master(&redis, |i| format!("203.0.113.{i}"), |c| keys.rate_limit("auth", c)).await;
    for (master, client) in &clients {
        for i in 0..5 {
            let limits = if i % 2 == 0 { &limits_a } else { &limits_b };
            assert!(limits.check(Limit::Auth, client).await.is_ok(), "{client}: request {i} is within the burst");
        }
        for limits in [&limits_a, &limits_b] {
            let wait = limits.check(Limit::Auth, client).await.expect_err("the sixth request is refused everywhere");
            assert!(wait > Duration::ZERO && wait <= Duration::from_secs(12), "{wait:?}");
        }
        let exists: i64 = on_node(*master, redis::cmd("EXISTS").arg(keys.rate_limit("auth", client))).await.unwrap();
        assert_eq!(exists, 1, "{client}'s state is under its documented name on its own shard");
    }
    assert_eq!(breaker.state(), State::Closed, "no command failed: nothing fell back to per-node counting");
}

/// owner and mate in `n` public channels whose topics cover every master.
async fn channels_on_every_shard(redis: &RedisCluster, prefix: &str, base: &str) -> (Api, Api, Vec<(u16, String)>) {
    let owner = Api::register(base, "owner").await;
    let mate = Api::register(base, "mate").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    let masters = redis.masters().await;
    let mut found: Vec<(u16, String)> = Vec::new();
    for i in 0..40 {
        let channel = owner.create_channel(&team, &format!("c{i}"), "public").await;
        let master = redis.master_of(&format!("{prefix}:ch:{channel}")).await;
        if found.iter().any(|(m, _)| *m == master) {
            continue;
        }
        owner.add_to_channel(&channel, &mate.user_id).await;
        found.push((master, channel));
        if found.len() == masters.len() {
            return (owner, mate, found);
        }
    }
    panic!("40 channels did not cover the {} masters", masters.len());
}

async fn last_seq(api: &Api, channel: &str) -> i64 {
    api.get(&format!("/api/v1/channels/{channel}")).await.expect(200)["last_seq"].as_i64().unwrap()
}

#[tokio::test]
async fn two_nodes_on_a_redis_cluster_fan_out_across_shards_and_through_a_master_failover() {
    let Some(mut redis) = RedisCluster::start(3, 1).await else { return };
    let seeds = redis.seeds();
    let Some(cluster) =
        Cluster::start(2, &[("RUSTCHAT_REDIS_URL", seeds.as_str()), ("RUSTCHAT_REDIS_CLUSTER", "true")]).await
    else {
        return;
    };
    let prefix = cluster.prefix.clone();
    let (owner, mate, channels) = channels_on_every_shard(&redis, &prefix, &cluster.base(0)).await;
    let (owner_1, mate_2) = (owner.clone(), mate.on(&cluster.base(1)));
    let mut owner_ws = Ws::connect(&cluster.base(0), owner.token.as_deref().unwrap()).await;
    let mut mate_ws = Ws::connect(&cluster.base(1), mate.token.as_deref().unwrap()).await;

    // Both ways, on every shard: node 1 → node 2 and node 2 → node 1.
    let mut starts = Vec::new();
    for (_, channel) in &channels {
        let start = last_seq(&owner, channel).await;
        owner_1.say(channel, "from node 1").await;
        mate_2.say(channel, "from node 2").await;
        for ws in [&mut mate_ws, &mut owner_ws] {
            assert_contiguous(&ws.until_seq(channel, start + 2, T).await, start + 1);
        }
        starts.push(start);
    }

    // Sharded pub/sub: each topic is a shard channel on its own master, and no classic channel exists.
    for (master, channel) in &channels {
        let topic = format!("{prefix}:ch:{channel}");
        assert!(redis.pubsub(*master, "SHARDCHANNELS", &format!("{prefix}:*")).await.contains(&topic));
    }
    for port in redis.ports() {
        assert_eq!(redis.pubsub(port, "CHANNELS", &format!("{prefix}:*")).await, Vec::<String>::new());
    }
    // The registry: both nodes announced under the tagged key, and each sees the other.
    let nodes_key = format!("{prefix}:nodes{{{prefix}}}");
    let mut members: Vec<String> =
        on_node(redis.master_of(&nodes_key).await, redis::cmd("ZRANGE").arg(&nodes_key).arg(0).arg(-1)).await.unwrap();
    members.sort();
    assert_eq!(members, vec!["node-0".to_string(), "node-1".to_string()]);
    cluster
        .wait_log(0, "node-0 to see node-1 join", |l| {
            l["message"].as_str().unwrap_or("").contains("cluster heartbeat") && l["fields"]["peer"] == "node-1"
        })
        .await;

    // Two more "nodes" counting rate limits and connection slots, connected before the failover.
    let breaker = Arc::new(Breaker::new("redis", Arc::new(|_: &str, _, _| {})));
    let link = || Arc::new(RedisLink::new(&Secret::new(seeds.clone()), Some(breaker.clone())).unwrap());
    let (link_a, link_b) = (link(), link());
    let settings =
        RateLimitSettings { auth_per_minute: 5, ws_per_minute: 5, uploads_per_minute: 5, trusted_proxies: vec![] };
    let (limits_a, limits_b) = (
        RateLimits::new(&settings, Some(link_a.clone()), &prefix),
        RateLimits::new(&settings, Some(link_b.clone()), &prefix),
    );
    let keys = Keys::new(&prefix);
    let slots = RedisSlots::new(link_a.clone(), keys.clone());
    assert_eq!(slots.acquire(Uuid::new_v4(), Uuid::new_v4(), 1).await, Ok(true));

    // A master dies: posts go on meanwhile, on both nodes.
    let (dead, victim) = channels[0].clone();
    let topic = format!("{prefix}:ch:{victim}");
    redis.kill(dead);
    for i in 0..3 {
        owner_1.say(&victim, &format!("while failing over {i}")).await;
        mate_2.say(&victim, &format!("while failing over, node 2, {i}")).await;
    }
    let promoted = redis.wait_failover(&topic, dead).await;
    assert_ne!(promoted, dead);
    for i in 0..3 {
        owner_1.say(&victim, &format!("after failover {i}")).await;
        mate_2.say(&victim, &format!("after failover, node 2, {i}")).await;
    }
    // The links made before the failover find the promoted master by themselves: a client and a user
    // whose keys hash to its slots are counted there, cluster-wide.
    let promoted_keys = |k: String| {
        let redis = &redis;
        async move { redis.master_of(&k).await == promoted }
    };
    let mut client = String::new();
    for i in 0..1000 {
        client = format!("198.51.100.{i}");
        if promoted_keys(keys.rate_limit("auth", &client)).await {
            break;
        }
    }
    assert!(promoted_keys(keys.rate_limit("auth", &client)).await, "1000 clients missed the promoted master");
    eventually(T, "the pre-failover links to reach the promoted master", || {
        let (a, b, key) = (link_a.clone(), link_b.clone(), keys.rate_limit("probe", &client));
        async move {
            for link in [a, b] {
                let mut c = link.connection().await.ok()?;
                let _: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut c).await.ok()?;
            }
            Some(())
        }
    })
    .await;
    for i in 0..5 {
        let limits = if i % 2 == 0 { &limits_a } else { &limits_b };
        assert!(limits.check(Limit::Auth, &client).await.is_ok(), "request {i} is within the burst");
    }
    assert!(limits_b.check(Limit::Auth, &client).await.is_err(), "the sixth is refused: counted cluster-wide");
    let exists: i64 = on_node(promoted, redis::cmd("EXISTS").arg(keys.rate_limit("auth", &client))).await.unwrap();
    assert_eq!(exists, 1);
    let mut user = Uuid::new_v4();
    for _ in 0..1000 {
        if promoted_keys(keys.conns(user)).await {
            break;
        }
        user = Uuid::new_v4();
    }
    assert!(promoted_keys(keys.conns(user)).await, "1000 users missed the promoted master");
    assert_eq!(slots.acquire(user, Uuid::new_v4(), 1).await, Ok(true));
    assert_eq!(RedisSlots::new(link_b.clone(), keys.clone()).acquire(user, Uuid::new_v4(), 1).await, Ok(false));
    assert_eq!(breaker.state(), State::Closed);

    // Both nodes re-subscribed on the promoted master.
    eventually(T, "both nodes to subscribe on the promoted master", || {
        let topic = topic.clone();
        async move {
            let counts: redis::Value =
                on_node(promoted, redis::cmd("PUBSUB").arg("SHARDNUMSUB").arg(&topic)).await.ok()?;
            let redis::Value::Array(v) = counts else { return None };
            matches!(v.get(1), Some(redis::Value::Int(n)) if *n >= 2).then_some(())
        }
    })
    .await;
    // Each node's bus saw the master go, and came back on a fresh connection to the repaired cluster.
    for i in 0..2 {
        let logs = || cluster.logs(i);
        let lost = |l: &serde_json::Value| l["message"].as_str().unwrap_or("").contains("Redis bus connection lost");
        cluster.wait_log(i, "the bus to notice the dead master", lost).await;
        eventually(T, "the bus to reconnect after the failover", || {
            let lines = logs();
            async move {
                let at = lines.iter().position(lost)?;
                lines[at..].iter().any(|l| l["message"] == "Redis bus connected").then_some(())
            }
        })
        .await;
    }
    // Every channel (the failed-over one and the others) still fans out live, and the failed-over one
    // got everything, in order, once: the sentinel is the last post, so anything delivered twice
    // before it would show.
    for (i, (_, channel)) in channels.iter().enumerate() {
        owner_1.say(channel, "sentinel").await;
        let end = last_seq(&owner, channel).await;
        for ws in [&mut mate_ws, &mut owner_ws] {
            let got = ws.until_seq(channel, end, T).await;
            assert_contiguous(&got, starts[i] + 1);
            assert_eq!(got.last().unwrap()["data"]["post"]["message"], "sentinel");
        }
    }
    let victim_events = mate_ws.channel_events(&victim);
    let texts: Vec<&str> = victim_events.iter().filter_map(|e| e["data"]["post"]["message"].as_str()).collect();
    for i in 0..3 {
        assert!(texts.contains(&format!("while failing over {i}").as_str()), "{texts:?}");
        assert!(texts.contains(&format!("after failover, node 2, {i}").as_str()), "{texts:?}");
    }
    // A failover is an expected event: warnings, never an error.
    for i in 0..2 {
        let errors: Vec<_> = cluster.logs(i).into_iter().filter(|l| l["level"] == "ERROR").collect();
        assert!(errors.is_empty(), "node {i} logged errors: {errors:#?}");
    }
    // Readiness is back on both nodes (the Redis check passes against the repaired cluster).
    for i in 0..2 {
        let url = format!("{}/api/v1/health/ready", cluster.base(i));
        eventually(T, "readiness after the failover", || {
            let url = url.clone();
            async move { reqwest::get(&url).await.ok().filter(|r| r.status() == 200).map(drop) }
        })
        .await;
    }
}
