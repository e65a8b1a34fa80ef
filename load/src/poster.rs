//! Open-loop posting over REST: post `n` is due at `start + n / rate`, whatever happened to earlier
//! ones, and carries that intended time in its message, so receivers measure latency from when the
//! post *should* have been sent (a stalled server cannot hide its stall: no coordinated omission).
//!
//! Posts are spread over the targets; an attempt that fails for a reason another node could fix
//! (connection error, timeout, 5xx such as 503 while a node drains, 429) is retried on the next target.
//! A post is acknowledged only by a 201, whose `seq` the loss check then expects at every reader.
//! There is no idempotency key: a failed attempt that was in fact committed becomes a second event
//! with its own seq, which readers receive like any other (it is not a server duplicate).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::args::{Args, Layout};
use crate::client::{lock, now_us};
use crate::seed::Seed;
use crate::tally::histogram;

/// Who posts where, for post number `n`: channels in turn, and posters in turn within a channel.
pub struct Schedule {
    fanout: bool,
    personal_fraction: f64,
    groups: Vec<usize>,
    personal: Vec<usize>,
}

impl Schedule {
    pub fn new(seed: &Seed, layout: Layout, personal_fraction: f64) -> Schedule {
        let (personal, groups): (Vec<usize>, Vec<usize>) =
            (0..seed.channels.len()).partition(|c| seed.channels[*c].personal);
        let personal_fraction = if personal.is_empty() { 0.0 } else { personal_fraction };
        Schedule { fanout: layout == Layout::Fanout, personal_fraction, groups, personal }
    }

    /// (channel index, index of the poster among the channel's members).
    pub fn post(&self, n: u64) -> (usize, usize) {
        let f = self.personal_fraction;
        let personal_before = (n as f64 * f).floor() as u64;
        let personal_now = ((n + 1) as f64 * f).floor() as u64 > personal_before;
        if !self.fanout && personal_now {
            return (self.personal[personal_before as usize % self.personal.len()], 0);
        }
        if self.fanout {
            return (self.groups[0], n as usize);
        }
        let k = (n - personal_before) as usize;
        (self.groups[k % self.groups.len()], k / self.groups.len())
    }
}

#[derive(Default)]
pub struct Stats {
    pub scheduled: AtomicU64,
    pub attempts: AtomicU64,
    pub attempt_failures: AtomicU64,
    pub acked: AtomicU64,
    /// Posts that were never acknowledged, after every retry.
    pub failed: AtomicU64,
    /// Posts that needed more than one attempt.
    pub retried: AtomicU64,
    /// Failed attempts by HTTP status, `io` or `timeout`.
    pub failures: Mutex<BTreeMap<String, u64>>,
}

pub struct Poster {
    pub http: reqwest::Client,
    pub targets: Vec<String>,
    pub stats: Arc<Stats>,
    /// Intended time → 201, per acknowledged post.
    pub ack_latency: Arc<Mutex<Histogram<u64>>>,
    /// Acknowledged seqs per channel.
    pub acked: Arc<Mutex<Vec<Vec<i64>>>>,
}

impl Poster {
    pub fn new(http: reqwest::Client, targets: Vec<String>, channels: usize) -> Poster {
        Poster {
            http,
            targets,
            stats: Arc::default(),
            ack_latency: Arc::new(Mutex::new(histogram())),
            acked: Arc::new(Mutex::new(vec![Vec::new(); channels])),
        }
    }

    /// Posts `rate * duration` messages on schedule; returns once every one is acknowledged or failed.
    pub async fn run(&self, args: &Args, seed: &Seed, schedule: &Schedule) {
        let total = (args.rate * args.duration as f64).round() as u64;
        let limit = Arc::new(Semaphore::new(args.max_inflight.max(1)));
        let start = tokio::time::Instant::now();
        let start_us = now_us();
        let timeout = Duration::from_secs_f64(args.post_timeout);
        let mut tasks = Vec::with_capacity(total as usize);
        for n in 0..total {
            let offset = Duration::from_secs_f64(n as f64 / args.rate);
            tokio::time::sleep_until(start + offset).await;
            let Ok(permit) = limit.clone().acquire_owned().await else { break };
            let (channel, poster) = schedule.post(n);
            let members = &seed.channels[channel].members;
            let user = &seed.users[members[poster % members.len()] as usize];
            let intended = start_us + offset.as_micros() as u64;
            let job = Attempts {
                http: self.http.clone(),
                targets: self.targets.clone(),
                url_path: format!("/api/v1/channels/{}/posts", seed.channels[channel].id),
                token: user.access_token.clone(),
                body: json!({"message": message(intended, n, args.message_bytes)}),
                first: n as usize,
                retries: args.post_retries,
                timeout,
                stats: self.stats.clone(),
            };
            self.stats.scheduled.fetch_add(1, Ordering::Relaxed);
            let (acked, latency) = (self.acked.clone(), self.ack_latency.clone());
            tasks.push(tokio::spawn(async move {
                if let Some(seq) = job.run().await {
                    lock(&acked)[channel].push(seq);
                    lock(&latency).saturating_record(now_us().saturating_sub(intended).max(1));
                }
                drop(permit);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        for seqs in lock(&self.acked).iter_mut() {
            seqs.sort_unstable();
        }
    }
}

/// `t=<intended unix µs> n=<post number> load`, padded to `bytes` characters.
fn message(intended: u64, n: u64, bytes: usize) -> String {
    let mut m = format!("t={intended} n={n} load ");
    if m.len() < bytes {
        m.push_str(&"x".repeat(bytes - m.len()));
    }
    m
}

struct Attempts {
    http: reqwest::Client,
    targets: Vec<String>,
    url_path: String,
    token: String,
    body: serde_json::Value,
    first: usize,
    retries: u32,
    timeout: Duration,
    stats: Arc<Stats>,
}

impl Attempts {
    /// The acknowledged seq, or `None` when every attempt failed.
    async fn run(self) -> Option<i64> {
        let s = &self.stats;
        for attempt in 0..=self.retries {
            if attempt == 1 {
                s.retried.fetch_add(1, Ordering::Relaxed);
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            s.attempts.fetch_add(1, Ordering::Relaxed);
            let base = &self.targets[(self.first + attempt as usize) % self.targets.len()];
            let sent = self
                .http
                .post(format!("{base}{}", self.url_path))
                .bearer_auth(&self.token)
                .json(&self.body)
                .timeout(self.timeout)
                .send()
                .await;
            let (why, retry) = match sent {
                Ok(r) if r.status().as_u16() == 201 => match r.json::<serde_json::Value>().await {
                    Ok(v) => match v["seq"].as_i64() {
                        Some(seq) => {
                            s.acked.fetch_add(1, Ordering::Relaxed);
                            return Some(seq);
                        }
                        None => ("201 without seq".to_string(), false),
                    },
                    // The post is committed but we cannot tell its seq: not acknowledged.
                    Err(_) => ("201 unreadable".to_string(), false),
                },
                Ok(r) => {
                    let code = r.status().as_u16();
                    (code.to_string(), code >= 500 || code == 429 || code == 408)
                }
                Err(e) if e.is_timeout() => ("timeout".to_string(), true),
                Err(_) => ("io".to_string(), true),
            };
            s.attempt_failures.fetch_add(1, Ordering::Relaxed);
            *lock(&s.failures).entry(why).or_default() += 1;
            if !retry {
                break;
            }
        }
        s.failed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Account;
    use crate::seed::SeedChannel;

    fn seed(groups: usize, per_group: u32) -> Seed {
        let users = (groups as u32 * per_group) as usize;
        let mut channels: Vec<SeedChannel> = (0..groups as u32)
            .map(|g| SeedChannel {
                id: format!("g{g}"),
                members: (g * per_group..(g + 1) * per_group).collect(),
                personal: false,
            })
            .collect();
        channels.extend((0..users as u32).map(|u| SeedChannel {
            id: format!("p{u}"),
            members: vec![u],
            personal: true,
        }));
        let account = |i: usize| Account {
            name: format!("u{i}"),
            id: i.to_string(),
            access_token: String::new(),
            refresh_token: String::new(),
        };
        Seed {
            layout: String::new(),
            team: String::new(),
            users: (0..users).map(account).collect(),
            channels,
            issued_at: 0,
        }
    }

    #[test]
    fn messages_carry_the_intended_time_and_padding() {
        let m = message(1_700_000_000_000_000, 7, 100);
        assert_eq!(m.len(), 100);
        assert_eq!(crate::client::intended_us(&m), Some(1_700_000_000_000_000));
        assert_eq!(crate::client::intended_us(&message(5, 1, 0)), Some(5));
    }

    #[test]
    fn chat_posts_rotate_channels_and_posters() {
        let s = seed(3, 4);
        let schedule = Schedule::new(&s, Layout::Chat, 0.0);
        let posts: Vec<(usize, usize)> = (0..6).map(|n| schedule.post(n)).collect();
        assert_eq!(posts, vec![(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]);
    }

    #[test]
    fn a_fraction_goes_to_personal_channels() {
        let s = seed(2, 5);
        let schedule = Schedule::new(&s, Layout::Chat, 0.25);
        let personal = (0..1000).map(|n| schedule.post(n).0).filter(|c| s.channels[*c].personal).count();
        assert_eq!(personal, 250);
        let groups: std::collections::BTreeSet<usize> = (0..1000).map(|n| schedule.post(n).0).collect();
        assert_eq!(groups.len(), 12, "both groups and all ten personal channels get posts");
    }
}
