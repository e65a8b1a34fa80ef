//! Rate limits, held cluster-wide in Redis with an atomic GCRA script (one key per limit and client,
//! `<prefix>:rl:<limit>:<key>`), falling back to a per-node limiter (`governor`) while Redis is
//! unreachable or its breaker is open. A limit of N per minute allows a burst of N, then one more every
//! 60/N seconds.
//!
//! Times in the script are milliseconds with a fractional part: every limit the configuration accepts
//! (up to 1 000 000 a minute, one every 0.06 ms) has a non-zero interval, and a key written by an
//! older node (whole milliseconds) reads the same. The per-node limiter forgets clients whose state
//! is back to fresh (see [`Local::check`]), so a stream of distinct keys cannot grow it without bound.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::cluster::{Keys, RedisLink};
use crate::config::RateLimitSettings;
use crate::error::{Error, ErrorCode};

/// ARGV: now (ms), interval (ms), burst. Returns 0 when admitted (and records it), otherwise the whole
/// milliseconds (at least 1) until a request could be.
const GCRA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - burst * interval
if wait > 0 then
  return math.max(1, math.ceil(wait))
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
return 0
";

/// The per-node limiter prunes forgotten keys after at least this many checks (more when it holds
/// more keys, so pruning costs O(1) per check on average).
pub const PRUNE_EVERY: usize = 1024;

/// Which limit a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Auth endpoints, per client IP.
    Auth,
    /// Login attempts, per account name.
    Login,
    /// WebSocket connects, per client IP.
    Ws,
    /// File uploads, per user.
    Upload,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Auth => "auth",
            Limit::Login => "login",
            Limit::Ws => "ws",
            Limit::Upload => "upload",
        }
    }
}

/// One limit's per-node limiter, keyed by client.
pub struct Local<C: Clock = DefaultClock> {
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, C, NoOpMiddleware<C::Instant>>,
    per_minute: u32,
    checks_since_prune: AtomicUsize,
    prune_after: AtomicUsize,
}

impl Local {
    pub fn new(per_minute: u32) -> Self {
        Self::with_clock(per_minute, DefaultClock::default())
    }
}

impl<C: Clock> Local<C> {
    /// A limiter on `clock` (tests pass a fake one to move time by hand).
    pub fn with_clock(per_minute: u32, clock: C) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::dashmap_with_clock(Quota::per_minute(n), clock),
            per_minute,
            checks_since_prune: AtomicUsize::new(0),
            prune_after: AtomicUsize::new(PRUNE_EVERY),
        }
    }

    /// Counts one request for `key`. Keys are attacker-chosen (addresses, login names), so every so
    /// often the keys whose state is back to fresh are dropped (governor keeps a key until two emission
    /// intervals after its last admitted request): what stays is at most twice the keys seen within
    /// that time, plus [`PRUNE_EVERY`].
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let outcome = self
            .limiter
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()));
        if self.checks_since_prune.fetch_add(1, Ordering::Relaxed) + 1 >= self.prune_after.load(Ordering::Relaxed) {
            self.prune();
        }
        outcome
    }

    fn prune(&self) {
        self.checks_since_prune.store(0, Ordering::Relaxed);
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.prune_after.store(self.limiter.len().max(PRUNE_EVERY), Ordering::Relaxed);
    }

    /// How many clients this limiter holds state for.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

pub struct RateLimits {
    redis: Option<Arc<RedisLink>>,
    keys: Keys,
    auth: Local,
    login: Local,
    ws: Local,
    upload: Local,
    /// Posts per incoming webhook: the rate is a site setting, so the per-node limiter is rebuilt
    /// when it changes.
    hooks: std::sync::Mutex<Arc<Local>>,
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings, redis: Option<Arc<RedisLink>>, prefix: &str) -> Self {
        Self {
            redis,
            keys: Keys::new(prefix),
            auth: Local::new(settings.auth_per_minute),
            login: Local::new(settings.auth_per_minute),
            ws: Local::new(settings.ws_per_minute),
            upload: Local::new(settings.uploads_per_minute),
            hooks: std::sync::Mutex::new(Arc::new(Local::new(60))),
        }
    }

    fn local(&self, limit: Limit) -> &Local {
        match limit {
            Limit::Auth => &self.auth,
            Limit::Login => &self.login,
            Limit::Ws => &self.ws,
            Limit::Upload => &self.upload,
        }
    }

    /// `Ok` when the request may go ahead; otherwise how long until it could.
    pub async fn check(&self, limit: Limit, key: &str) -> Result<(), Duration> {
        self.check_on(limit.as_str(), self.local(limit), key).await
    }

    /// One post through the incoming webhook `hook` (its public id), at `per_minute` (a site setting).
    pub async fn check_hook(&self, hook: &str, per_minute: u32) -> Result<(), Duration> {
        let local = {
            let mut slot = self.hooks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if slot.per_minute != per_minute {
                *slot = Arc::new(Local::new(per_minute));
            }
            slot.clone()
        };
        self.check_on("hook", &local, hook).await
    }

    async fn check_on(&self, name: &str, local: &Local, key: &str) -> Result<(), Duration> {
        let Some(link) = &self.redis else { return local.check(key) };
        let interval_ms = 60_000.0 / f64::from(local.per_minute.max(1));
        // On the cluster's clock: every node's requests count against one timeline in Redis.
        let now_us = (crate::domain::Timestamp::now().inner().unix_timestamp_nanos() / 1000).max(0);
        let now_ms = format!("{}.{:03}", now_us / 1000, now_us % 1000);
        let redis_key = self.keys.rate_limit(name, key);
        let attempt = async {
            let mut c = link.connection().await?;
            redis::Script::new(GCRA)
                .key(&redis_key)
                .arg(&now_ms)
                .arg(interval_ms.to_string())
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

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn a_stream_of_distinct_keys_does_not_grow_the_local_limiter_without_bound() {
        // 10 a minute: governor keeps a key for two emission intervals (2 × 6 s) after its request.
        let clock = FakeRelativeClock::default();
        let local = Local::with_clock(10, clock.clone());
        let step = Duration::from_millis(1);
        let live = 12_000 / step.as_millis() as usize;
        let mut largest = 0;
        for i in 0..200_000 {
            assert!(local.check(&format!("client-{i}")).is_ok(), "a first request is admitted");
            clock.advance(step);
            largest = largest.max(local.len());
        }
        let bound = 2 * (live + 1) + PRUNE_EVERY;
        assert!(largest <= bound, "the limiter held {largest} keys at once; at most {bound} can be live or unpruned");
        assert!(largest >= live, "the stream kept {largest} keys, fewer than the {live} it had in one window");
    }

    #[test]
    fn pruning_keeps_the_state_of_clients_still_within_their_window() {
        let clock = FakeRelativeClock::default();
        let local = Local::with_clock(10, clock.clone());
        for _ in 0..10 {
            assert!(local.check("guesser").is_ok());
        }
        // Enough other keys to prune several times, within the guesser's window.
        for i in 0..5 * PRUNE_EVERY {
            let _ = local.check(&format!("other-{i}"));
            clock.advance(Duration::from_micros(100));
        }
        assert!(local.check("guesser").is_err(), "pruning forgot a client that used up its burst");
    }

    #[test]
    fn at_the_highest_accepted_rate_on_the_real_clock_the_limiter_stays_small() {
        // 1 000 000 a minute: a key is fresh again 60 µs after its request.
        let local = Local::new(1_000_000);
        let mut largest = 0;
        for i in 0..100_000 {
            let _ = local.check(&format!("{i}"));
            largest = largest.max(local.len());
        }
        assert!(largest < 20_000, "{largest} keys held at once from 100 000 distinct one-off clients");
    }
}
