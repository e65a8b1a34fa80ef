//! `rustchat-load`: drives running RustChat nodes through their public API and measures what users
//! feel. It seeds users, a team and channels, opens authenticated WebSockets (spread over source
//! addresses 127.0.0.x and over the given nodes), posts at a fixed open-loop rate (each post carries
//! its intended send time, so a slow server cannot hide latency: no coordinated omission), records
//! post→delivery latency at every receiver in an HDR histogram, and checks every delivery for loss,
//! duplication and order by `seq`. It samples server CPU seconds and RSS from `/proc/<pid>`.
//!
//! Scenarios: `idle` (connections only), `fanout` (one channel, everyone a member), `chat` (each user
//! in a personal-ish group channel of `--group` members), each optionally with `--slow-percent` of
//! clients that stop reading. Results: a progress line per second, `--out` JSON and `--markdown`.
//!
//! The nodes must allow the registrations and connects: run them with high
//! `RUSTCHAT_SECURITY_RATE_LIMIT_*` values and a large `max_simultaneous_connections` if needed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Parser, Debug, Clone)]
#[command(name = "rustchat-load", about = "Load generator for RustChat")]
struct Args {
    /// Node base URLs, comma-separated (clients are spread over them).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    targets: String,
    /// idle | fanout | chat
    #[arg(long, default_value = "fanout")]
    scenario: String,
    /// WebSocket connections (one user each).
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Members per group channel in the chat scenario.
    #[arg(long, default_value_t = 10)]
    group: usize,
    /// Posts per second (open loop), across all posters.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Seconds of posting (or of holding connections for `idle`).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Percent of clients that stop reading (slow consumers).
    #[arg(long, default_value_t = 0.0)]
    slow_percent: f64,
    /// Node process ids to sample CPU and RSS from, comma-separated.
    #[arg(long, default_value = "")]
    pids: String,
    /// Source addresses 127.0.0.1 .. 127.0.0.N for client sockets.
    #[arg(long, default_value_t = 1)]
    source_addresses: u8,
    /// Write the result as JSON here.
    #[arg(long)]
    out: Option<String>,
    /// Write a Markdown summary here.
    #[arg(long)]
    markdown: Option<String>,
    /// Exit non-zero when anything was lost, duplicated or reordered.
    #[arg(long, default_value_t = true)]
    check: bool,
}

struct Client {
    token: String,
    user_id: String,
}

/// What every receiver records.
#[derive(Default)]
struct Tally {
    latency: Option<Histogram<u64>>,
    deliveries: u64,
    duplicates: u64,
    reordered: u64,
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// CPU seconds (user + system) and RSS (KiB) of a process.
fn proc_sample(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let cpu = (fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / ticks;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((cpu, rss))
}

async fn register(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<Client> {
    let body = json!({"username": name, "email": format!("{name}@load.test"), "password": format!("pw-{name}-load")});
    let r = http.post(format!("{base}/api/v1/auth/register")).json(&body).send().await?;
    if !r.status().is_success() {
        bail!("register {name}: {} {}", r.status(), r.text().await.unwrap_or_default());
    }
    let v: Value = r.json().await?;
    Ok(Client {
        token: v["access_token"].as_str().context("token")?.to_string(),
        user_id: v["user"]["id"].as_str().context("id")?.to_string(),
    })
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let r = http.request(method, &url).bearer_auth(token).json(&body).send().await?;
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        bail!("{url}: {status} {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let targets: Vec<String> = args.targets.split(',').map(|s| s.trim().trim_end_matches('/').to_string()).collect();
    let pids: Vec<u32> = args.pids.split(',').filter_map(|p| p.trim().parse().ok()).collect();
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();

    // Seed: an admin (team owner), users, channels.
    let base0 = &targets[0];
    let admin = register(&http, base0, &format!("ld{run}adm")).await?;
    let team = call(
        &http,
        reqwest::Method::POST,
        format!("{base0}/api/v1/teams"),
        &admin.token,
        json!({"name": format!("load-{run}"), "open": true}),
    )
    .await?;
    let team = team["id"].as_str().context("team id")?.to_string();
    eprintln!("seeding {} users…", args.connections);
    let mut clients = Vec::with_capacity(args.connections);
    for chunk in (0..args.connections).collect::<Vec<_>>().chunks(32) {
        let batch = chunk.iter().map(|i| {
            let http = http.clone();
            let base = targets[i % targets.len()].clone();
            let name = format!("ld{run}u{i}");
            async move { register(&http, &base, &name).await }
        });
        for c in futures_util::future::join_all(batch).await {
            clients.push(c?);
        }
    }
    for c in &clients {
        call(&http, reqwest::Method::POST, format!("{base0}/api/v1/teams/{team}/join"), &c.token, json!({})).await?;
    }
    // Channels: one for everyone (fanout), or groups of `--group` (chat).
    let groups: Vec<Vec<usize>> = match args.scenario.as_str() {
        "fanout" => vec![(0..clients.len()).collect()],
        "chat" => (0..clients.len()).collect::<Vec<_>>().chunks(args.group.max(2)).map(|c| c.to_vec()).collect(),
        "idle" => Vec::new(),
        other => bail!("unknown scenario {other}"),
    };
    let mut channels = Vec::new();
    for (g, members) in groups.iter().enumerate() {
        let ch = call(
            &http,
            reqwest::Method::POST,
            format!("{base0}/api/v1/teams/{team}/channels"),
            &admin.token,
            json!({"name": format!("c{g}-{run}")}),
        )
        .await?;
        let id = ch["id"].as_str().context("channel id")?.to_string();
        for &m in members {
            call(
                &http,
                reqwest::Method::POST,
                format!("{base0}/api/v1/channels/{id}/members"),
                &clients[m].token,
                json!({"user_id": clients[m].user_id}),
            )
            .await?;
        }
        channels.push((id, members.clone()));
    }

    // Connect.
    let before: Vec<(f64, u64)> = pids.iter().filter_map(|p| proc_sample(*p)).collect();
    let tallies: Arc<Mutex<HashMap<usize, Tally>>> = Arc::default();
    let connected = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let slow_every = if args.slow_percent > 0.0 { (100.0 / args.slow_percent).round() as usize } else { 0 };
    let mut sockets = Vec::new();
    eprintln!("connecting {} sockets…", clients.len());
    for (i, c) in clients.iter().enumerate() {
        let base = targets[i % targets.len()].clone();
        let src = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % args.source_addresses.max(1) as usize) as u8));
        let slow = slow_every > 0 && i % slow_every == slow_every - 1;
        let (token, tallies, connected, closed, stop) =
            (c.token.clone(), tallies.clone(), connected.clone(), closed.clone(), stop.clone());
        sockets.push(tokio::spawn(async move {
            let url = format!("{}/api/v1/ws", base.replacen("http://", "ws://", 1));
            let addr: SocketAddr = base.trim_start_matches("http://").parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(src, 0))?;
            let tcp = socket.connect(addr).await?;
            let mut req = url.into_client_request()?;
            req.headers_mut().insert("Authorization", format!("Bearer {token}").parse()?);
            let config = WebSocketConfig::default().read_buffer_size(4096);
            let (mut ws, _) = tokio_tungstenite::client_async_with_config(
                req,
                tokio_tungstenite::MaybeTlsStream::Plain(tcp),
                Some(config),
            )
            .await?;
            connected.fetch_add(1, Ordering::Relaxed);
            let mut last: HashMap<String, i64> = HashMap::new();
            let mut tally = Tally { latency: Histogram::new_with_bounds(1, 60_000_000, 3).ok(), ..Tally::default() };
            loop {
                if slow {
                    // A client that stops reading: hold the socket until the end.
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    break;
                }
                let next = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
                let msg = match next {
                    Err(_) => {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        continue;
                    }
                    Ok(None) | Ok(Some(Err(_))) => {
                        closed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(Some(Ok(m))) => m,
                };
                let Message::Text(text) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                if v["event"] != "posted" {
                    continue;
                }
                let channel = v["channel_id"].as_str().unwrap_or("").to_string();
                let seq = v["seq"].as_i64().unwrap_or(0);
                let prev = last.insert(channel.clone(), seq);
                match prev {
                    Some(p) if seq == p => tally.duplicates += 1,
                    Some(p) if seq < p => {
                        tally.reordered += 1;
                        last.insert(channel, p);
                    }
                    _ => {}
                }
                tally.deliveries += 1;
                if let Some(sent) = v["data"]["post"]["message"]
                    .as_str()
                    .and_then(|m| m.strip_prefix("t="))
                    .and_then(|m| m.split(' ').next())
                    .and_then(|t| t.parse::<u64>().ok())
                    && let Some(h) = tally.latency.as_mut()
                {
                    let _ = h.record(now_us().saturating_sub(sent).max(1));
                }
            }
            let _ = ws.close(None).await;
            tallies.lock().await.insert(i, tally);
            anyhow::Ok(())
        }));
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while (connected.load(Ordering::Relaxed) as usize) < clients.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_connect: Vec<(f64, u64)> = pids.iter().filter_map(|p| proc_sample(*p)).collect();

    // Post, open loop: intended send times on a fixed schedule; latency is measured from them.
    let posted = Arc::new(AtomicU64::new(0));
    let post_errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    if !channels.is_empty() && args.rate > 0.0 {
        let interval = Duration::from_secs_f64(1.0 / args.rate);
        let total = (args.rate * args.duration as f64) as u64;
        let mut inflight = Vec::new();
        for n in 0..total {
            let intended = started + interval * n as u32;
            tokio::time::sleep_until(tokio::time::Instant::from_std(intended)).await;
            let (channel, members) = &channels[n as usize % channels.len()];
            let poster = &clients[members[n as usize % members.len()]];
            let base = targets[n as usize % targets.len()].clone();
            let (http, token, channel, ok, failed) =
                (http.clone(), poster.token.clone(), channel.clone(), posted.clone(), post_errors.clone());
            let stamp = now_us() - intended.elapsed().as_micros() as u64;
            inflight.push(tokio::spawn(async move {
                let r = http
                    .post(format!("{base}/api/v1/channels/{channel}/posts"))
                    .bearer_auth(token)
                    .json(&json!({"message": format!("t={stamp} load")}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 201 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }));
            if n % (args.rate.max(1.0) as u64) == 0 {
                eprintln!(
                    "[{:>5.1}s] posted {} errors {} sockets {} closed {}",
                    started.elapsed().as_secs_f64(),
                    posted.load(Ordering::Relaxed),
                    post_errors.load(Ordering::Relaxed),
                    connected.load(Ordering::Relaxed),
                    closed.load(Ordering::Relaxed)
                );
            }
        }
        for f in inflight {
            let _ = f.await;
        }
    } else {
        tokio::time::sleep(Duration::from_secs(args.duration)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let end: Vec<(f64, u64)> = pids.iter().filter_map(|p| proc_sample(*p)).collect();
    stop.store(true, Ordering::Relaxed);
    for s in sockets {
        if let Ok(Err(e)) = s.await {
            eprintln!("socket: {e:#}");
        }
    }

    // Tally.
    let tallies = tallies.lock().await;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut deliveries, mut dups, mut reordered) = (0u64, 0u64, 0u64);
    for t in tallies.values() {
        deliveries += t.deliveries;
        dups += t.duplicates;
        reordered += t.reordered;
        if let Some(h) = &t.latency {
            hist.add(h)?;
        }
    }
    let posted = posted.load(Ordering::Relaxed);
    let readers: u64 = channels
        .iter()
        .map(|(_, members)| {
            members.iter().filter(|m| !(slow_every > 0 && *m % slow_every == slow_every - 1)).count() as u64
        })
        .sum::<u64>();
    let expected: u64 = if channels.is_empty() { 0 } else { posted * readers / channels.len() as u64 };
    let lost = expected.saturating_sub(deliveries.saturating_sub(dups));
    let cpu = |a: &[(f64, u64)], b: &[(f64, u64)]| a.iter().zip(b).map(|(x, y)| y.0 - x.0).sum::<f64>();
    let rss_kib: u64 = after_connect.iter().map(|s| s.1).sum();
    let base_rss: u64 = before.iter().map(|s| s.1).sum();
    let result = json!({
        "scenario": args.scenario, "targets": targets, "connections": clients.len(), "connected": connected.load(Ordering::Relaxed),
        "closed_by_server": closed.load(Ordering::Relaxed), "rate": args.rate, "duration_s": args.duration,
        "posted": posted, "post_errors": post_errors.load(Ordering::Relaxed), "deliveries": deliveries, "expected_deliveries": expected,
        "lost": lost, "duplicated": dups, "reordered": reordered,
        "latency_ms": { "p50": hist.value_at_quantile(0.5) as f64 / 1000.0, "p99": hist.value_at_quantile(0.99) as f64 / 1000.0,
                        "p999": hist.value_at_quantile(0.999) as f64 / 1000.0, "max": hist.max() as f64 / 1000.0 },
        "server": { "rss_kib_before": base_rss, "rss_kib_connected": rss_kib,
                    "rss_kib_per_connection": if clients.is_empty() { 0.0 } else { rss_kib.saturating_sub(base_rss) as f64 / clients.len() as f64 },
                    "cpu_s_connecting": cpu(&before, &after_connect), "cpu_s_posting": cpu(&after_connect, &end),
                    "cpu_us_per_delivery": if deliveries == 0 { 0.0 } else { cpu(&after_connect, &end) * 1e6 / deliveries as f64 } },
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    if let Some(path) = &args.out {
        std::fs::write(path, serde_json::to_string_pretty(&result)?)?;
    }
    if let Some(path) = &args.markdown {
        let md = format!(
            "| scenario | connections | posts | deliveries | lost | dup | reordered | p50 ms | p99 ms | p99.9 ms | server KiB/conn | server µs CPU/delivery |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} |\n",
            args.scenario,
            clients.len(),
            posted,
            deliveries,
            lost,
            dups,
            reordered,
            result["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
            result["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
            result["latency_ms"]["p999"].as_f64().unwrap_or(0.0),
            result["server"]["rss_kib_per_connection"].as_f64().unwrap_or(0.0),
            result["server"]["cpu_us_per_delivery"].as_f64().unwrap_or(0.0),
        );
        std::fs::write(path, md)?;
    }
    if args.check && (lost > 0 || dups > 0 || reordered > 0 || post_errors.load(Ordering::Relaxed) > 0) {
        bail!(
            "lost {lost}, duplicated {dups}, reordered {reordered}, post errors {}",
            post_errors.load(Ordering::Relaxed)
        );
    }
    Ok(())
}
