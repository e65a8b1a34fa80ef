//! Server CPU seconds and RSS from `/proc/<pid>/stat` and `/proc/<pid>/status`.
//!
//! Nodes restart during some runs, so a source may be a pid file that is re-read at every sample, and
//! a process may vanish. CPU is accumulated per process incarnation by sampling twice a second: a
//! process's CPU up to its last sample before it died is kept, a new one counts from zero (it started
//! during the run).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::client::lock;

#[derive(Debug, Clone)]
pub enum Source {
    Pid(u32),
    File(PathBuf),
}

impl Source {
    pub fn parse_list(list: &str) -> Vec<Source> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u32>().map(Source::Pid).unwrap_or_else(|_| Source::File(PathBuf::from(s))))
            .collect()
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Source::Pid(p) => Some(*p),
            Source::File(path) => std::fs::read_to_string(path).ok()?.trim().parse().ok(),
        }
    }
}

/// CPU seconds (user + system) of a live process, and its start time (to tell a reused pid apart).
pub fn cpu_and_start(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15, starttime 22 (1-based, proc(5)).
    if fields.first() == Some(&"Z") {
        return None;
    }
    let ticks = 100.0; // USER_HZ on Linux
    let cpu = (fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / ticks;
    Some((cpu, fields.get(19)?.parse().ok()?))
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

#[derive(Debug, Default)]
struct Tracked {
    /// (pid, start time) of the incarnation being followed.
    current: Option<(u32, u64)>,
    /// CPU of the current incarnation when it was first seen.
    first_cpu: f64,
    last_cpu: f64,
    /// CPU of earlier incarnations, from their first to their last sample.
    finished: f64,
    incarnations: u32,
}

impl Tracked {
    fn total(&self) -> f64 {
        self.finished + (self.last_cpu - self.first_cpu)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// CPU seconds used by all sources since sampling started.
    pub cpu_s: f64,
    /// RSS of the live sources now.
    pub rss_kib: u64,
    pub alive: usize,
    /// The same per source, in `--pids` order.
    pub each: Vec<SourceSnapshot>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SourceSnapshot {
    pub cpu_s: f64,
    pub rss_kib: u64,
    pub alive: bool,
}

pub struct Sampler {
    sources: Vec<Source>,
    tracked: Mutex<Vec<Tracked>>,
}

impl Sampler {
    /// Starts sampling in the background.
    pub fn start(sources: Vec<Source>) -> Arc<Sampler> {
        let tracked = sources.iter().map(|_| Tracked::default()).collect();
        let sampler = Arc::new(Sampler { sources, tracked: Mutex::new(tracked) });
        sampler.sample(true);
        let s = sampler.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                s.sample(false);
            }
        });
        sampler
    }

    fn sample(&self, initial: bool) -> Snapshot {
        let mut tracked = lock(&self.tracked);
        let mut snap = Snapshot::default();
        for (source, t) in self.sources.iter().zip(tracked.iter_mut()) {
            let live = source.pid().and_then(|pid| Some((pid, cpu_and_start(pid)?)));
            let mut one = SourceSnapshot::default();
            if let Some((pid, (cpu, start))) = live {
                if t.current != Some((pid, start)) {
                    t.finished += t.last_cpu - t.first_cpu;
                    t.current = Some((pid, start));
                    // A process already running at the start counts from now; a new one from its start.
                    t.first_cpu = if initial { cpu } else { 0.0 };
                    t.incarnations += 1;
                }
                t.last_cpu = cpu;
                one.rss_kib = rss_kib(pid).unwrap_or(0);
                one.alive = true;
            }
            one.cpu_s = t.total();
            snap.cpu_s += one.cpu_s;
            snap.rss_kib += one.rss_kib;
            snap.alive += usize::from(one.alive);
            snap.each.push(one);
        }
        snap
    }

    /// A fresh sample now.
    pub fn snapshot(&self) -> Snapshot {
        self.sample(false)
    }

    /// Incarnations seen per source (restarts show up as more than one).
    pub fn names(&self) -> Vec<String> {
        self.sources
            .iter()
            .map(|s| match s {
                Source::Pid(p) => p.to_string(),
                Source::File(f) => f.display().to_string(),
            })
            .collect()
    }

    pub fn incarnations(&self) -> Vec<u32> {
        lock(&self.tracked).iter().map(|t| t.incarnations).collect()
    }
}

/// The whole machine's CPU from `/proc/stat`, in seconds since boot: busy (everything but idle and
/// iowait) and steal (taken by the hypervisor for other guests), and this process's own CPU.
#[derive(Debug, Clone, Copy, Default)]
pub struct Machine {
    pub busy_s: f64,
    pub steal_s: f64,
    pub own_s: f64,
}

pub fn machine() -> Machine {
    let ticks = 100.0; // USER_HZ on Linux
    let mut m = Machine { own_s: cpu_and_start(std::process::id()).map_or(0.0, |(cpu, _)| cpu), ..Machine::default() };
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return m };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else { return m };
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    if v.len() >= 8 {
        m.busy_s = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / ticks;
        m.steal_s = v[7] / ticks;
    }
    m
}

/// CPU seconds of every live process whose command (`/proc/<pid>/comm`) is one of `names`, by
/// (pid, start time): what the database and Redis spend beside the nodes (`--services`).
pub fn services_cpu(names: &[String]) -> std::collections::HashMap<(u32, u64), f64> {
    let mut out = std::collections::HashMap::new();
    if names.is_empty() {
        return out;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else { continue };
        if names.iter().any(|n| n == comm.trim())
            && let Some((cpu, start)) = cpu_and_start(pid)
        {
            out.insert((pid, start), cpu);
        }
    }
    out
}

/// CPU used between two [`services_cpu`] readings: a process seen in both counts its difference, one
/// that started in between all of its CPU (one that ended in between is missed: a few connections).
pub fn services_cpu_between(
    before: &std::collections::HashMap<(u32, u64), f64>,
    after: &std::collections::HashMap<(u32, u64), f64>,
) -> f64 {
    after.iter().map(|(k, cpu)| cpu - before.get(k).copied().unwrap_or(0.0)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_this_process_and_survives_a_missing_one() {
        let me = std::process::id();
        let dir = std::env::temp_dir().join(format!("procstat-test-{me}"));
        std::fs::write(&dir, format!("{me}\n")).unwrap();
        let sampler = Sampler::start(vec![Source::Pid(me), Source::File(dir.clone()), Source::Pid(u32::MAX - 1)]);
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let s = sampler.snapshot();
        assert_eq!(s.alive, 2);
        assert!(s.rss_kib > 0);
        assert!(s.cpu_s >= 0.0);
        assert_eq!(sampler.incarnations(), vec![1, 1, 0]);
        std::fs::remove_file(dir).unwrap();
        let s = sampler.snapshot();
        assert_eq!(s.alive, 1, "a pid file that vanished is a process that is gone");
    }

    #[test]
    fn service_cpu_counts_what_ran_between_two_readings() {
        let me = std::fs::read_to_string("/proc/self/comm").unwrap().trim().to_string();
        let before = services_cpu(std::slice::from_ref(&me));
        assert!(!before.is_empty(), "this process is one of them");
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = services_cpu(&[me]);
        assert!(services_cpu_between(&before, &after) > 0.0);
        assert!(services_cpu(&["no-such-process-name".into()]).is_empty());
    }

    #[test]
    fn parses_lists() {
        let l = Source::parse_list("12, /tmp/x.pid,,7");
        assert!(matches!(l[0], Source::Pid(12)));
        assert!(matches!(&l[1], Source::File(p) if p == std::path::Path::new("/tmp/x.pid")));
        assert_eq!(l.len(), 3);
    }
}
