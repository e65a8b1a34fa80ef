//! The parent's run, phase by phase: seed, start workers and wait for every socket's `hello`, post on
//! schedule (while workers churn and a restart script may run), drain until every reader holds every
//! acknowledged post, stop, merge the workers' tallies and histograms, and judge.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::args::Args;
use crate::client::lock;
use crate::poster::{Poster, Schedule};
use crate::procstat::{self, Sampler, Snapshot, Source};
use crate::report;
use crate::seed::{self, Seeded};
use crate::tally::{self, histogram};
use crate::worker::{self, Command, Progress, Report, WorkerHandle, WorkerResult};
use crate::{merge, plan};

/// The workers, and what they last said.
struct Fleet {
    handles: Vec<WorkerHandle>,
    reports: mpsc::UnboundedReceiver<Report>,
    clients: u64,
    progress: BTreeMap<usize, Progress>,
    /// Latencies reported since the last progress line.
    interval: Histogram<u64>,
    drained: BTreeMap<usize, u64>,
    finals: Vec<WorkerResult>,
    failures: Vec<String>,
}

impl Fleet {
    fn broadcast(&self, make: impl Fn() -> Command) {
        for h in &self.handles {
            let _ = h.commands.send(make());
        }
    }

    fn take(&mut self, report: Report) {
        match report {
            Report::Progress(p) => {
                if let Ok(h) = tally::decode(&p.interval_latency) {
                    let _ = self.interval.add(&h);
                }
                self.progress.insert(p.worker, p);
            }
            Report::Drained { worker, pending } => {
                self.drained.insert(worker, pending);
            }
            Report::Final(r) => self.finals.push(*r),
            Report::Failed { worker, error } => {
                eprintln!("worker {worker} failed: {error}");
                self.failures.push(format!("worker {worker}: {error}"));
            }
        }
    }

    fn sum(&self, f: impl Fn(&Progress) -> u64) -> u64 {
        self.progress.values().map(f).sum()
    }
}

/// Prints one progress line a second.
struct Ticker {
    started: Instant,
    phase: &'static str,
    last_deliveries: u64,
}

impl Ticker {
    fn line(&mut self, fleet: &mut Fleet, poster: Option<&Poster>) {
        let deliveries = fleet.sum(|p| p.deliveries);
        let mut line = format!("[{:>6.1}s {:<7}]", self.started.elapsed().as_secs_f64(), self.phase);
        if let Some(p) = poster {
            let s = &p.stats;
            let ld = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
            line.push_str(&format!(
                " posted {} acked {} failed attempts {} given up {} |",
                ld(&s.scheduled),
                ld(&s.acked),
                ld(&s.attempt_failures),
                ld(&s.failed)
            ));
        }
        let open: i64 = fleet.progress.values().map(|p| p.open).sum();
        line.push_str(&format!(
            " sockets {open}/{} (ever {}) reconnects {} connect errors {} | deliveries {deliveries} (+{}/s)",
            fleet.clients,
            fleet.sum(|p| p.connected_once),
            fleet.sum(|p| p.reconnects),
            fleet.sum(|p| p.connect_errors),
            deliveries.saturating_sub(self.last_deliveries),
        ));
        if !fleet.interval.is_empty() {
            line.push_str(&format!(
                " | p50 {:.1} ms p99 {:.1} ms",
                fleet.interval.value_at_quantile(0.5) as f64 / 1000.0,
                fleet.interval.value_at_quantile(0.99) as f64 / 1000.0
            ));
        }
        fleet.interval.reset();
        self.last_deliveries = deliveries;
        eprintln!("{line}");
    }
}

/// Runs `work` while taking worker reports and printing progress; gives up on it after `limit`.
async fn alongside<T>(
    fleet: &mut Fleet,
    ticker: &mut Ticker,
    poster: Option<&Poster>,
    limit: Duration,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::pin!(work);
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            out = &mut work => return Some(out),
            _ = &mut deadline => return None,
            Some(r) = fleet.reports.recv() => fleet.take(r),
            _ = tick.tick() => ticker.line(fleet, poster),
        }
    }
}

/// Takes reports until `done` holds or `limit` passes; `true` when `done` held.
async fn until(
    fleet: &mut Fleet,
    ticker: &mut Ticker,
    poster: Option<&Poster>,
    limit: Duration,
    done: impl Fn(&Fleet) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while !done(fleet) {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return done(fleet),
            r = fleet.reports.recv() => match r {
                Some(r) => fleet.take(r),
                None => return done(fleet),
            },
            _ = tick.tick() => ticker.line(fleet, poster),
        }
    }
    true
}

fn server_json(
    sampler: &Sampler,
    [before, connected, load_start, end]: [&Snapshot; 4],
    args: &Args,
    deliveries: u64,
) -> Value {
    let load_cpu = end.cpu_s - load_start.cpu_s;
    let at = |s: &Snapshot, i: usize| s.each.get(i).copied().unwrap_or_default();
    let each: Vec<Value> = sampler
        .names()
        .into_iter()
        .zip(sampler.incarnations())
        .enumerate()
        .map(|(i, (name, incarnations))| {
            json!({
                "source": name,
                "incarnations": incarnations,
                "rss_kib_before": at(before, i).rss_kib,
                "rss_kib_connected": at(connected, i).rss_kib,
                "rss_kib_end": at(end, i).rss_kib,
                "cpu_s_connecting": at(connected, i).cpu_s - at(before, i).cpu_s,
                "cpu_s_load": at(end, i).cpu_s - at(load_start, i).cpu_s,
            })
        })
        .collect();
    json!({
        "rss_kib_before": before.rss_kib,
        "rss_kib_connected": connected.rss_kib,
        "rss_kib_end": end.rss_kib,
        "rss_kib_per_connection": connected.rss_kib.saturating_sub(before.rss_kib) as f64 / args.connections as f64,
        "cpu_s_connecting": connected.cpu_s - before.cpu_s,
        "cpu_s_load": load_cpu,
        "cpu_cores_under_load": load_cpu / args.duration.max(1) as f64,
        "cpu_us_per_delivery": if deliveries == 0 { 0.0 } else { load_cpu * 1e6 / deliveries as f64 },
        "alive_at_end": end.alive,
        "incarnations": sampler.incarnations(),
        "processes": each,
    })
}

/// `--restart-script`, `at` seconds from now (the start of the load); what happened, for the result.
async fn run_script(script: String, at: f64, now_s: f64) -> Value {
    tokio::time::sleep(Duration::from_secs_f64(at)).await;
    eprintln!("[restart] running: {script}");
    let t = Instant::now();
    let status = tokio::process::Command::new("sh").arg("-c").arg(&script).status().await;
    let seconds = t.elapsed().as_secs_f64();
    eprintln!("[restart] finished in {seconds:.1} s: {status:?}");
    let error = match &status {
        Ok(s) if s.success() => None,
        Ok(s) => Some(format!("{s}")),
        Err(e) => Some(e.to_string()),
    };
    let code = status.ok().and_then(|s| s.code());
    json!({"script": script, "started_at_s": now_s + at, "seconds": seconds, "exit_code": code, "error": error})
}

pub async fn run(args: Args) -> anyhow::Result<bool> {
    args.validate()?;
    let started = Instant::now();
    let targets = args.target_list();
    let sampler = Sampler::start(Source::parse_list(&args.pids));
    // Posts set their own (shorter) timeout; this one only keeps seeding from hanging on a dead node.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(120))
        .build()?;

    let seeded: Seeded = seed::prepare(&http, &args, &targets).await?;
    eprintln!(
        "[seed] {} users, {} channels in {:.1} s ({})",
        seeded.seed.users.len(),
        seeded.seed.channels.len(),
        seeded.seconds,
        if seeded.from_cache { "cache" } else { "registered" }
    );
    let plans = plan::build(&seeded, &args);
    let slow_clients = plans.iter().flat_map(|p| &p.clients).filter(|c| c.slow).count();

    let before = sampler.snapshot();
    let (report_tx, report_rx) = mpsc::unbounded_channel();
    let mut handles = Vec::new();
    for p in plans {
        handles.push(if args.processes == 1 {
            worker::spawn_local(p, report_tx.clone())
        } else {
            worker::spawn_process(&p, args.threads, report_tx.clone())?
        });
    }
    drop(report_tx);
    let mut fleet = Fleet {
        handles,
        reports: report_rx,
        clients: args.connections as u64,
        progress: BTreeMap::new(),
        interval: histogram(),
        drained: BTreeMap::new(),
        finals: Vec::new(),
        failures: Vec::new(),
    };
    let mut ticker = Ticker { started, phase: "connect", last_deliveries: 0 };

    // Connect: every socket's first hello.
    let connect_started = Instant::now();
    let all = args.connections as u64;
    let connected_all = until(&mut fleet, &mut ticker, None, Duration::from_secs(args.connect_timeout), |f| {
        f.sum(|p| p.connected_once) >= all || !f.failures.is_empty()
    })
    .await;
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    if !connected_all {
        eprintln!("not every socket connected within {} s; continuing", args.connect_timeout);
    }
    anyhow::ensure!(fleet.failures.is_empty(), "workers failed: {:?}", fleet.failures);
    // Let the server settle before reading its RSS.
    until(&mut fleet, &mut ticker, None, Duration::from_secs(1), |_| false).await;
    let connected = sampler.snapshot();

    // Load: posts on schedule, churn, maybe a restart script.
    ticker.phase = if args.posts() { "post" } else { "hold" };
    let load_start = sampler.snapshot();
    let services = args.service_names();
    let services_start = procstat::services_cpu(&services);
    let machine_start = (procstat::machine(), Instant::now());
    fleet.broadcast(|| Command::Start);
    let poster = Poster::new(http.clone(), targets.clone(), seeded.seed.channels.len());
    let schedule = Schedule::new(&seeded.seed, args.layout()?, args.personal_fraction);
    let restart = args
        .restart_script
        .clone()
        .map(|script| tokio::spawn(run_script(script, args.restart_at, started.elapsed().as_secs_f64())));
    let posting = args.posts();
    let load_limit = Duration::from_secs(args.duration + 600);
    if posting {
        alongside(&mut fleet, &mut ticker, Some(&poster), load_limit, poster.run(&args, &seeded.seed, &schedule)).await;
    } else {
        alongside(&mut fleet, &mut ticker, None, load_limit, tokio::time::sleep(Duration::from_secs(args.duration)))
            .await;
    }
    let restart = match restart {
        Some(task) => {
            ticker.phase = "restart";
            let poster_ref = posting.then_some(&poster);
            match alongside(&mut fleet, &mut ticker, poster_ref, Duration::from_secs(600), task).await {
                Some(Ok(v)) => v,
                Some(Err(e)) => json!({"error": format!("restart task: {e}")}),
                None => json!({"error": "restart script still running after 600 s"}),
            }
        }
        None => Value::Null,
    };

    // Drain: every reader must hold every acknowledged post.
    ticker.phase = "drain";
    let acked = lock(&poster.acked).clone();
    let drain_targets: Vec<i64> = acked
        .iter()
        .zip(&seeded.base_seqs)
        .map(|(seqs, base)| seqs.last().copied().unwrap_or(*base).max(*base))
        .collect();
    let workers = fleet.handles.len();
    let timeout_s = args.drain_timeout as f64;
    fleet.broadcast(|| Command::Drain { targets: drain_targets.clone(), timeout_s });
    until(&mut fleet, &mut ticker, posting.then_some(&poster), Duration::from_secs(args.drain_timeout + 30), |f| {
        f.drained.len() >= workers || !f.failures.is_empty()
    })
    .await;
    let end = sampler.snapshot();
    let services_cpu = procstat::services_cpu_between(&services_start, &procstat::services_cpu(&services));
    let machine_end = (procstat::machine(), Instant::now());
    let drain_pending: u64 = fleet.drained.values().sum();

    ticker.phase = "stop";
    fleet.broadcast(|| Command::Stop);
    until(&mut fleet, &mut ticker, None, Duration::from_secs(60), |f| {
        f.finals.len() >= workers || !f.failures.is_empty()
    })
    .await;
    for h in &fleet.handles {
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while !h.task.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    // Reports that arrived with the last task.
    while let Ok(r) = fleet.reports.try_recv() {
        fleet.take(r);
    }
    anyhow::ensure!(
        fleet.finals.len() == workers,
        "only {} of {workers} workers reported: {:?}",
        fleet.finals.len(),
        fleet.failures
    );

    let mut result = merge::merge(&args, &seeded, &fleet.finals, &acked)?;
    result["scenario"] = json!(args.scenario);
    result["targets"] = json!(targets);
    result["connections"] = json!(args.connections);
    result["processes"] = json!(args.processes);
    result["source_addresses"] = json!(args.source_addresses);
    result["group"] = json!(args.group);
    result["rate"] = json!(if posting { args.rate } else { 0.0 });
    result["duration_s"] = json!(args.duration);
    result["churn_percent"] = json!(args.churn_percent);
    result["slow_percent"] = json!(args.slow_percent);
    result["seeding"] = json!({"seconds": seeded.seconds, "from_cache": seeded.from_cache, "registered": seeded.registered, "users": seeded.seed.users.len(), "channels": seeded.seed.channels.len()});
    result["connect_seconds"] = json!(connect_seconds);
    result["all_connected_in_time"] = json!(connected_all);
    result["drain_pending"] = json!(drain_pending);
    result["slow"]["clients"] = json!(slow_clients);
    let s = &poster.stats;
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    result["posts"] = json!({
        "scheduled": ld(&s.scheduled), "attempts": ld(&s.attempts), "attempt_failures": ld(&s.attempt_failures),
        "acked": ld(&s.acked), "failed": ld(&s.failed), "retried": ld(&s.retried),
        "failures_by_cause": *lock(&s.failures),
        "ack_latency_ms": tally::summary_ms(&lock(&poster.ack_latency)),
    });
    // Names the first version of this tool used; docs/benchmarks.md and scripts read them.
    result["posted"] = json!(ld(&s.acked));
    result["post_errors"] = json!(ld(&s.failed));
    let all_deliveries =
        result["deliveries"].as_u64().unwrap_or(0) + result["slow"]["deliveries"].as_u64().unwrap_or(0);
    result["server"] = server_json(&sampler, [&before, &connected, &load_start, &end], &args, all_deliveries);
    // What else ran while the load did: a run beside a build or another guest's steal says so here.
    let ((machine_start, started_at), (machine_end, ended_at)) = (machine_start, machine_end);
    let window = ended_at.duration_since(started_at).as_secs_f64().max(0.001);
    let busy = machine_end.busy_s - machine_start.busy_s;
    let tool = machine_end.own_s - machine_start.own_s;
    let nodes = end.cpu_s - load_start.cpu_s;
    result["machine"] = json!({
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "window_s": window,
        "busy_cores": busy / window,
        "steal_cores": (machine_end.steal_s - machine_start.steal_s) / window,
        "nodes_cores": nodes / window,
        "services_cores": services_cpu / window,
        "tool_cores": tool / window,
        "others_cores": (busy - nodes - services_cpu - tool).max(0.0) / window,
    });
    if !services.is_empty() {
        let with = result["server"]["cpu_s_load"].as_f64().unwrap_or(0.0) + services_cpu;
        result["services"] = json!({
            "names": services,
            "cpu_s_load": services_cpu,
            "cpu_us_per_delivery_with_services": if all_deliveries == 0 { 0.0 } else { with * 1e6 / all_deliveries as f64 },
        });
    }
    if !posting {
        result["server"]["cpu_cores_idle"] = result["server"]["cpu_cores_under_load"].clone();
    }
    result["restart"] = restart;
    let failures = report::failures(&result);
    let passed = failures.is_empty();
    result["checks"] = json!({"passed": passed, "failures": failures});
    report::write(&args, &result)?;
    if !passed {
        eprintln!("CHECK FAILED: {}", failures.join("; "));
    }
    Ok(passed || !args.check)
}
