//! The store: every byte of SQL lives under this module. One `Store` fronts PostgreSQL (production,
//! clustered) or SQLite (embedded default); the same SQL text runs on both where it can (sqlx binds
//! `$1…$N` on both), and a backend-specific branch is written out where it cannot.
//!
//! `with_pool!` runs one expression against whichever pool is configured, so a query is written once;
//! it and `with_tx!` run each query in a DEBUG span `store.query` whose `op` is the calling method.

pub mod change;
mod channels;
mod clock;
pub mod commands;
pub mod deliveries;
mod diagnose;
mod events;
pub mod files;
mod hooks;
mod migrate;
pub mod models;
pub mod outgoing;
mod posts;
mod preferences;
mod reach;
mod search;
mod sessions;
mod site;
mod sso;
mod teams;
mod users;
mod vault;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use channels::{ChannelPatch, NewChannel};
pub use diagnose::{Cause, Unusable};
pub use hooks::{IncomingHook, NewHook};
pub use migrate::{AppliedMigration, MigrationLock, MigrationStatus};
pub use posts::{NewPost, PostCursor, SINCE_LIMIT};
pub use preferences::Preference;
pub use search::SearchQuery;
pub use sessions::RefreshOutcome;
pub use vault::StoredProvider;

use rustchat_actors::breaker::{Breaker, Permit};

use crate::config::{DatabaseSettings, DatabaseUrl};
use crate::error::{Error, Result};

/// The span a store query runs in: `store.query` with `op` = the method the macro is expanded in and
/// `transaction`. The name comes from the type name of a local fn item, a `&'static str`, so no call
/// site repeats its own name and nothing is allocated; at INFO the span is disabled and its fields
/// are never evaluated.
macro_rules! query_span {
    ($transaction:expr) => {{
        fn here() {}
        ::tracing::debug_span!(
            "store.query",
            op = $crate::store::enclosing_fn(::std::any::type_name_of_val(&here)),
            transaction = $transaction
        )
    }};
}
pub(crate) use query_span;

/// `create_post` from `rustchat::store::posts::<impl …>::create_post::{{closure}}::here`: the last
/// path segment that is neither the marker fn nor an async body.
pub(crate) fn enclosing_fn(marker: &'static str) -> &'static str {
    marker.rsplit("::").find(|segment| *segment != "here" && *segment != "{{closure}}").unwrap_or(marker)
}

/// Runs `$body` with `$pool` bound to the configured pool, whichever backend it is, through the
/// database circuit breaker: refused at once while it is open, and its outcome recorded.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {{
        let store = &$store;
        let permit = store.admit()?;
        let result: $crate::error::Result<_> = store
            .bounded(::tracing::Instrument::instrument(
                async {
                    Ok(match &store.pool {
                        $crate::store::Pool::Pg($pool) => $body,
                        $crate::store::Pool::Sqlite($pool) => $body,
                    })
                },
                $crate::store::query_span!(false),
            ))
            .await;
        store.observe(permit, &result);
        result?
    }};
}
pub(crate) use with_pool;

/// `with_pool!` for a statement only PostgreSQL runs (arrays, one-statement writes): through the same
/// breaker, bound and span; evaluates to `None` on SQLite, where the caller takes its portable path.
macro_rules! with_pg {
    ($store:expr, |$pool:ident| $body:expr) => {{
        let store = &$store;
        match &store.pool {
            $crate::store::Pool::Sqlite(_) => None,
            $crate::store::Pool::Pg($pool) => {
                let permit = store.admit()?;
                let result: $crate::error::Result<_> = store
                    .bounded(::tracing::Instrument::instrument(async { Ok($body) }, $crate::store::query_span!(false)))
                    .await;
                store.observe(permit, &result);
                Some(result?)
            }
        }
    }};
}
pub(crate) use with_pg;

/// Runs `$body` inside one write transaction on the configured pool, committing at the end; an early
/// return (`?`) rolls back. SQLite transactions begin IMMEDIATE so concurrent writers queue on the
/// busy timeout instead of failing when a read lock cannot be upgraded. Goes through the breaker too.
macro_rules! with_tx {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let store = &$store;
        let permit = store.admit()?;
        let result: $crate::error::Result<_> = store
            .bounded(::tracing::Instrument::instrument(
                async {
                    Ok(match &store.pool {
                        $crate::store::Pool::Pg(pool) => {
                            let mut $tx = pool.begin().await?;
                            let out = $body;
                            $tx.commit().await?;
                            out
                        }
                        $crate::store::Pool::Sqlite(pool) => {
                            let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                            let out = $body;
                            $tx.commit().await?;
                            out
                        }
                    })
                },
                $crate::store::query_span!(true),
            ))
            .await;
        store.observe(permit, &result);
        result?
    }};
}
pub(crate) use with_tx;

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Pg(PgPool),
    Sqlite(SqlitePool),
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    breaker: Option<Arc<Breaker>>,
    /// PostgreSQL only: tells a server that is away from a slow one (see `reach.rs`).
    reach: Option<Arc<reach::Reach>>,
    max_connections: u32,
    sqlite_path: Option<std::path::PathBuf>,
}

/// Connections in use against the configured maximum.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct PoolStats {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

impl PoolStats {
    pub fn saturation(&self) -> f64 {
        if self.max == 0 { 0.0 } else { f64::from(self.in_use) / f64::from(self.max) }
    }
}

impl Store {
    /// Builds the pool without connecting: a node starts while the database is still coming up, and
    /// readiness tells the truth until it answers.
    pub fn connect_lazy(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let mut reach = None;
        let (pool, sqlite_path) = match &settings.url {
            DatabaseUrl::Postgres(url) => {
                let options = PgConnectOptions::from_str(url.expose())
                    .map_err(|e| anyhow::anyhow!("RUSTCHAT_DATABASE_URL is not a valid PostgreSQL URL: {e}"))?
                    .application_name("rustchat");
                let pool = PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .min_connections(settings.min_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_lazy_with(options.clone());
                reach = Some(Arc::new(reach::Reach::new(options)));
                (Pool::Pg(pool), None)
            }
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(settings.max_connections)
                    .min_connections(settings.min_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_lazy_with(options);
                (Pool::Sqlite(pool), Some(path.clone()))
            }
        };
        Ok(Self { pool, breaker: None, reach, max_connections: settings.max_connections, sqlite_path })
    }

    /// Routes every query through `breaker` from now on.
    pub fn with_breaker(mut self, breaker: Arc<Breaker>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Leave for one query from the breaker (none without one). A query whose future is dropped
    /// before it ends drops its permit, which gives back a half-open breaker's probe.
    fn admit(&self) -> Result<Option<Permit<'_>>> {
        match &self.breaker {
            None => Ok(None),
            Some(b) => b.permit().map(Some).ok_or_else(|| {
                Error::new(
                    crate::error::ErrorCode::DatabaseUnavailable,
                    "database unavailable (circuit breaker open); retry shortly",
                )
            }),
        }
    }

    /// Runs one query (or transaction), abandoned with `database_unavailable` when the PostgreSQL
    /// server turns out to be away rather than slow.
    pub(crate) async fn bounded<T>(&self, query: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        match &self.reach {
            Some(reach) => reach.bounded(query).await,
            None => query.await,
        }
    }

    /// Feeds a query's outcome to the breaker: only failures to reach the database count.
    fn observe<T>(&self, permit: Option<Permit<'_>>, result: &Result<T>) {
        let Some(permit) = permit else { return };
        match result {
            Err(e) if e.code == crate::error::ErrorCode::DatabaseUnavailable => permit.failed(),
            _ => permit.succeeded(),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Pg(_) => Backend::Postgres,
            Pool::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// One round trip to the database, bounded by `timeout`; returns its latency. Goes through the
    /// breaker like any query (so readiness reports an open circuit), and a timeout counts as a failure.
    pub async fn ping(&self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        let permit = self.admit()?;
        let query = async {
            match &self.pool {
                Pool::Pg(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
                Pool::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
            }
        };
        let query = self.bounded(async { query.await.map_err(Error::from) });
        let result = match tokio::time::timeout(timeout, query).await {
            Ok(Ok(())) => Ok(started.elapsed()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::new(crate::error::ErrorCode::DatabaseUnavailable, "database did not answer in time")),
        };
        self.observe(permit, &result);
        result
    }

    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle) = match &self.pool {
            Pool::Pg(pool) => (pool.size(), pool.num_idle() as u32),
            Pool::Sqlite(pool) => (pool.size(), pool.num_idle() as u32),
        };
        PoolStats { in_use: size.saturating_sub(idle), idle, max: self.max_connections }
    }

    /// Closes every connection; in-flight queries finish first.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Pg(pool) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }
}
mod bots;
mod tokens;
pub use bots::{Bot, NewBot};
pub use tokens::{AccessToken, NewToken, TokenSession};
