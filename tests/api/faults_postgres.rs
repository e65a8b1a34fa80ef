//! PostgreSQL faults, against real processes the test starts itself: a PostgreSQL server of its own
//! (`initdb` in a temporary folder, [`TempPostgres`]), two `rustchat` node processes on it sharing a
//! Redis key prefix, members' WebSockets on both nodes and posters writing all the while.
//!
//! - The server is stopped (fast shutdown) for a few seconds and started again: posts meanwhile get
//!   503 `database_unavailable` with `Retry-After` (never a 500, never a hang), nothing refused is
//!   written, readiness names `database`, the database breaker opens and closes, no node restarts,
//!   and every acknowledged post reaches every member once, in order.
//! - The server fails over to a promoted streaming replica on another port, and the nodes are moved
//!   to the new URL one at a time (a rolling restart): the same guarantees hold.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::common::cluster::node_vars;
use crate::common::postgres::TempPostgres;
use crate::common::process::free_port;
use crate::common::ws::Read;
use crate::common::{Api, NodeProcess, Ws, eventually, redis_available, redis_url};

/// A request that has not been answered by then is a hang: the outage must be answered, not waited out.
const HANG: Duration = Duration::from_secs(10);
const T: Duration = Duration::from_secs(30);
/// A refusal comes at once, well before the pool would give up (`RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS`,
/// 5 s): the node tells a database that is away from a slow one within a fraction of a second.
const PROMPT: Duration = Duration::from_secs(3);

/// Two (or more) node processes whose database URL each can be changed on restart.
struct Nodes {
    prefix: String,
    ports: Vec<u16>,
    dirs: Vec<tempfile::TempDir>,
    procs: Vec<Option<NodeProcess>>,
}

impl Nodes {
    /// One node per URL, the first migrating before the others start.
    async fn start(urls: &[String]) -> Nodes {
        let mut nodes = Nodes {
            prefix: format!("rcpg-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            ports: urls.iter().map(|_| free_port()).collect(),
            dirs: urls.iter().map(|_| tempfile::tempdir().unwrap()).collect(),
            procs: urls.iter().map(|_| None).collect(),
        };
        for (i, url) in urls.iter().enumerate() {
            nodes.launch(i, url);
            if i == 0 {
                nodes.wait_ready(0).await;
            }
        }
        for i in 1..urls.len() {
            nodes.wait_ready(i).await;
        }
        nodes
    }

    fn launch(&mut self, i: usize, database_url: &str) {
        let vars = node_vars(i, self.ports[i], database_url, &redis_url(), &self.prefix);
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.procs[i] = Some(NodeProcess::start(self.dirs[i].path(), &vars));
    }

    fn base(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    fn node(&self, i: usize) -> &NodeProcess {
        self.procs[i].as_ref().expect("node is running")
    }

    fn logs(&self, i: usize) -> String {
        self.procs[i].as_ref().map(|n| n.stdout_lines().join("\n")).unwrap_or_default()
    }

    async fn wait_ready(&self, i: usize) {
        let url = format!("{}/api/v1/health/ready", self.base(i));
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Ok(r) = reqwest::get(&url).await
                    && r.status() == 200
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(ready.is_ok(), "node {i} not ready within 60 s:\n{}", self.logs(i));
    }

    /// SIGTERM, wait for a clean exit, start again on `database_url`, wait until ready.
    async fn restart_on(&mut self, i: usize, database_url: &str) {
        let began = Instant::now();
        let mut node = self.procs[i].take().expect("node is running");
        node.signal(libc::SIGTERM);
        let (status, node) =
            tokio::task::spawn_blocking(move || (node.wait_exit(Duration::from_secs(30)), node)).await.unwrap();
        assert_eq!(status.and_then(|s| s.code()), Some(0), "node {i} exit:\n{}", node.stdout_lines().join("\n"));
        drop(node);
        let stopped = began.elapsed();
        self.launch(i, database_url);
        self.wait_ready(i).await;
        println!("node {i} stopped in {stopped:?}, ready again after {:?}", began.elapsed());
    }

    /// Panics unless node `i` is still the process it was (it has not exited).
    fn assert_running(&mut self, i: usize, pid: u32) {
        let node = self.procs[i].as_mut().expect("node is running");
        assert_eq!(node.pid(), pid);
        assert!(node.wait_exit(Duration::ZERO).is_none(), "node {i} exited:\n{}", node.stdout_lines().join("\n"));
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for node in self.procs.iter_mut() {
            drop(node.take());
        }
        let prefix = self.prefix.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(client) = redis::Client::open(redis_url())
                && let Ok(mut c) = client.get_connection()
            {
                let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query(&mut c).unwrap_or_default();
                if !keys.is_empty() {
                    let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut c);
                }
            }
        })
        .join();
    }
}

/// What one attempt to post got.
#[derive(Debug, Clone)]
enum Outcome {
    /// 201 (or a socket's `ok` reply): the post and its seq.
    Acked { seq: i64, text: String },
    /// Refused: the status, `Retry-After` and body (a socket reply carries its error in the body).
    Refused { text: String, status: u16, retry_after: Option<String>, body: Value, took: Duration },
    /// Anything else: a 5xx other than 503, a hang, a connection error, an unexpected body.
    Broken { text: String, what: String },
}

/// Posters' record, shared.
#[derive(Default)]
struct Ledger {
    outcomes: Mutex<Vec<Outcome>>,
}

impl Ledger {
    async fn acked(&self) -> Vec<(i64, String)> {
        let outcomes = self.outcomes.lock().await;
        outcomes
            .iter()
            .filter_map(|o| if let Outcome::Acked { seq, text } = o { Some((*seq, text.clone())) } else { None })
            .collect()
    }

    async fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.lock().await.iter().filter(|o| pred(o)).count()
    }
}

/// Posts through REST on `base` until `stop`, one at a time, recording every outcome. Skips while
/// `paused` (a node the balancer has taken out).
async fn rest_poster(
    api: Api,
    base: String,
    channel: String,
    tag: String,
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    ledger: Arc<Ledger>,
) {
    let http = reqwest::Client::builder().timeout(HANG).build().unwrap();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        if paused.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        n += 1;
        let text = format!("{tag}-{n}");
        let began = Instant::now();
        let sent = http
            .post(format!("{base}/api/v1/channels/{channel}/posts"))
            .bearer_auth(api.token.as_deref().unwrap())
            .json(&json!({ "message": text }))
            .send()
            .await;
        let outcome = match sent {
            Err(e) => Outcome::Broken { text, what: format!("no answer: {e}") },
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap_or("").to_string());
                let body: Value = match r.text().await {
                    Ok(t) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
                    Err(e) => Value::String(format!("unreadable body: {e}")),
                };
                match status {
                    201 => match body["seq"].as_i64() {
                        Some(seq) => Outcome::Acked { seq, text },
                        None => Outcome::Broken { text, what: format!("201 without a seq: {body}") },
                    },
                    _ => Outcome::Refused { text, status, retry_after, body, took: began.elapsed() },
                }
            }
        };
        let refused = matches!(outcome, Outcome::Refused { .. });
        ledger.outcomes.lock().await.push(outcome);
        // A client backs off a little after a refusal (not the full Retry-After: the test wants many).
        tokio::time::sleep(Duration::from_millis(if refused { 100 } else { 20 })).await;
    }
}

/// Posts through a WebSocket's `post` action on `base` until `stop`, reconnecting when the socket
/// closes; a reply that does not come within [`HANG`] is a hang.
async fn ws_poster(token: String, base: String, channel: String, stop: Arc<AtomicBool>, ledger: Arc<Ledger>) {
    let mut n = 0;
    'connect: while !stop.load(Ordering::SeqCst) {
        let Ok(mut ws) = Ws::try_connect(&base, Some(&token)).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        while !stop.load(Ordering::SeqCst) {
            n += 1;
            let text = format!("ws-{n}");
            let began = Instant::now();
            ws.send(json!({"action": "post", "id": n, "channel_id": channel, "message": text})).await;
            let deadline = tokio::time::Instant::now() + HANG;
            let outcome = loop {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                match ws.read(left).await {
                    Read::Event(e) if e["event"] == "reply" && e["id"] == n => {
                        break if e["status"] == "ok" {
                            match e["data"]["seq"].as_i64() {
                                Some(seq) => Outcome::Acked { seq, text },
                                None => Outcome::Broken { text, what: format!("ok reply without a seq: {e}") },
                            }
                        } else {
                            Outcome::Refused { text, status: 0, retry_after: None, body: e, took: began.elapsed() }
                        };
                    }
                    Read::Event(_) => continue,
                    Read::TimedOut => break Outcome::Broken { text, what: "no reply within 10 s".into() },
                    Read::Closed(c) => {
                        // The post's fate is unknown to this client; the database check below tells.
                        ledger
                            .outcomes
                            .lock()
                            .await
                            .push(Outcome::Broken { text, what: format!("socket closed: {c:?}") });
                        continue 'connect;
                    }
                }
            };
            let refused = matches!(outcome, Outcome::Refused { .. });
            ledger.outcomes.lock().await.push(outcome);
            tokio::time::sleep(Duration::from_millis(if refused { 100 } else { 20 })).await;
        }
    }
}

/// A member's socket on one node: reconnects to it and resumes after any close (from `since` on the
/// first connection, so nothing posted while it connects is missed), recording the seq and text of
/// every `posted` event of `channel`.
async fn member(
    base: String,
    token: String,
    channel: String,
    since: i64,
    stop: Arc<AtomicBool>,
    seen: Seen,
    connects: Arc<AtomicU64>,
) {
    let mut last = since;
    while !stop.load(Ordering::SeqCst) {
        let Ok(mut ws) = Ws::try_connect(&base, Some(&token)).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        match ws.read(Duration::from_secs(5)).await {
            Read::Event(e) if e["event"] == "hello" => {
                connects.fetch_add(1, Ordering::SeqCst);
            }
            _ => continue,
        }
        ws.send(json!({"action": "resume", "since": { channel.clone(): last }})).await;
        loop {
            match ws.read(Duration::from_millis(200)).await {
                Read::Event(e) if e["channel_id"] == channel.as_str() && e["seq"].as_i64().unwrap_or(0) > 0 => {
                    let seq = e["seq"].as_i64().unwrap();
                    if e["event"] == "posted" {
                        seen.lock().await.push((seq, e["data"]["post"]["message"].as_str().unwrap_or("").to_string()));
                    }
                    last = last.max(seq);
                }
                Read::Event(_) => {}
                Read::TimedOut => {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                }
                Read::Closed(_) => break,
            }
        }
    }
}

/// What a member's socket received of the channel's posts: (seq, text), in order of arrival.
type Seen = Arc<Mutex<Vec<(i64, String)>>>;

/// The members' sockets: one per node, each reconnecting to its own node.
struct Members {
    stop: Arc<AtomicBool>,
    /// Sockets opened (a `hello` read), over all members: one each when none was ever closed.
    connects: Arc<AtomicU64>,
    seen: Vec<Seen>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Members {
    fn start(bases: &[String], token: &str, channel: &str, since: i64) -> Members {
        let stop = Arc::new(AtomicBool::new(false));
        let connects = Arc::new(AtomicU64::new(0));
        let mut members =
            Members { stop: stop.clone(), connects: connects.clone(), seen: Vec::new(), tasks: Vec::new() };
        for base in bases {
            let seen = Arc::new(Mutex::new(Vec::new()));
            members.tasks.push(tokio::spawn(member(
                base.clone(),
                token.to_string(),
                channel.to_string(),
                since,
                stop.clone(),
                seen.clone(),
                connects.clone(),
            )));
            members.seen.push(seen);
        }
        members
    }

    /// Waits until every member has seen `last`, stops them, and asserts each saw exactly `acked`
    /// (seq and text), once each, in seq order.
    /// Returns how many sockets the members opened in all.
    async fn assert_saw_exactly(self, acked: &[(i64, String)]) -> u64 {
        let last = acked.iter().map(|(s, _)| *s).max().unwrap();
        for (i, seen) in self.seen.iter().enumerate() {
            eventually(T, &format!("member {i} to reach seq {last}"), || async {
                seen.lock().await.iter().any(|(s, _)| *s == last).then_some(())
            })
            .await;
        }
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.unwrap();
        }
        let mut want = acked.to_vec();
        want.sort();
        for (i, seen) in self.seen.iter().enumerate() {
            let seen = seen.lock().await.clone();
            let seqs: Vec<i64> = seen.iter().map(|(s, _)| *s).collect();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "member {i} got posts twice or out of order: {seqs:?}");
            assert_eq!(seen, want, "member {i} must get every acknowledged post, and nothing else");
        }
        self.connects.load(Ordering::SeqCst)
    }
}

/// The texts of every post in `channel`, read from the server itself with `psql`.
fn stored_texts(pg: &TempPostgres, channel: &str) -> Vec<String> {
    let out =
        pg.psql("rustchat", &format!("SELECT message FROM posts WHERE channel_id = '{channel}' ORDER BY created_at"));
    out.lines().map(str::to_string).collect()
}

/// The value of one counter sample on a node's metrics page, summed over samples whose labels hold
/// every `label` (`name="value"`).
async fn metric(base: &str, name: &str, labels: &[&str]) -> f64 {
    let text = reqwest::get(format!("{base}/api/v1/health/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn readiness(base: &str) -> (u16, Value) {
    let r = reqwest::Client::new().get(format!("{base}/api/v1/health/ready")).timeout(HANG).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Every outcome that is not a success is a clean refusal: 503, `Retry-After` in whole seconds, and
/// `{"error":{"code":"database_unavailable","message":…}}` and nothing else (a socket: the same code).
fn assert_refusals_are_clean(outcomes: &[Outcome]) {
    for o in outcomes {
        match o {
            Outcome::Acked { .. } => {}
            Outcome::Broken { text, what } => panic!("post {text}: {what}"),
            Outcome::Refused { text, took, .. } if *took > PROMPT => {
                panic!("post {text} was refused only after {took:?}: an outage is answered, not waited out")
            }
            Outcome::Refused { text, status: 0, body, .. } => {
                assert_eq!(body["error"]["code"], "database_unavailable", "socket post {text}: {body}");
            }
            Outcome::Refused { text, status, retry_after, body, .. } => {
                assert_eq!(*status, 503, "post {text}: {body}");
                let secs: u64 = retry_after
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("post {text}: 503 without a Retry-After in seconds ({retry_after:?})"));
                assert!((1..=30).contains(&secs), "post {text}: Retry-After {secs}");
                assert_eq!(body["error"]["code"], "database_unavailable", "post {text}: {body}");
                assert!(body["error"]["message"].is_string(), "post {text}: {body}");
                let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
                assert_eq!(keys, ["error"], "post {text}: {body}");
                assert_eq!(body["error"].as_object().unwrap().len(), 2, "post {text}: {body}");
            }
        }
    }
}

/// What the posters were told, against what the database holds: every acknowledged post is there
/// exactly once, and nothing that was refused.
fn assert_nothing_half_written(pg: &TempPostgres, channel: &str, outcomes: &[Outcome]) {
    let stored = stored_texts(pg, channel);
    let stored_set: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(stored.len(), stored_set.len(), "a post was stored twice");
    for o in outcomes {
        match o {
            Outcome::Acked { text, .. } => assert!(stored_set.contains(text), "acknowledged post {text} is not stored"),
            Outcome::Refused { text, body, .. } => {
                assert!(!stored_set.contains(text), "refused post {text} was written anyway ({body})")
            }
            Outcome::Broken { .. } => {}
        }
    }
    let acked = outcomes.iter().filter(|o| matches!(o, Outcome::Acked { .. })).count();
    assert_eq!(stored.len(), acked, "the stored posts are the acknowledged ones");
}

async fn last_seq(api: &Api, channel: &str) -> i64 {
    api.get(&format!("/api/v1/channels/{channel}")).await.expect(200)["last_seq"].as_i64().unwrap()
}

/// The test's people: the owner who posts and a member who reads, in one open channel.
async fn people(base: &str) -> (Api, Api, String) {
    let owner = Api::register(base, "owner").await;
    let mate = Api::register(base, "mate").await;
    let team = owner.create_team("acme", true).await;
    let channel = owner.create_channel(&team, "ops", "public").await;
    mate.post(&format!("/api/v1/teams/{team}/join"), json!({})).await.expect(200);
    mate.add_to_channel(&channel, &mate.user_id).await;
    (owner, mate, channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_is_answered_503_loses_nothing_and_heals_without_a_node_restart() {
    if !redis_available().await {
        return;
    }
    let Some(mut pg) = TempPostgres::start().await else { return };
    let mut nodes = Nodes::start(&[pg.url(), pg.url()]).await;
    let pids = [nodes.node(0).pid(), nodes.node(1).pid()];
    let bases = [nodes.base(0), nodes.base(1)];
    let (owner, mate, channel) = people(&bases[0]).await;
    let members = Members::start(&bases, mate.token.as_deref().unwrap(), &channel, last_seq(&owner, &channel).await);

    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Ledger::default());
    let never = Arc::new(AtomicBool::new(false));
    let mut posters = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        let args = (
            owner.clone(),
            base.clone(),
            channel.clone(),
            format!("rest{i}"),
            stop.clone(),
            never.clone(),
            ledger.clone(),
        );
        posters.push(tokio::spawn(rest_poster(args.0, args.1, args.2, args.3, args.4, args.5, args.6)));
    }
    posters.push(tokio::spawn(ws_poster(
        owner.token.clone().unwrap(),
        bases[1].clone(),
        channel.clone(),
        stop.clone(),
        ledger.clone(),
    )));
    eventually(T, "posts to be acknowledged before the outage", || async {
        (ledger.count(|o| matches!(o, Outcome::Acked { .. })).await >= 20).then_some(())
    })
    .await;

    // The outage: a fast shutdown ends every session; new connections are refused.
    pg.stop().await;
    let down_at = Instant::now();
    for base in &bases {
        let (status, body) = eventually(T, "readiness to name the database", || async {
            let (status, body) = readiness(base).await;
            (status == 503 && body["checks"]["database"]["status"] == "error").then_some((status, body))
        })
        .await;
        assert_eq!(status, 503);
        assert_eq!(body["status"], "not_ready", "{body}");
        eventually(T, "the database breaker to open", || async {
            (metric(base, "rustchat_circuit_breaker_state_changes_total", &[r#"breaker="database""#, r#"to="open""#])
                .await
                >= 1.0)
                .then_some(())
        })
        .await;
    }
    let refused_before = ledger.count(|o| matches!(o, Outcome::Refused { .. })).await;
    assert!(refused_before >= 5, "posts during the outage are refused, not held: {refused_before} refusals");
    // A few seconds down in all, with the posters still at it.
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(down_at.elapsed())).await;
    pg.start_again().await;

    for (i, base) in bases.iter().enumerate() {
        eventually(T, "readiness again", || async { (readiness(base).await.0 == 200).then_some(()) }).await;
        eventually(T, "the database breaker to close", || async {
            (metric(
                base,
                "rustchat_circuit_breaker_state_changes_total",
                &[r#"breaker="database""#, r#"from="half_open""#, r#"to="closed""#],
            )
            .await
                >= 1.0)
                .then_some(())
        })
        .await;
        let stats: Value = reqwest::get(format!("{base}/api/v1/health/stats")).await.unwrap().json().await.unwrap();
        assert_eq!(stats["circuit_breakers"]["database"]["state"], "closed", "node {i}: {stats}");
    }
    let acked_before = ledger.acked().await.len();
    eventually(T, "posts to be acknowledged after the outage", || async {
        (ledger.acked().await.len() >= acked_before + 20).then_some(())
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for p in posters {
        p.await.unwrap();
    }

    let outcomes = ledger.outcomes.lock().await.clone();
    let summary: BTreeMap<&str, usize> = outcomes.iter().fold(BTreeMap::new(), |mut m, o| {
        *m.entry(match o {
            Outcome::Acked { .. } => "acked",
            Outcome::Refused { .. } => "refused",
            Outcome::Broken { .. } => "broken",
        })
        .or_default() += 1;
        m
    });
    println!("postgres restart: {summary:?}, down for {:?}", down_at.elapsed());
    assert_refusals_are_clean(&outcomes);
    assert_nothing_half_written(&pg, &channel, &outcomes);
    let ws_refusals = outcomes.iter().filter(|o| matches!(o, Outcome::Refused { status: 0, .. })).count();
    assert!(ws_refusals >= 1, "the socket's posts during the outage are refused too");
    let connects = members.assert_saw_exactly(&ledger.acked().await).await;
    assert_eq!(connects, 2, "the members' sockets stay open through the outage");
    for (i, pid) in pids.into_iter().enumerate() {
        nodes.assert_running(i, pid);
        let restarts = metric(&bases[i], "rustchat_actor_restarts_total", &[]).await;
        assert_eq!(restarts, 0.0, "node {i} restarted supervisor children:\n{}", nodes.logs(i));
        assert!(!nodes.logs(i).contains("panicked"), "node {i} panicked:\n{}", nodes.logs(i));
        let messages: Vec<String> =
            nodes.node(i).json_lines().iter().filter_map(|l| l["message"].as_str().map(str::to_string)).collect();
        for said in [
            "database server is not taking connections",
            "circuit breaker database: closed -> open",
            "circuit breaker database: half_open -> closed",
            "database server takes connections again",
        ] {
            assert!(messages.iter().any(|m| m == said), "node {i} never logged {said:?}:\n{messages:#?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_to_a_promoted_replica_at_a_new_address_loses_nothing_across_a_rolling_restart() {
    if !redis_available().await {
        return;
    }
    let Some(mut primary) = TempPostgres::start().await else { return };
    let mut nodes = Nodes::start(&[primary.url(), primary.url()]).await;
    let bases = [nodes.base(0), nodes.base(1)];
    // The failover target: a streaming replica on a port (a URL) of its own.
    let replica = primary.replica().await;
    assert_ne!(primary.url(), replica.url());
    let (owner, mate, channel) = people(&bases[0]).await;
    let members = Members::start(&bases, mate.token.as_deref().unwrap(), &channel, last_seq(&owner, &channel).await);

    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Ledger::default());
    // A node being restarted is out of the balancer: its poster waits, as a balancer's clients would.
    let out = [Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false))];
    let mut posters = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        posters.push(tokio::spawn(rest_poster(
            owner.clone(),
            base.clone(),
            channel.clone(),
            format!("rest{i}"),
            stop.clone(),
            out[i].clone(),
            ledger.clone(),
        )));
    }
    let acked_at_least = |n: usize| {
        let ledger = ledger.clone();
        async move {
            eventually(T, &format!("{n} acknowledged posts"), || async {
                (ledger.count(|o| matches!(o, Outcome::Acked { .. })).await >= n).then_some(())
            })
            .await
        }
    };
    acked_at_least(20).await;

    // The failover: the old primary stops (a fast shutdown sends the replica all it committed), the
    // replica is promoted. Both nodes still point at the old address: their posts are refused.
    primary.stop().await;
    replica.promote().await;
    for base in &bases {
        eventually(T, "readiness to name the database", || async {
            let (status, body) = readiness(base).await;
            (status == 503 && body["checks"]["database"]["status"] == "error").then_some(())
        })
        .await;
    }

    // Node 0 moves to the new URL first, node 1 still on the old one: node 0 serves, node 1 refuses.
    out[0].store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    nodes.restart_on(0, &replica.url()).await;
    out[0].store(false, Ordering::SeqCst);
    let acked = ledger.count(|o| matches!(o, Outcome::Acked { .. })).await;
    acked_at_least(acked + 10).await;
    let (status, body) = readiness(&bases[1]).await;
    assert_eq!(
        (status, &body["checks"]["database"]["status"]),
        (503, &json!("error")),
        "node 1 is still on the old address: {body}"
    );

    // Then node 1.
    out[1].store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    nodes.restart_on(1, &replica.url()).await;
    out[1].store(false, Ordering::SeqCst);
    let acked = ledger.count(|o| matches!(o, Outcome::Acked { .. })).await;
    acked_at_least(acked + 10).await;
    stop.store(true, Ordering::SeqCst);
    for p in posters {
        p.await.unwrap();
    }

    let outcomes = ledger.outcomes.lock().await.clone();
    let acked_by_node: Vec<usize> = (0..2)
        .map(|i| {
            outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Acked { text, .. } if text.starts_with(&format!("rest{i}-"))))
                .count()
        })
        .collect();
    println!("failover: {} outcomes, acknowledged per node {acked_by_node:?}", outcomes.len());
    assert_refusals_are_clean(&outcomes);
    assert!(
        outcomes.iter().any(|o| matches!(o, Outcome::Refused { .. })),
        "posts while no node reached the new server are refused"
    );
    // The new server holds everything acknowledged, before the failover and after.
    assert_nothing_half_written(&replica, &channel, &outcomes);
    let connects = members.assert_saw_exactly(&ledger.acked().await).await;
    assert!(connects >= 4, "each member's node restarted once, and its socket came back: {connects}");
}
