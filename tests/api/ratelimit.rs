//! Cluster-wide rate limits in real Redis at every rate the configuration accepts (1 to 1 000 000 a
//! minute): requests are counted without a Redis error, so the Redis breaker stays closed, and a
//! client over its budget is refused for as long as the limit says.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustchat::cluster::RedisLink;
use rustchat::config::{RateLimitSettings, Secret};
use rustchat::ratelimit::{Limit, RateLimits};
use rustchat_actors::breaker::{Breaker, State};
use serde_json::json;

use crate::common::{Db, redis_available, redis_url, spawn_app};

fn limits(per_minute: u32, prefix: &str) -> (RateLimits, Arc<Breaker>) {
    let breaker = Arc::new(Breaker::new("redis", Arc::new(|_: &str, _, _| {})));
    let link = RedisLink::new(&Secret::new(redis_url()), Some(breaker.clone())).unwrap();
    let settings = RateLimitSettings {
        auth_per_minute: per_minute,
        ws_per_minute: per_minute,
        uploads_per_minute: per_minute,
        trusted_proxies: vec![],
    };
    (RateLimits::new(&settings, Some(Arc::new(link)), prefix), breaker)
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap()
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as f64 / 1000.0
}

#[tokio::test]
async fn an_auth_limit_above_60_000_a_minute_works_with_redis_without_tripping_its_breaker() {
    if !redis_available().await {
        return;
    }
    for per_minute in ["100000", "1000000"] {
        let prefix = format!("test{}", uuid::Uuid::new_v4().simple());
        let redis_url = redis_url();
        let vars = [
            ("RUSTCHAT_REDIS_URL", redis_url.as_str()),
            ("RUSTCHAT_REDIS_PREFIX", prefix.as_str()),
            ("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", per_minute),
        ];
        let Some(app) = spawn_app(Db::Sqlite, &vars).await else { return };
        for i in 0..12 {
            let r = app
                .client
                .post(format!("{}/api/v1/auth/login", app.address))
                .json(&json!({"login": format!("nobody{i}"), "password": "wrong-password"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{per_minute}/min, attempt {i}: {}", r.text().await.unwrap());
        }
        let (_, stats) = app.get_json("/api/v1/health/stats").await;
        let redis_breaker = &stats["circuit_breakers"]["redis"];
        assert_eq!(redis_breaker["state"], "closed", "{per_minute}/min: {stats}");
        assert_eq!(redis_breaker["total_failures"], 0, "{per_minute}/min: the limit script failed in Redis: {stats}");
        assert_eq!(app.get("/api/v1/health/ready").await.status(), 200, "{per_minute}/min: readiness");
    }
}

#[tokio::test]
async fn a_client_over_its_budget_waits_one_interval_at_every_accepted_rate() {
    if !redis_available().await {
        return;
    }
    let mut c = redis().await;
    for per_minute in [1u32, 7, 60_000, 100_000, 1_000_000] {
        let prefix = format!("test{}", uuid::Uuid::new_v4().simple());
        let (limits, breaker) = limits(per_minute, &prefix);
        let interval_ms = 60_000.0 / f64::from(per_minute);
        // As if the client had just used its whole burst, and then some: 50 ms beyond it.
        let key = format!("{prefix}:rl:auth:203.0.113.9");
        let tat = now_ms() + 60_000.0 + 50.0;
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(format!("{tat:.3}"))
            .arg("PX")
            .arg(120_000)
            .query_async(&mut c)
            .await
            .unwrap();

        let wait = limits.check(Limit::Auth, "203.0.113.9").await.expect_err("over budget");
        let most = Duration::from_millis((50.0 + interval_ms).ceil() as u64);
        assert!(
            wait >= Duration::from_millis(1) && wait <= most,
            "{per_minute}/min: told to wait {wait:?}, at most {most:?}"
        );
        if per_minute >= 60_000 {
            tokio::time::sleep(wait + Duration::from_millis(5)).await;
            assert_eq!(
                limits.check(Limit::Auth, "203.0.113.9").await,
                Ok(()),
                "{per_minute}/min: admitted after the wait"
            );
        }

        // A fresh client gets its burst and no more.
        let burst = per_minute.min(7);
        for i in 0..burst {
            assert_eq!(limits.check(Limit::Ws, "198.51.100.4").await, Ok(()), "{per_minute}/min: request {i}");
        }
        if per_minute <= 7 {
            let wait = limits.check(Limit::Ws, "198.51.100.4").await.expect_err("burst used up");
            let expected = Duration::from_secs_f64(interval_ms / 1000.0);
            assert!(
                wait.abs_diff(expected) <= Duration::from_millis(50),
                "{per_minute}/min: wait {wait:?}, expected {expected:?}"
            );
        }
        assert_eq!(breaker.state(), State::Closed, "{per_minute}/min");
        assert_eq!(breaker.snapshot().total_failures, 0, "{per_minute}/min: the script failed in Redis");
        let _: () =
            redis::cmd("DEL").arg(&key).arg(format!("{prefix}:rl:ws:198.51.100.4")).query_async(&mut c).await.unwrap();
    }
}
