//! The cluster's clock is the database's. Seq already comes from PostgreSQL; instants (a post's
//! `created_at`, which orders history; session and token expiry; rate-limit and Redis times) are
//! stamped by each node. A node whose clock is minutes off would list posts out of seq order, issue
//! tokens the other nodes find expired, and push its peers out of the registry. So each node compares
//! its clock with PostgreSQL's at start and every [`CHECK_EVERY`]; when they differ by more than
//! [`TOLERANCE`] it logs a warning and stamps everything on the database's clock
//! ([`Timestamp::now`] adds the difference) until they agree again. Fix the clock (NTP); this keeps
//! the cluster consistent meanwhile. SQLite runs in the node, on its clock: nothing to compare.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::Timestamp;
use crate::store::Store;

/// How often the clocks are compared.
pub const CHECK_EVERY: Duration = Duration::from_secs(30);

/// A difference up to this is left alone: NTP keeps healthy clocks far closer, and a correction
/// smaller than a round trip's uncertainty would only add noise.
pub const TOLERANCE: Duration = Duration::from_secs(2);

/// A sample whose round trip took longer than this is not trusted (its error is up to half of it).
const MAX_ROUND_TRIP: Duration = Duration::from_millis(500);

/// Compares once and sets the correction; the difference found, if it could be measured.
pub async fn check(store: &Store) -> Option<time::Duration> {
    let (before, theirs, after) = match store.database_clock().await {
        Ok(Some(sample)) => sample,
        Ok(None) => return None,
        Err(e) => {
            tracing::debug!(error = ?e, "cannot read the database's clock; keeping the current correction");
            return None;
        }
    };
    let round_trip: time::Duration = after - before;
    if round_trip > MAX_ROUND_TRIP {
        return None;
    }
    let mine = before + round_trip / 2;
    let behind: time::Duration = theirs.inner() - mine;
    let previous = Timestamp::clock_offset();
    if behind.unsigned_abs() > TOLERANCE {
        Timestamp::set_clock_offset(behind);
        // Once per episode: the log says when it starts (and ends), not every check.
        if previous == time::Duration::ZERO {
            tracing::warn!(
                offset_seconds = behind.whole_seconds(),
                "this node's clock is off the database's; stamping times on the database's clock until it is fixed (check NTP)"
            );
        }
    } else if previous != time::Duration::ZERO {
        Timestamp::set_clock_offset(time::Duration::ZERO);
        tracing::info!("this node's clock agrees with the database's again; using it");
    }
    Some(behind)
}

/// Checks every [`CHECK_EVERY`] until shutdown.
pub fn spawn(store: Store, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
            check(&store).await;
        }
    });
}
