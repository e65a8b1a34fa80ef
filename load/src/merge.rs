//! The workers' results into one: per reader, every acknowledged seq must have arrived; everything
//! else is summed (counters) or merged (histograms).

use std::collections::BTreeMap;

use anyhow::Context;
use serde_json::{Value, json};

use crate::args::Args;
use crate::seed::Seeded;
use crate::tally::{self, histogram};
use crate::worker::WorkerResult;

/// Every worker's results into one: loss by acknowledged seq per reader, and the sums.
pub fn merge(args: &Args, seeded: &Seeded, finals: &[WorkerResult], acked: &[Vec<i64>]) -> anyhow::Result<Value> {
    // Everything committed per channel that anyone knows of: acknowledged, or received by someone.
    let mut top: Vec<i64> =
        acked.iter().zip(&seeded.base_seqs).map(|(a, b)| a.last().copied().unwrap_or(*b).max(*b)).collect();
    for c in finals.iter().flat_map(|w| &w.clients) {
        for (ch, t) in c.channels.iter().zip(&c.tallies) {
            let top = top.get_mut(*ch as usize).context("a worker reported a channel that was not seeded")?;
            *top = (*top).max(t.max_seen);
        }
    }
    let (mut lost, mut dup, mut reordered, mut gaps, mut holes) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut deliveries, mut expected, mut slow_deliveries, mut never) = (0u64, 0u64, 0u64, 0u64);
    let mut lost_readers = 0u64;
    for c in finals.iter().flat_map(|w| &w.clients) {
        if !c.connected_once {
            never += 1;
        }
        let mut lost_here = 0;
        for (ch, t) in c.channels.iter().zip(&c.tallies) {
            let ch = *ch as usize;
            dup += t.duplicated;
            reordered += t.reordered;
            gaps += t.gaps;
            holes += t.holes();
            if c.slow {
                slow_deliveries += t.received;
            } else if c.connected_once {
                deliveries += t.received;
                expected += (top[ch] - t.base).max(0) as u64;
                lost_here += t.missing(&acked[ch]);
            }
        }
        lost += lost_here;
        lost_readers += u64::from(lost_here > 0);
    }
    let mut latency = histogram();
    let (mut churn, mut other) = (histogram(), histogram());
    let mut closes: BTreeMap<String, u64> = BTreeMap::new();
    let mut slow_outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut counters: BTreeMap<String, u64> = BTreeMap::new();
    for w in finals {
        latency.add(tally::decode(&w.latency)?)?;
        churn.add(tally::decode(&w.reconnect_churn)?)?;
        other.add(tally::decode(&w.reconnect_other)?)?;
        for (k, v) in &w.closes {
            *closes.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &w.slow_outcomes {
            *slow_outcomes.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &w.counters {
            *counters.entry(k.clone()).or_default() += v;
        }
    }
    // In one process the workers share the parent's RSS: count it once.
    let (tool_rss, tool_cpu): (u64, f64) = if args.processes == 1 {
        finals.first().map_or((0, 0.0), |w| (w.rss_kib, w.cpu_s))
    } else {
        (finals.iter().map(|w| w.rss_kib).sum(), finals.iter().map(|w| w.cpu_s).sum())
    };
    let slow_4008 = slow_outcomes.get("closed 4008").copied().unwrap_or(0);
    let mut all = churn.clone();
    all.add(&other)?;
    Ok(json!({
        "connected": args.connections as u64 - never,
        "never_connected": never,
        "deliveries": deliveries,
        "expected_deliveries": expected,
        "lost": lost,
        "readers_with_loss": lost_readers,
        "duplicated": dup,
        "reordered": reordered,
        "gaps": gaps,
        "holes": holes,
        "latency_ms": tally::summary_ms(&latency),
        "reconnects": {
            "count": all.len(),
            "all": tally::summary_ms(&all),
            "churn": tally::summary_ms(&churn),
            "unplanned": tally::summary_ms(&other),
            "closes": closes,
            "connect_errors": counters.get("connect_errors").copied().unwrap_or(0),
        },
        "slow": {
            "deliveries": slow_deliveries,
            "outcomes": slow_outcomes,
            "closed_4008": slow_4008,
            // Readers the server closed as slow consumers (they reconnect): should stay 0.
            "readers_closed_4008": closes.get("4008").copied().unwrap_or(0).saturating_sub(slow_4008),
        },
        "load_tool": {
            "rss_kib": tool_rss,
            "rss_kib_per_connection": tool_rss as f64 / args.connections as f64,
            // Of the process(es) holding the sockets, from the start of the load to the drain.
            "cpu_s_load": tool_cpu,
        },
        "protocol": {
            "resume_errors": counters.get("resume_errors").copied().unwrap_or(0),
            "resume_unknown_channels": counters.get("resume_unknown").copied().unwrap_or(0),
            "events_from_other_channels": counters.get("foreign_events").copied().unwrap_or(0),
            "hello_channel_count_mismatch": counters.get("hello_mismatch").copied().unwrap_or(0),
            "unparsable_frames": counters.get("bad_frames").copied().unwrap_or(0),
        },
    }))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::seed::{Seed, SeedChannel};
    use crate::tally::SeqTally;
    use crate::worker::ClientResult;

    fn reader(index: u32, slow: bool, connected: bool, tallies: Vec<SeqTally>) -> ClientResult {
        ClientResult { index, slow, connected_once: connected, channels: vec![0, 1], tallies }
    }

    fn received(base: i64, seqs: &[i64]) -> SeqTally {
        let mut t = SeqTally::new(base);
        for s in seqs {
            t.record(*s);
        }
        t
    }

    #[test]
    fn loss_is_counted_per_reader_against_acknowledged_seqs() {
        let channel = |id: &str| SeedChannel { id: id.into(), members: vec![0, 1, 2, 3], personal: false };
        let seeded = Seeded {
            seed: Seed {
                layout: String::new(),
                team: String::new(),
                users: Vec::new(),
                channels: vec![channel("a"), channel("b")],
                issued_at: 0,
            },
            base_seqs: vec![5, 0],
            seconds: 0.0,
            registered: 0,
            from_cache: false,
        };
        // Channel a: seqs 6..=9 committed, 9 never acknowledged (its 201 was lost); channel b: 1, 2.
        let acked = vec![vec![6, 7, 8], vec![1, 2]];
        let worker = WorkerResult {
            clients: vec![
                reader(0, false, true, vec![received(5, &[6, 7, 8, 9]), received(0, &[1, 2])]),
                // Missed 7 (acknowledged) and has nothing of b: three lost.
                reader(1, false, true, vec![received(5, &[6, 8, 9]), received(0, &[])]),
                // A slow consumer's gaps are not losses.
                reader(2, true, true, vec![received(5, &[6]), received(0, &[])]),
                reader(3, false, false, vec![received(5, &[]), received(0, &[])]),
            ],
            ..WorkerResult::default()
        };
        let args = Args::parse_from(["rustchat-load", "--connections", "4"]);
        let v = merge(&args, &seeded, &[worker], &acked).unwrap();
        assert_eq!(v["lost"], 3);
        assert_eq!(v["readers_with_loss"], 1);
        assert_eq!(v["never_connected"], 1);
        assert_eq!(v["holes"], 1, "reader 1's seq 7");
        // Two connected readers, each owed 4 events of a (up to the unacknowledged 9) and 2 of b.
        assert_eq!(v["expected_deliveries"], 12);
        assert_eq!(v["deliveries"], 6 + 3);
        assert_eq!(v["slow"]["deliveries"], 1);
    }
}
