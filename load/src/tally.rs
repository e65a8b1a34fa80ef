//! Per-receiver, per-channel delivery checks by `seq`, and the HDR histograms everything is timed in.
//!
//! The server promises each channel's persisted events exactly once, in `seq` order, gap-free, across
//! reconnects (the client resumes). A receiver starts from the channel's seq at the end of seeding
//! (its first connection resumes from there too), so every event after it must arrive, each once, in
//! order. Only a compact state is kept per receiver and channel: the highest seq up to which nothing
//! is missing, plus the few seqs that arrived beyond a hole; in a correct run that set stays empty.

use std::collections::BTreeSet;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde::{Deserialize, Serialize};

/// What one arriving seq was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next one: `previous + 1`.
    InOrder,
    /// New, but one or more seqs between the previous highest and this one have not arrived (yet).
    Gap,
    /// New, but lower than one that already arrived.
    Reordered,
    /// Already received (or at or below the starting point).
    Duplicate,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeqTally {
    /// The channel's seq when the receiver started following it.
    pub base: i64,
    /// Every seq in `base+1 ..= contiguous` has arrived.
    pub contiguous: i64,
    /// The highest seq that has arrived.
    pub max_seen: i64,
    /// Seqs above `contiguous + 1` that arrived past a hole.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub beyond: BTreeSet<i64>,
    /// Distinct seqs received.
    pub received: u64,
    pub duplicated: u64,
    pub reordered: u64,
    /// Seqs skipped over at the moment a higher one arrived (each would later be reordered or lost).
    pub gaps: u64,
}

impl SeqTally {
    pub fn new(base: i64) -> SeqTally {
        SeqTally { base, contiguous: base, max_seen: base, ..SeqTally::default() }
    }

    pub fn record(&mut self, seq: i64) -> Arrival {
        if self.has(seq) {
            self.duplicated += 1;
            return Arrival::Duplicate;
        }
        self.received += 1;
        let arrival = if seq < self.max_seen {
            self.reordered += 1;
            Arrival::Reordered
        } else if seq > self.max_seen + 1 {
            self.gaps += (seq - self.max_seen - 1) as u64;
            Arrival::Gap
        } else {
            Arrival::InOrder
        };
        self.max_seen = self.max_seen.max(seq);
        if seq == self.contiguous + 1 {
            self.contiguous = seq;
            while self.beyond.remove(&(self.contiguous + 1)) {
                self.contiguous += 1;
            }
        } else {
            self.beyond.insert(seq);
        }
        arrival
    }

    /// Whether `seq` counts as received: arrived, or at or below the starting point.
    pub fn has(&self, seq: i64) -> bool {
        seq <= self.contiguous || self.beyond.contains(&seq)
    }

    /// The position to resume from: the highest seq held, as a real client keeps it. A hole below it
    /// is then never filled, so it shows up as lost rather than being papered over by a re-send.
    pub fn resume_from(&self) -> i64 {
        self.max_seen
    }

    /// How many of the acknowledged seqs (sorted, ascending) this receiver lacks.
    pub fn missing(&self, acked: &[i64]) -> u64 {
        let start = acked.partition_point(|s| *s <= self.contiguous);
        acked[start..].iter().filter(|s| !self.beyond.contains(s)).count() as u64
    }

    /// Seqs below the highest received that never arrived.
    pub fn holes(&self) -> u64 {
        (self.max_seen - self.contiguous) as u64 - self.beyond.len() as u64
    }
}

/// Latencies and durations in microseconds, up to an hour, 3 significant digits.
#[allow(clippy::expect_used)] // constant bounds that `new_with_bounds` accepts
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// HDR V2 encoding, hex: how workers ship histograms to the parent inside JSON.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    if V2Serializer::new().serialize(h, &mut bytes).is_err() {
        return String::new();
    }
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

pub fn decode(hex: &str) -> anyhow::Result<Histogram<u64>> {
    if hex.is_empty() {
        return Ok(histogram());
    }
    anyhow::ensure!(hex.len().is_multiple_of(2), "odd-length histogram encoding");
    let bytes =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16)).collect::<Result<Vec<u8>, _>>()?;
    let h: Histogram<u64> = Deserializer::new().deserialize(&mut bytes.as_slice())?;
    let mut wide = histogram();
    wide.add(&h)?;
    Ok(wide)
}

/// p50/p95/p99/p99.9/max in milliseconds, and the count.
pub fn summary_ms(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |v: u64| v as f64 / 1000.0;
    serde_json::json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.5)),
        "p95": ms(h.value_at_quantile(0.95)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_is_clean_and_complete() {
        let mut t = SeqTally::new(10);
        for s in 11..=20 {
            assert_eq!(t.record(s), Arrival::InOrder);
        }
        assert_eq!((t.received, t.duplicated, t.reordered, t.gaps, t.holes()), (10, 0, 0, 0, 0));
        assert_eq!(t.missing(&(11..=20).collect::<Vec<_>>()), 0);
        assert!(t.beyond.is_empty());
        assert_eq!(t.resume_from(), 20);
    }

    #[test]
    fn a_gap_that_never_fills_is_a_loss() {
        let mut t = SeqTally::new(0);
        t.record(1);
        t.record(2);
        assert_eq!(t.record(4), Arrival::Gap);
        t.record(5);
        assert_eq!(t.gaps, 1);
        assert_eq!(t.holes(), 1);
        assert_eq!(t.missing(&[1, 2, 3, 4, 5]), 1, "seq 3 was acknowledged and never arrived");
        assert_eq!(t.missing(&[1, 2, 4, 5]), 0, "an unacknowledged seq is a hole, not a loss");
        // Resuming from the highest held seq leaves the hole in place.
        assert_eq!(t.resume_from(), 5);
    }

    #[test]
    fn a_missing_tail_is_a_loss() {
        let mut t = SeqTally::new(100);
        t.record(101);
        assert_eq!(t.missing(&[101, 102, 103]), 2);
        assert_eq!(t.holes(), 0, "nothing above the highest received is known to this receiver");
    }

    #[test]
    fn duplicates_are_counted_once_each_and_not_received_again() {
        let mut t = SeqTally::new(0);
        t.record(1);
        t.record(2);
        assert_eq!(t.record(2), Arrival::Duplicate);
        assert_eq!(t.record(1), Arrival::Duplicate);
        assert_eq!(t.record(0), Arrival::Duplicate, "at or below the starting point counts as held");
        t.record(4);
        assert_eq!(t.record(4), Arrival::Duplicate, "a duplicate beyond a hole is still a duplicate");
        assert_eq!((t.received, t.duplicated), (3, 4));
    }

    #[test]
    fn late_arrivals_are_reordered_and_fill_the_hole() {
        let mut t = SeqTally::new(0);
        t.record(1);
        assert_eq!(t.record(3), Arrival::Gap);
        assert_eq!(t.record(4), Arrival::InOrder, "next after the highest");
        assert_eq!(t.record(2), Arrival::Reordered);
        assert_eq!((t.reordered, t.gaps, t.holes()), (1, 1, 0));
        assert_eq!(t.contiguous, 4);
        assert!(t.beyond.is_empty());
        assert_eq!(t.missing(&[1, 2, 3, 4]), 0);
    }

    #[test]
    fn swapped_pair_is_one_reorder() {
        let mut t = SeqTally::new(0);
        t.record(2);
        t.record(1);
        t.record(3);
        assert_eq!((t.received, t.reordered, t.duplicated, t.holes()), (3, 1, 0, 0));
    }

    #[test]
    fn histograms_survive_the_hex_round_trip() {
        let mut h = histogram();
        for v in [1u64, 150, 2_000, 45_000, 3_000_000] {
            h.record(v).unwrap();
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back.len(), 5);
        assert_eq!(back.max(), h.max());
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
        assert_eq!(decode("").unwrap().len(), 0);
    }
}
