//! Which process holds which sockets, and what each socket must check: the plan the parent hands to
//! each worker (in memory, or as a JSON file for a worker process).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::args::Args;
use crate::seed::Seeded;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelRef {
    /// Index into the seed's channels: how results name channels.
    pub index: u32,
    pub id: String,
    /// The channel's seq at the start of the run; the first connection resumes from it.
    pub base_seq: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientPlan {
    /// Index of the user in the seed.
    pub index: u32,
    pub token: String,
    pub channels: Vec<ChannelRef>,
    pub slow: bool,
    pub source: Ipv4Addr,
    pub first_target: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerPlan {
    pub worker: usize,
    pub targets: Vec<String>,
    pub clients: Vec<ClientPlan>,
    pub churn_percent: f64,
    /// New connections per second from this worker.
    pub connect_rate: f64,
    /// `--self-test-drop`: each client ignores its N-th event.
    #[serde(default)]
    pub drop_nth: Option<u64>,
}

/// Every `1/p`-th client by index is slow, so slow ones are spread evenly over channels and workers.
pub fn is_slow(index: usize, slow_percent: f64) -> bool {
    if slow_percent <= 0.0 {
        return false;
    }
    let every = 100.0 / slow_percent;
    // Client i is slow when a multiple of `every` falls in (i, i+1].
    ((index + 1) as f64 / every).floor() > (index as f64 / every).floor()
}

/// Splits the clients over `--processes` workers; client `i` sits on worker `i % processes`, binds
/// source address `127.0.0.(1 + i % source_addresses)` and starts on target `i % targets`.
pub fn build(seeded: &Seeded, args: &Args) -> Vec<WorkerPlan> {
    let targets = args.target_list();
    let seed = &seeded.seed;
    let mut memberships: Vec<Vec<ChannelRef>> = vec![Vec::new(); seed.users.len()];
    for (c, channel) in seed.channels.iter().enumerate() {
        for &m in &channel.members {
            memberships[m as usize].push(ChannelRef {
                index: c as u32,
                id: channel.id.clone(),
                base_seq: seeded.base_seqs[c],
            });
        }
    }
    let mut plans: Vec<WorkerPlan> = (0..args.processes)
        .map(|w| WorkerPlan {
            worker: w,
            targets: targets.clone(),
            clients: Vec::new(),
            churn_percent: args.churn_percent,
            connect_rate: args.connect_rate / args.processes as f64,
            drop_nth: args.self_test_drop,
        })
        .collect();
    for (i, (user, channels)) in seed.users.iter().zip(memberships).enumerate() {
        plans[i % args.processes].clients.push(ClientPlan {
            index: i as u32,
            token: user.access_token.clone(),
            channels,
            slow: is_slow(i, args.slow_percent),
            source: Ipv4Addr::new(127, 0, 0, 1 + (i % args.source_addresses as usize) as u8),
            first_target: i % targets.len(),
        });
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_share_matches_the_percentage() {
        let slow = (0..10_000).filter(|i| is_slow(*i, 1.0)).count();
        assert_eq!(slow, 100);
        assert_eq!((0..1000).filter(|i| is_slow(*i, 5.0)).count(), 50);
        assert_eq!((0..1000).filter(|i| is_slow(*i, 0.0)).count(), 0);
        assert_eq!((0..10).filter(|i| is_slow(*i, 100.0)).count(), 10);
    }
}
