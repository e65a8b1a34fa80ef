//! The database's clock, which [`crate::clock`] compares with this node's.

use super::{Pool, Store};
use crate::domain::Timestamp;
use crate::error::Result;

impl Store {
    /// The database server's time, with this node's clock just before and after the question (so the
    /// caller can bound the error by the round trip). `None` on SQLite: it runs in this process, on
    /// this node's clock.
    pub async fn database_clock(&self) -> Result<Option<(time::OffsetDateTime, Timestamp, time::OffsetDateTime)>> {
        let Pool::Pg(pool) = &self.pool else { return Ok(None) };
        // The connection first: waiting for the pool is not part of the round trip.
        let mut c = pool.acquire().await?;
        let before = time::OffsetDateTime::now_utc();
        let theirs: Timestamp = sqlx::query_scalar("SELECT clock_timestamp()").fetch_one(&mut *c).await?;
        let after = time::OffsetDateTime::now_utc();
        Ok(Some((before, theirs, after)))
    }
}
