//! Schema migrations, embedded in the binary from `migrations/postgres` and `migrations/sqlite`.
//! Applying is safe from several processes at once: we hold sqlx's PostgreSQL advisory lock while
//! migrating, and for SQLite an exclusive lock on a file beside the database. Each migration is
//! applied and logged on its own, so an operator sees what was applied (and what failed).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::migrate::{Migrate, MigrateError, Migrator};

use super::{Pool, Store};

static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The table sqlx records applied migrations in.
const TABLE: &str = "_sqlx_migrations";

/// Which embedded migrations the database has not applied yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub known: usize,
    pub pending: Vec<String>,
}

/// Proof that this process is the only one migrating (or connecting for the first time to) the
/// database: on SQLite an exclusive lock on `<db>.migrate-lock`, held until dropped; on PostgreSQL
/// nothing, since `migrate` holds sqlx's advisory lock itself.
#[derive(Debug)]
pub struct MigrationLock {
    _file: Option<std::fs::File>,
}

/// One migration this process applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    pub took: Duration,
}

impl Store {
    fn migrator(&self) -> &'static Migrator {
        match self.pool {
            Pool::Pg(_) => &POSTGRES,
            Pool::Sqlite(_) => &SQLITE,
        }
    }

    /// Applies every pending migration, logging each, and returns those this call applied (none when
    /// the schema was up to date, or another process applied them first: callers wait for each other).
    pub async fn migrate(&self) -> anyhow::Result<Vec<AppliedMigration>> {
        let lock = self.migration_lock().await?;
        self.migrate_locked(&lock).await
    }

    /// `migrate` for a caller that already holds the lock, because it had to connect under it too:
    /// the first connections to a new SQLite file switch it to WAL, and several processes doing that
    /// at once can be refused "database is locked" without SQLite waiting out its busy timeout.
    pub async fn migrate_locked(&self, _lock: &MigrationLock) -> anyhow::Result<Vec<AppliedMigration>> {
        let migrator = self.migrator();
        let result = match &self.pool {
            Pool::Pg(pool) => match pool.acquire().await {
                Ok(mut conn) => apply_pending(&mut *conn, migrator).await,
                Err(e) => Err(MigrateError::Execute(e)),
            },
            Pool::Sqlite(pool) => match pool.acquire().await {
                Ok(mut conn) => apply_pending(&mut *conn, migrator).await,
                Err(e) => Err(MigrateError::Execute(e)),
            },
        };
        result.map_err(|e| match e {
            MigrateError::Execute(e) => anyhow::Error::new(self.explain(&e)),
            MigrateError::ExecuteMigration(e, version) => {
                anyhow::anyhow!("migration {version} failed: {}", self.explain(&e))
            }
            other => anyhow::anyhow!("{other}"),
        })
    }

    /// Compares the embedded migrations with the database's `_sqlx_migrations` table (a database
    /// without that table has applied none).
    pub async fn migration_status(&self) -> anyhow::Result<MigrationStatus> {
        let migrator = self.migrator();
        let sql = "SELECT version FROM _sqlx_migrations WHERE success";
        let read = match &self.pool {
            Pool::Pg(pool) => sqlx::query_scalar::<_, i64>(sql).fetch_all(pool).await,
            Pool::Sqlite(pool) => sqlx::query_scalar::<_, i64>(sql).fetch_all(pool).await,
        };
        let applied = match read {
            Ok(v) => v,
            Err(e) if is_missing_migrations_table(&e) => Vec::new(),
            Err(e) => return Err(self.explain(&e).into()),
        };
        let pending = migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect();
        Ok(MigrationStatus { known: migrator.iter().count(), pending })
    }

    /// Waits for the other processes migrating this database to finish. SQLite has no advisory
    /// locks; an exclusive lock on `<db>.migrate-lock` serialises migrators.
    pub async fn migration_lock(&self) -> anyhow::Result<MigrationLock> {
        let Some(db) = &self.sqlite_path else {
            return Ok(MigrationLock { _file: None });
        };
        let path = db.with_extension("migrate-lock");
        let file = tokio::task::spawn_blocking(move || -> anyhow::Result<std::fs::File> {
            let open = || -> std::io::Result<std::fs::File> {
                let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
                file.lock()?;
                Ok(file)
            };
            open().map_err(|e| anyhow::anyhow!("cannot lock {} for migrating: {e}", path.display()))
        })
        .await??;
        Ok(MigrationLock { _file: Some(file) })
    }
}

/// What `Migrator::run` does, one migration at a time so each can be logged as it is applied.
async fn apply_pending<C: Migrate>(conn: &mut C, migrator: &Migrator) -> Result<Vec<AppliedMigration>, MigrateError> {
    conn.lock().await?;
    let applied = apply_locked(conn, migrator).await;
    let unlocked = conn.unlock().await;
    let applied = applied?;
    unlocked?;
    Ok(applied)
}

async fn apply_locked<C: Migrate>(conn: &mut C, migrator: &Migrator) -> Result<Vec<AppliedMigration>, MigrateError> {
    conn.ensure_migrations_table(TABLE).await?;
    if let Some(version) = conn.dirty_version(TABLE).await? {
        return Err(MigrateError::Dirty(version));
    }
    let done: HashMap<i64, _> =
        conn.list_applied_migrations(TABLE).await?.into_iter().map(|m| (m.version, m.checksum)).collect();
    let known: HashSet<i64> = migrator.iter().map(|m| m.version).collect();
    if let Some(unknown) = done.keys().find(|v| !known.contains(v)) {
        // Applied by a newer binary: this one does not know the schema it would run against.
        return Err(MigrateError::VersionMissing(*unknown));
    }
    let mut applied = Vec::new();
    for m in migrator.iter().filter(|m| !m.migration_type.is_down_migration()) {
        match done.get(&m.version) {
            Some(checksum) if *checksum != m.checksum => return Err(MigrateError::VersionMismatch(m.version)),
            Some(_) => {}
            None => {
                let took = conn.apply(TABLE, m).await?;
                tracing::info!(
                    version = m.version,
                    description = %m.description,
                    elapsed_ms = took.as_millis() as u64,
                    "applied migration {} {}",
                    m.version,
                    m.description
                );
                applied.push(AppliedMigration { version: m.version, description: m.description.to_string(), took });
            }
        }
    }
    Ok(applied)
}

/// The error a database gives for reading `_sqlx_migrations` before anything created it; a missing
/// database, role or any other "does not exist" is not that.
fn is_missing_migrations_table(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else { return false };
    let undefined_table = db.code().as_deref() == Some("42P01") || db.message().starts_with("no such table");
    undefined_table && db.message().contains(TABLE)
}
