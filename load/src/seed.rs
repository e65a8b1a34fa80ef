//! Users, a team and channels over the public REST API, optionally cached in a file for later runs.
//!
//! Registration hashes a password on the server (argon2, one hash per core at a time), so 20 000 users
//! take minutes and there is no admin bulk path; `--seed-cache` keeps the accounts, team and channels
//! of one layout so later runs against the same database skip it. Channel positions (`last_seq`) are
//! read fresh on every run: receivers start following each channel exactly there.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::{self, Account};
use crate::args::{Args, Layout};

/// Access tokens live 15 minutes (src/auth/tokens.rs).
const ACCESS_TTL_S: u64 = 15 * 60;
/// Requests in flight for the cheap calls (joins, channels, reads).
const CONCURRENCY: usize = 32;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedChannel {
    pub id: String,
    /// Indexes into `Seed::users`.
    pub members: Vec<u32>,
    /// A channel with just its owner.
    pub personal: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seed {
    /// What the channels look like, e.g. `chat/1000/10`: a cache is only reused for the same layout.
    pub layout: String,
    pub team: String,
    pub users: Vec<Account>,
    pub channels: Vec<SeedChannel>,
    /// Unix seconds when the access tokens were issued.
    pub issued_at: u64,
}

/// The seed plus each channel's `last_seq` at the start of this run.
pub struct Seeded {
    pub seed: Seed,
    pub base_seqs: Vec<i64>,
    pub seconds: f64,
    pub registered: usize,
    pub from_cache: bool,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn layout_key(args: &Args, layout: Layout) -> String {
    match layout {
        Layout::Fanout => format!("fanout/{}", args.connections),
        Layout::Chat => format!("chat/{}/{}", args.connections, args.group),
    }
}

/// Runs `f` over `items` with `limit` in flight, printing progress every few seconds.
async fn each<T, R, F, Fut>(label: &str, items: Vec<T>, limit: usize, f: F) -> anyhow::Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = anyhow::Result<R>>,
{
    let total = items.len();
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let ticker = {
        let (done, label) = (done.clone(), label.to_string());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                eprintln!(
                    "[seed] {label}: {}/{total} ({:.0} s)",
                    done.load(Ordering::Relaxed),
                    started.elapsed().as_secs_f64()
                );
            }
        })
    };
    let out = stream::iter(items)
        .map(|item| {
            let done = done.clone();
            let fut = f(item);
            async move {
                let r = fut.await;
                done.fetch_add(1, Ordering::Relaxed);
                r
            }
        })
        .buffered(limit.max(1))
        .try_collect()
        .await;
    ticker.abort();
    out
}

/// Seeds (or loads from the cache) and reads every channel's current seq.
pub async fn prepare(http: &reqwest::Client, args: &Args, targets: &[String]) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let layout = args.layout()?;
    let key = layout_key(args, layout);
    let cached = match &args.seed_cache {
        Some(path) if path.exists() => Some(load(path, &key)?),
        _ => None,
    };
    let from_cache = cached.is_some();
    let mut registered = 0;
    let seed = match cached {
        Some(mut seed) => {
            // Reconnects need valid tokens until the end of the run.
            let needed = args.duration + args.connect_timeout + args.drain_timeout + 120;
            if seed.issued_at + ACCESS_TTL_S < unix_now() + needed {
                eprintln!("[seed] refreshing {} cached tokens", seed.users.len());
                seed.users = each("refresh", seed.users.into_iter().enumerate().collect(), CONCURRENCY, |(i, u)| {
                    let base = targets[i % targets.len()].clone();
                    async move { api::refresh(http, &base, &u).await }
                })
                .await?;
                seed.issued_at = unix_now();
                if let Some(path) = &args.seed_cache {
                    // Right away: the old refresh tokens are spent.
                    save(path, &seed)?;
                }
            }
            seed
        }
        None => {
            let seed = create(http, args, targets, layout, key).await?;
            registered = seed.users.len() + 1;
            if let Some(path) = &args.seed_cache {
                save(path, &seed)?;
            }
            seed
        }
    };
    let base_seqs = each("channel positions", seed.channels.iter().enumerate().collect(), CONCURRENCY, |(i, c)| {
        let base = targets[i % targets.len()].clone();
        let token = seed.users[c.members[0] as usize].access_token.clone();
        let id = c.id.clone();
        async move {
            let v = api::call(http, Method::GET, format!("{base}/api/v1/channels/{id}"), &token, json!(null)).await?;
            v["last_seq"].as_i64().with_context(|| format!("no last_seq in {v}"))
        }
    })
    .await?;
    Ok(Seeded { seed, base_seqs, seconds: started.elapsed().as_secs_f64(), registered, from_cache })
}

fn load(path: &Path, key: &str) -> anyhow::Result<Seed> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let seed: Seed = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    anyhow::ensure!(
        seed.layout == key,
        "{} holds layout {} but this run needs {key}: use another --seed-cache file",
        path.display(),
        seed.layout
    );
    eprintln!("[seed] reusing {} users and {} channels from {}", seed.users.len(), seed.channels.len(), path.display());
    Ok(seed)
}

fn save(path: &Path, seed: &Seed) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(seed)?).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

async fn create(
    http: &reqwest::Client,
    args: &Args,
    targets: &[String],
    layout: Layout,
    key: String,
) -> anyhow::Result<Seed> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let base0 = &targets[0];
    let admin = api::register(http, base0, &format!("ld{run}adm")).await?;
    let team = api::call(
        http,
        Method::POST,
        format!("{base0}/api/v1/teams"),
        &admin.access_token,
        json!({"name": format!("load-{run}"), "open": true}),
    )
    .await?;
    let team = api::id_of(&team, "team")?;
    let issued_at = unix_now();
    let t0 = Instant::now();
    let users = each("register", (0..args.connections).collect(), args.seed_concurrency, |i| {
        let base = targets[i % targets.len()].clone();
        let name = format!("ld{run}u{i}");
        async move { api::register(http, &base, &name).await }
    })
    .await?;
    eprintln!("[seed] registered {} users in {:.1} s", users.len(), t0.elapsed().as_secs_f64());
    each("join team", users.iter().enumerate().collect(), CONCURRENCY, |(i, u)| {
        let url = format!("{}/api/v1/teams/{team}/join", targets[i % targets.len()]);
        async move { api::call(http, Method::POST, url, &u.access_token, json!({})).await }
    })
    .await?;

    let target = |i: usize| targets[i % targets.len()].as_str();
    let mut channels = Vec::new();
    match layout {
        Layout::Fanout => {
            let owner = &users[0];
            let ch = api::call(
                http,
                Method::POST,
                format!("{}/api/v1/teams/{team}/channels", target(0)),
                &owner.access_token,
                json!({"name": format!("all-{run}")}),
            )
            .await?;
            let id = api::id_of(&ch, "channel")?;
            each("join channel", users.iter().enumerate().skip(1).collect(), CONCURRENCY, |(i, u)| {
                let url = format!("{}/api/v1/channels/{id}/members", target(i));
                async move { api::call(http, Method::POST, url, &u.access_token, json!({"user_id": u.id})).await }
            })
            .await?;
            channels.push(SeedChannel { id, members: (0..users.len() as u32).collect(), personal: false });
        }
        Layout::Chat => {
            let groups: Vec<Vec<u32>> =
                (0..users.len() as u32).collect::<Vec<_>>().chunks(args.group).map(<[u32]>::to_vec).collect();
            let made = each("group channels", groups.into_iter().enumerate().collect(), CONCURRENCY, |(g, members)| {
                let owner = users[members[0] as usize].clone();
                let users = &users;
                let (base, team, run) = (target(g).to_string(), team.clone(), run.clone());
                async move {
                    let ch = api::call(
                        http,
                        Method::POST,
                        format!("{base}/api/v1/teams/{team}/channels"),
                        &owner.access_token,
                        json!({"name": format!("g{g}-{run}")}),
                    )
                    .await?;
                    let id = api::id_of(&ch, "channel")?;
                    for &m in &members[1..] {
                        let body = json!({"user_id": users[m as usize].id});
                        let url = format!("{base}/api/v1/channels/{id}/members");
                        api::call(http, Method::POST, url, &owner.access_token, body).await?;
                    }
                    anyhow::Ok(SeedChannel { id, members, personal: false })
                }
            })
            .await?;
            channels.extend(made);
            let personal = each("personal channels", users.iter().enumerate().collect(), CONCURRENCY, |(i, u)| {
                let url = format!("{}/api/v1/teams/{team}/channels", target(i));
                let body = json!({"name": format!("p{i}-{run}"), "kind": "private"});
                async move {
                    let ch = api::call(http, Method::POST, url, &u.access_token, body).await?;
                    anyhow::Ok(SeedChannel { id: api::id_of(&ch, "channel")?, members: vec![i as u32], personal: true })
                }
            })
            .await?;
            channels.extend(personal);
        }
    }
    Ok(Seed { layout: key, team, users, channels, issued_at })
}
