//! Telling a PostgreSQL server that is away from one that is slow. The pool retries a refused
//! connection until `RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS` runs out (right while a node starts beside a
//! database still coming up), so with the server stopped every request would hang that long and then
//! look like an exhausted pool (`database_busy`), which the breaker does not count. Instead, a query
//! that has not finished after [`SUSPECT_AFTER`] asks whether the server takes connections at all: one
//! probe connection for the whole node at a time, its verdict shared for [`VERDICT_TTL`]. When the
//! server is away the query is abandoned with `database_unavailable` (which the breaker counts); when
//! it answers, the query goes on as long as it takes.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::error::{Error, ErrorCode, Result, server_is_away};

/// How long a query runs before the node checks that the server is there at all.
pub const SUSPECT_AFTER: Duration = Duration::from_millis(250);
/// How long one probe's verdict stands for every query of the node.
pub const VERDICT_TTL: Duration = Duration::from_millis(500);
/// A probe connection that has not been answered by then says the server is away.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why the server was found away, when it was.
type Verdict = Option<String>;

pub(crate) struct Reach {
    options: PgConnectOptions,
    last: Mutex<Option<(Instant, Verdict)>>,
    /// Whether the last verdict was "away", read without the lock on every query that answers.
    away: AtomicBool,
    /// Held by the one probe in flight; others wait for its verdict.
    probing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reach").finish_non_exhaustive()
    }
}

impl Reach {
    pub(crate) fn new(options: PgConnectOptions) -> Self {
        Self { options, last: Mutex::new(None), away: AtomicBool::new(false), probing: tokio::sync::Mutex::new(()) }
    }

    /// Runs `query`, abandoning it with `database_unavailable` once the server is found away. A
    /// recent verdict that the server is away refuses at once, so an outage costs callers no wait.
    pub(crate) async fn bounded<T>(&self, query: impl Future<Output = Result<T>>) -> Result<T> {
        if let Some(Some(away)) = self.fresh() {
            return Err(unavailable(away));
        }
        let done = self.watch(query).await;
        if done.is_ok() && self.away.load(Ordering::Relaxed) {
            // A query answered: the server is back, whatever the last probe said.
            self.record(None);
        }
        done
    }

    async fn watch<T>(&self, query: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::pin!(query);
        if let Ok(done) = tokio::time::timeout(SUSPECT_AFTER, &mut query).await {
            return done;
        }
        loop {
            tokio::select! {
                done = &mut query => return done,
                verdict = self.verdict() => if let Some(away) = verdict {
                    return Err(unavailable(away));
                },
            }
            // The server answers: the query is slow, not lost. Ask again once this verdict is old.
            tokio::select! {
                done = &mut query => return done,
                () = tokio::time::sleep(VERDICT_TTL) => {}
            }
        }
    }

    fn fresh(&self) -> Option<Verdict> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.as_ref().filter(|(at, _)| at.elapsed() < VERDICT_TTL).map(|(_, v)| v.clone())
    }

    /// The server's state, from a probe at most [`VERDICT_TTL`] old.
    async fn verdict(&self) -> Verdict {
        if let Some(v) = self.fresh() {
            return v;
        }
        let _one = self.probing.lock().await;
        if let Some(v) = self.fresh() {
            return v;
        }
        let v = self.probe().await;
        self.record(v.clone());
        v
    }

    /// Keeps a verdict for every query of the node, saying so when it changes (once per change).
    fn record(&self, v: Verdict) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let was_away = self.away.swap(v.is_some(), Ordering::Relaxed);
        match (&v, was_away) {
            (Some(away), false) => tracing::warn!(error = %away, "database server is not taking connections"),
            (None, true) => tracing::info!("database server takes connections again"),
            _ => {}
        }
        *last = Some((Instant::now(), v));
    }

    /// Opens (and closes) one connection outside the pool. Only a server that is not there, or says
    /// it is going or not yet back, counts as away: a refused login or a full server is not an outage.
    async fn probe(&self) -> Verdict {
        match tokio::time::timeout(PROBE_TIMEOUT, self.options.connect()).await {
            Err(_) => Some(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())),
            Ok(Ok(conn)) => {
                // Closing politely is not worth waiting for.
                tokio::spawn(async move { drop(conn.close().await) });
                None
            }
            Ok(Err(e)) => match &e {
                sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => Some(e.to_string()),
                sqlx::Error::Database(db) if db.code().is_some_and(|c| server_is_away(&c)) => Some(e.to_string()),
                _ => None,
            },
        }
    }
}

fn unavailable(away: String) -> Error {
    Error::new(ErrorCode::DatabaseUnavailable, "database unavailable").with_cause(anyhow::anyhow!(away))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port nothing listens on: connections are refused, as with a stopped server.
    fn nobody_home() -> PgConnectOptions {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        PgConnectOptions::new().host("127.0.0.1").port(port).username("nobody")
    }

    #[tokio::test]
    async fn a_quick_query_is_never_second_guessed() {
        let reach = Reach::new(nobody_home());
        assert_eq!(reach.bounded(async { Ok(7) }).await.unwrap(), 7);
        assert!(reach.fresh().is_none(), "no probe for a query that answered in time");
    }

    #[tokio::test]
    async fn a_query_stuck_on_a_server_that_is_away_is_abandoned_and_the_next_refused_at_once() {
        let reach = Reach::new(nobody_home());
        let began = Instant::now();
        let stuck = reach.bounded(std::future::pending::<Result<()>>()).await.unwrap_err();
        assert_eq!(stuck.code, ErrorCode::DatabaseUnavailable);
        assert!(began.elapsed() < SUSPECT_AFTER + PROBE_TIMEOUT, "{:?}", began.elapsed());
        let next = Instant::now();
        let refused = reach.bounded(std::future::pending::<Result<()>>()).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::DatabaseUnavailable);
        assert!(next.elapsed() < SUSPECT_AFTER, "a fresh verdict refuses without waiting: {:?}", next.elapsed());
    }

    #[tokio::test]
    async fn a_query_that_answers_after_an_outage_ends_it_for_every_query() {
        let reach = Reach::new(nobody_home());
        reach.record(Some("connection refused".into()));
        assert!(reach.bounded(async { Ok(()) }).await.is_err(), "a fresh 'away' refuses at once");
        tokio::time::sleep(VERDICT_TTL).await;
        reach.bounded(async { Ok(()) }).await.unwrap();
        assert_eq!(reach.fresh(), Some(None), "the answer is the new verdict");
        reach.bounded(async { Ok(()) }).await.unwrap();
    }

    #[tokio::test]
    async fn a_slow_query_on_a_server_that_answers_goes_on() {
        let url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        let options: PgConnectOptions = url.parse().unwrap();
        if options.connect().await.is_err() {
            assert!(std::env::var("CI").is_err(), "PostgreSQL is not reachable, and tests never skip on CI");
            eprintln!("SKIPPED: PostgreSQL is not reachable");
            return;
        }
        let reach = Reach::new(options);
        let slow = async {
            tokio::time::sleep(SUSPECT_AFTER + VERDICT_TTL * 2).await;
            Ok("done")
        };
        assert_eq!(reach.bounded(slow).await.unwrap(), "done");
        assert_eq!(reach.fresh(), Some(None), "the probe found the server there");
    }
}
