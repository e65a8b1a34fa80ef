//! Rate limits, held cluster-wide in Redis with an atomic GCRA script (one key per limit and client,
//! `<prefix>:rl:<limit>:<key>`), falling back to a per-node limiter (`governor`) while Redis is
//! unreachable or its breaker is open. A limit of N per minute allows a burst of N, then one more every
//! 60/N seconds.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::cluster::RedisLink;
use crate::config::RateLimitSettings;
use crate::error::{Error, ErrorCode};

const GCRA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > burst * interval then
  return new_tat - now - burst * interval
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now))
return 0
";

/// Which limit a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Auth endpoints, per client IP.
    Auth,
    /// Login attempts, per account name.
    Login,
    /// WebSocket connects, per client IP.
    Ws,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Auth => "auth",
            Limit::Login => "login",
            Limit::Ws => "ws",
        }
    }
}

struct Local {
    limiter: DefaultKeyedRateLimiter<String>,
    per_minute: u32,
}

impl Local {
    fn new(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Self { limiter: RateLimiter::keyed(Quota::per_minute(n)), per_minute }
    }

    fn check(&self, key: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

pub struct RateLimits {
    redis: Option<Arc<RedisLink>>,
    prefix: String,
    auth: Local,
    login: Local,
    ws: Local,
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings, redis: Option<Arc<RedisLink>>, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_string(),
            auth: Local::new(settings.auth_per_minute),
            login: Local::new(settings.auth_per_minute),
            ws: Local::new(settings.ws_per_minute),
        }
    }

    fn local(&self, limit: Limit) -> &Local {
        match limit {
            Limit::Auth => &self.auth,
            Limit::Login => &self.login,
            Limit::Ws => &self.ws,
        }
    }

    /// `Ok` when the request may go ahead; otherwise how long until it could.
    pub async fn check(&self, limit: Limit, key: &str) -> Result<(), Duration> {
        let local = self.local(limit);
        let Some(link) = &self.redis else { return local.check(key) };
        let interval_ms = 60_000 / u64::from(local.per_minute.max(1));
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let redis_key = format!("{}:rl:{}:{key}", self.prefix, limit.as_str());
        let attempt = async {
            let mut c = link.connection().await?;
            redis::Script::new(GCRA)
                .key(&redis_key)
                .arg(now_ms)
                .arg(interval_ms)
                .arg(local.per_minute)
                .invoke_async::<i64>(&mut c)
                .await
        };
        match tokio::time::timeout(Duration::from_secs(1), attempt).await {
            Ok(Ok(wait_ms)) => {
                link.succeeded();
                if wait_ms <= 0 { Ok(()) } else { Err(Duration::from_millis(wait_ms as u64)) }
            }
            _ => {
                link.reset().await;
                local.check(key)
            }
        }
    }
}

/// The 429 a refused request gets, after logging `Rate limit exceeded` with the client's `ip`.
pub fn refusal(limit: Limit, ip: &str, wait: Duration) -> Error {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    tracing::warn!(ip, limit = limit.as_str(), retry_after = secs, "Rate limit exceeded");
    let mut e = Error::new(ErrorCode::RateLimited, format!("too many requests: retry in {secs} s"));
    e.retry_after = Some(secs.max(1));
    e
}
