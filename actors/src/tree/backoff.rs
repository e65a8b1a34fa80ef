//! How long a crashed child waits before it is started again: 100 ms, doubling up to 30 s, back to
//! 100 ms once the child has run for a stable period. A child that crashes at once keeps backing off
//! (so a crash loop costs little); one that crashes after running well for a while comes back fast.

use std::time::Duration;

/// The first wait, and the one after a stable run.
pub const INITIAL_DELAY: Duration = Duration::from_millis(100);
/// The longest wait.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// A child that ran this long before crashing is considered healthy again.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: INITIAL_DELAY }
    }
}

impl Backoff {
    /// The wait before the next start of a child that ran for `ran_for` and then crashed.
    pub fn after(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= STABLE_AFTER {
            self.next = INITIAL_DELAY;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_crashes_double_the_wait_up_to_the_cap() {
        let mut b = Backoff::default();
        let waits: Vec<u128> = (0..12).map(|_| b.after(Duration::ZERO).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
    }

    #[test]
    fn a_stable_run_resets_the_wait() {
        let mut b = Backoff::default();
        for _ in 0..5 {
            b.after(Duration::from_secs(1));
        }
        assert_eq!(b.after(STABLE_AFTER), INITIAL_DELAY);
        assert_eq!(b.after(Duration::ZERO), INITIAL_DELAY * 2);
    }
}
