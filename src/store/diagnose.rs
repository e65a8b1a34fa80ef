//! Why the configured database cannot be used, in words an operator can act on: which server
//! (host:port and user, never the password) and the cause — connection refused, no such host,
//! authentication failed, database does not exist, no answer. The pool's own error for a server that
//! refuses connections is only "pool timed out" (it retries until its acquire timeout), so the
//! command line and a node's start make one direct connection first and report what it says.

use std::fmt;
use std::time::Duration;

use sqlx::ConnectOptions;

use super::{Pool, Store};

/// What kind of problem it is: the `cause` field of the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    ConnectionRefused,
    HostNotFound,
    AuthenticationFailed,
    DatabaseMissing,
    NoAnswer,
    Tls,
    Other,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ConnectionRefused => "connection_refused",
            Cause::HostNotFound => "host_not_found",
            Cause::AuthenticationFailed => "authentication_failed",
            Cause::DatabaseMissing => "database_missing",
            Cause::NoAnswer => "no_answer",
            Cause::Tls => "tls",
            Cause::Other => "other",
        }
    }
}

/// The database cannot be used, and why.
#[derive(Debug, Clone)]
pub struct Unusable {
    pub cause: Cause,
    message: String,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Unusable {}

/// Where the store connects, as the messages name it.
#[derive(Debug, Clone)]
pub(super) enum Target {
    Postgres { server: String, host: String, port: u16, user: String, database: String },
    Sqlite { path: String },
}

impl Target {
    pub(super) fn of(pool: &Pool) -> Target {
        match pool {
            Pool::Pg(p) => {
                let o = p.connect_options();
                let server = match o.get_socket() {
                    Some(dir) => format!("PostgreSQL at socket {}", dir.display()),
                    None => format!("PostgreSQL at {}:{}", o.get_host(), o.get_port()),
                };
                Target::Postgres {
                    server,
                    host: o.get_host().to_string(),
                    port: o.get_port(),
                    user: o.get_username().to_string(),
                    database: o.get_database().unwrap_or(o.get_username()).to_string(),
                }
            }
            Pool::Sqlite(p) => Target::Sqlite { path: p.connect_options().get_filename().display().to_string() },
        }
    }

    fn server(&self) -> String {
        match self {
            Target::Postgres { server, .. } => server.clone(),
            Target::Sqlite { path } => format!("SQLite database {path}"),
        }
    }
}

/// Explains `e`, an error from talking to the database at `target`.
pub(super) fn describe(e: &sqlx::Error, target: &Target) -> Unusable {
    let server = target.server();
    let (cause, message) = match e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (
            Cause::ConnectionRefused,
            format!("cannot connect to {server}: connection refused (is the server running and listening there?)"),
        ),
        sqlx::Error::Io(io) if io.to_string().contains("lookup address") => {
            let host = match target {
                Target::Postgres { host, .. } => host.as_str(),
                Target::Sqlite { .. } => "",
            };
            (Cause::HostNotFound, format!("cannot connect to {server}: the host name {host:?} does not resolve ({io})"))
        }
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            (Cause::NoAnswer, format!("cannot connect to {server}: no answer ({io})"))
        }
        sqlx::Error::Io(io) => (Cause::Other, format!("cannot connect to {server}: {io}")),
        sqlx::Error::Tls(tls) => (Cause::Tls, format!("cannot connect to {server}: TLS failed ({tls})")),
        sqlx::Error::PoolTimedOut => {
            (Cause::NoAnswer, format!("{server} gave no connection within the pool's acquire timeout"))
        }
        sqlx::Error::Database(db) => match (target, db.code().as_deref()) {
            (Target::Postgres { database, host, port, user, .. }, Some("3D000")) => (
                Cause::DatabaseMissing,
                format!(
                    "database {database:?} does not exist on {server}: create it (createdb -h {host} -p {port} -U {user} \
                     {database}) or correct RUSTCHAT_DATABASE_URL"
                ),
            ),
            (Target::Postgres { user, .. }, Some("28P01" | "28000")) => (
                Cause::AuthenticationFailed,
                format!("{server} refused user {user:?}: authentication failed ({})", db.message()),
            ),
            (Target::Sqlite { .. }, Some(code)) => {
                (Cause::Other, format!("cannot use {server}: {} (SQLite error {code})", db.message()))
            }
            (_, Some(code)) => {
                (Cause::Other, format!("{server} answered an error: {} (SQLSTATE {code})", db.message()))
            }
            (_, None) => (Cause::Other, format!("{server} answered an error: {}", db.message())),
        },
        other => (Cause::Other, format!("{server}: {other}")),
    };
    Unusable { cause, message }
}

/// SQLSTATEs a server answers while it cannot take a connection yet, which the pool also waits out.
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::ConnectionRefused,
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("53300" | "57P03")),
        _ => false,
    }
}

impl Store {
    /// Makes one connection outside the pool and closes it, retrying a refused one (a server still
    /// starting) for up to `patience`; a connection that gets no answer is given up after `patience`
    /// too (at least 1 s).
    pub async fn check_reachable(&self, patience: Duration) -> Result<(), Unusable> {
        let target = Target::of(&self.pool);
        let patience = patience.max(Duration::from_secs(1));
        let deadline = tokio::time::Instant::now() + patience;
        let mut backoff = Duration::from_millis(50);
        loop {
            let attempt = async {
                match &self.pool {
                    Pool::Pg(p) => p.connect_options().connect().await.map(drop),
                    Pool::Sqlite(p) => p.connect_options().connect().await.map(drop),
                }
            };
            let e = match tokio::time::timeout_at(deadline, attempt).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => e,
                Err(_) => {
                    return Err(Unusable {
                        cause: Cause::NoAnswer,
                        message: format!(
                            "cannot connect to {}: no answer within {} s",
                            target.server(),
                            patience.as_secs()
                        ),
                    });
                }
            };
            if !is_transient(&e) {
                return Err(describe(&e, &target));
            }
            if tokio::time::Instant::now() + backoff >= deadline {
                let mut unusable = describe(&e, &target);
                unusable.message.push_str(&format!(" (tried for {} s)", patience.as_secs()));
                return Err(unusable);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// Explains an error this store's database answered.
    pub fn explain(&self, e: &sqlx::Error) -> Unusable {
        describe(e, &Target::of(&self.pool))
    }
}
