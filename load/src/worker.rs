//! A worker holds a share of the sockets: it connects them at a steady pace, churns them once the load
//! starts, reports progress every second, waits on request until its readers have caught up, and at
//! the end hands back every tally and histogram. The same code runs inside the parent (one process)
//! or in a child process (`--worker PLAN`, commands as JSON lines on stdin, reports on stdout):
//! a process holds at most 20 000 file descriptors here.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::client::{Client, ClientState, Shared, Target, lock};
use crate::plan::WorkerPlan;
use crate::tally::{self, SeqTally};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Posting has started: begin churning.
    Start,
    /// Posting is over: stop churning and wait until every reader holds `targets[channel]`.
    Drain { targets: Vec<i64>, timeout_s: f64 },
    /// Close everything and send the final results.
    Stop,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Report {
    Progress(Progress),
    Drained { worker: usize, pending: u64 },
    Final(Box<WorkerResult>),
    Failed { worker: usize, error: String },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    pub worker: usize,
    pub clients: u64,
    pub open: i64,
    pub connected_once: u64,
    pub reconnects: u64,
    pub deliveries: u64,
    pub connect_errors: u64,
    /// Latencies recorded since the previous report (HDR V2, hex).
    pub interval_latency: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ClientResult {
    pub index: u32,
    pub slow: bool,
    pub connected_once: bool,
    /// Channel indexes, parallel to `tallies`.
    pub channels: Vec<u32>,
    pub tallies: Vec<SeqTally>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct WorkerResult {
    pub worker: usize,
    pub clients: Vec<ClientResult>,
    pub latency: String,
    pub reconnect_churn: String,
    pub reconnect_other: String,
    pub closes: BTreeMap<String, u64>,
    pub slow_outcomes: BTreeMap<String, u64>,
    pub counters: BTreeMap<String, u64>,
    /// This worker's own RSS with every socket open (KiB, at the drain): what the tool needs per socket.
    #[serde(default)]
    pub rss_kib: u64,
    /// This worker process's CPU seconds under load (start of posting → drain): the tool shares the
    /// cores it measures. In one process this includes posting.
    #[serde(default)]
    pub cpu_s: f64,
}

struct Handle {
    state: Arc<Mutex<ClientState>>,
    churn: Arc<Notify>,
    task: JoinHandle<()>,
}

async fn resolve(targets: &[String]) -> anyhow::Result<Vec<Target>> {
    let mut out = Vec::new();
    for t in targets {
        let url = reqwest::Url::parse(t).with_context(|| format!("target {t}"))?;
        let host = url.host_str().context("target without host")?;
        let port = url.port_or_known_default().context("target without port")?;
        let addr = tokio::net::lookup_host((host, port))
            .await?
            .find(|a| a.is_ipv4())
            .with_context(|| format!("no IPv4 address for {host}"))?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        out.push(Target { ws_url: format!("{scheme}://{host}:{port}/api/v1/ws?resume=true"), addr });
    }
    Ok(out)
}

/// Runs one worker until `Stop` (or until its command channel closes).
pub async fn run(
    plan: WorkerPlan,
    mut commands: mpsc::UnboundedReceiver<Command>,
    reports: mpsc::UnboundedSender<Report>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared::new(resolve(&plan.targets).await?, stop_rx));
    let started = tokio::time::Instant::now();
    let pace = Duration::from_secs_f64(1.0 / plan.connect_rate);
    let handles: Vec<Handle> = plan
        .clients
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let state = Arc::new(Mutex::new(ClientState::new(c)));
            let churn = Arc::new(Notify::new());
            let client = Client {
                plan: c.clone(),
                shared: shared.clone(),
                state: state.clone(),
                churn: churn.clone(),
                drop_nth: plan.drop_nth,
            };
            let at = started + pace * k as u32;
            let task = tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                client.run().await;
            });
            Handle { state, churn, task }
        })
        .collect();

    let progress =
        tokio::spawn(report_progress(plan.worker, plan.clients.len() as u64, shared.clone(), reports.clone()));
    let mut churner: Option<JoinHandle<()>> = None;
    let my_cpu = || crate::procstat::cpu_and_start(std::process::id()).map_or(0.0, |(cpu, _)| cpu);
    let mut own = (0, 0.0);
    let mut cpu_at_start = 0.0;
    loop {
        match commands.recv().await {
            Some(Command::Start) => {
                cpu_at_start = my_cpu();
                if plan.churn_percent > 0.0 && churner.is_none() {
                    let notifies: Vec<Arc<Notify>> = plan
                        .clients
                        .iter()
                        .zip(&handles)
                        .filter(|(c, _)| !c.slow)
                        .map(|(_, h)| h.churn.clone())
                        .collect();
                    churner = Some(tokio::spawn(churn(notifies, plan.churn_percent)));
                }
            }
            Some(Command::Drain { targets, timeout_s }) => {
                if let Some(c) = churner.take() {
                    c.abort();
                }
                own = (crate::procstat::rss_kib(std::process::id()).unwrap_or(0), my_cpu() - cpu_at_start);
                let pending = drain(&plan, &handles, &targets, Duration::from_secs_f64(timeout_s)).await;
                let _ = reports.send(Report::Drained { worker: plan.worker, pending });
            }
            Some(Command::Stop) | None => break,
        }
    }
    if let Some(c) = churner.take() {
        c.abort();
    }
    progress.abort();
    let _ = stop_tx.send(true);
    // Every client watches `stop`; a stalled one reads what is queued for at most a few seconds.
    let deadline = Instant::now() + Duration::from_secs(15);
    while handles.iter().any(|h| !h.task.is_finished()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for h in &handles {
        h.task.abort();
    }
    let result = collect(&plan, &handles, &shared, own);
    let _ = reports.send(Report::Final(Box::new(result)));
    Ok(())
}

async fn report_progress(worker: usize, clients: u64, shared: Arc<Shared>, reports: mpsc::UnboundedSender<Report>) {
    let mut previous = tally::histogram();
    loop {
        // Four times per progress line, so the line the parent prints is never much behind.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let current = lock(&shared.latency).clone();
        let mut interval = current.clone();
        if interval.subtract(&previous).is_err() {
            interval = tally::histogram();
        }
        previous = current;
        let p = Progress {
            worker,
            clients,
            open: shared.open.load(Ordering::Relaxed),
            connected_once: shared.connected_once.load(Ordering::Relaxed),
            reconnects: shared.reconnects.load(Ordering::Relaxed),
            deliveries: shared.deliveries.load(Ordering::Relaxed),
            connect_errors: shared.connect_errors.load(Ordering::Relaxed),
            interval_latency: tally::encode(&interval),
        };
        if reports.send(Report::Progress(p)).is_err() {
            return;
        }
    }
}

/// Each second, `percent`% of the connections (rotating through them) close and reconnect, spread
/// evenly over the second rather than in one burst.
async fn churn(notifies: Vec<Arc<Notify>>, percent: f64) {
    if notifies.is_empty() {
        return;
    }
    let per_second = notifies.len() as f64 * percent / 100.0;
    let mut owed = 0.0;
    let mut next = 0usize;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        owed += per_second;
        let n = owed.floor() as usize;
        owed -= n as f64;
        if n == 0 {
            continue;
        }
        let gap = Duration::from_secs_f64(1.0 / n as f64);
        for _ in 0..n {
            notifies[next % notifies.len()].notify_one();
            next += 1;
            tokio::time::sleep(gap).await;
        }
    }
}

/// Waits until every reader (slow consumers excluded) holds every channel up to its target; returns
/// how many still do not when the time is up.
async fn drain(plan: &WorkerPlan, handles: &[Handle], targets: &[i64], timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    loop {
        let pending = plan
            .clients
            .iter()
            .zip(handles)
            .filter(|(c, _)| !c.slow)
            .filter(|(c, h)| {
                let state = lock(&h.state);
                c.channels
                    .iter()
                    .zip(&state.tallies)
                    .any(|(r, t)| t.contiguous < targets.get(r.index as usize).copied().unwrap_or(0))
            })
            .count() as u64;
        if pending == 0 || Instant::now() >= deadline {
            return pending;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn collect(plan: &WorkerPlan, handles: &[Handle], shared: &Shared, (rss_kib, cpu_s): (u64, f64)) -> WorkerResult {
    let clients = plan
        .clients
        .iter()
        .zip(handles)
        .map(|(c, h)| {
            let state = lock(&h.state);
            ClientResult {
                index: c.index,
                slow: c.slow,
                connected_once: state.connected_once,
                channels: c.channels.iter().map(|r| r.index).collect(),
                tallies: state.tallies.clone(),
            }
        })
        .collect();
    let counters = [
        ("connect_errors", &shared.connect_errors),
        ("resume_errors", &shared.resume_errors),
        ("resume_unknown", &shared.resume_unknown),
        ("foreign_events", &shared.foreign_events),
        ("hello_mismatch", &shared.hello_mismatch),
        ("bad_frames", &shared.bad_frames),
        ("reconnects", &shared.reconnects),
        ("deliveries", &shared.deliveries),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.load(Ordering::Relaxed)))
    .collect();
    WorkerResult {
        worker: plan.worker,
        clients,
        latency: tally::encode(&lock(&shared.latency)),
        reconnect_churn: tally::encode(&lock(&shared.reconnect_churn)),
        reconnect_other: tally::encode(&lock(&shared.reconnect_other)),
        closes: lock(&shared.closes).clone(),
        slow_outcomes: lock(&shared.slow_outcomes).clone(),
        counters,
        rss_kib,
        cpu_s,
    }
}

/// The parent's end of a worker.
pub struct WorkerHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub task: JoinHandle<()>,
}

/// A worker inside this process.
pub fn spawn_local(plan: WorkerPlan, reports: mpsc::UnboundedSender<Report>) -> WorkerHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let worker = plan.worker;
    let task = tokio::spawn(async move {
        if let Err(e) = run(plan, rx, reports.clone()).await {
            let _ = reports.send(Report::Failed { worker, error: format!("{e:#}") });
        }
    });
    WorkerHandle { commands: tx, task }
}

/// A worker in a child process: this executable with `--worker PLAN`.
pub fn spawn_process(
    plan: &WorkerPlan,
    threads: Option<usize>,
    reports: mpsc::UnboundedSender<Report>,
) -> anyhow::Result<WorkerHandle> {
    let path = std::env::temp_dir().join(format!("rustchat-load-{}-w{}.json", std::process::id(), plan.worker));
    std::fs::write(&path, serde_json::to_vec(plan)?)?;
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    if let Some(n) = threads {
        command.arg("--threads").arg(n.to_string());
    }
    let mut child = command
        .arg("--worker")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting a worker process")?;
    let stdin = child.stdin.take().context("worker stdin")?;
    let stdout = child.stdout.take().context("worker stdout")?;
    let (tx, rx) = mpsc::unbounded_channel::<Command>();
    tokio::spawn(write_json_lines(rx, stdin));
    let worker = plan.worker;
    let task = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<Report>(&line) {
                Ok(r) => {
                    let _ = reports.send(r);
                }
                Err(e) => eprintln!("worker {worker}: unreadable report ({e}): {:.200}", line),
            }
        }
        let status = child.wait().await;
        if !matches!(&status, Ok(s) if s.success()) {
            let _ = reports.send(Report::Failed { worker, error: format!("worker process ended: {status:?}") });
        }
    });
    Ok(WorkerHandle { commands: tx, task })
}

/// Parent and worker talk in JSON lines: one message per line, flushed at once, until either side goes.
async fn write_json_lines<T: Serialize>(mut messages: mpsc::UnboundedReceiver<T>, mut out: impl AsyncWriteExt + Unpin) {
    while let Some(message) = messages.recv().await {
        let Ok(mut line) = serde_json::to_vec(&message) else { continue };
        line.push(b'\n');
        if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
            return;
        }
    }
}

/// `--worker PLAN`: the child side. The plan file holds tokens, so it is removed once read.
pub async fn main_process(path: &Path) -> anyhow::Result<()> {
    let plan: WorkerPlan = serde_json::from_slice(&std::fs::read(path)?)?;
    let _ = std::fs::remove_file(path);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (rep_tx, rep_rx) = mpsc::unbounded_channel::<Report>();
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<Command>(&line) {
                Ok(cmd) => {
                    if cmd_tx.send(cmd).is_err() {
                        return;
                    }
                }
                Err(e) => eprintln!("worker: unreadable command ({e}): {line}"),
            }
        }
        // The parent is gone: finish.
        let _ = cmd_tx.send(Command::Stop);
    });
    let writer = tokio::spawn(write_json_lines(rep_rx, tokio::io::stdout()));
    let worker = plan.worker;
    if let Err(e) = run(plan, cmd_rx, rep_tx.clone()).await {
        let _ = rep_tx.send(Report::Failed { worker, error: format!("{e:#}") });
    }
    drop(rep_tx);
    let _ = writer.await;
    Ok(())
}
