//! Schema migrations, embedded in the binary from `migrations/postgres` and `migrations/sqlite`.
//! Applying is safe from several processes at once: sqlx holds a PostgreSQL advisory lock while it
//! migrates, and for SQLite we hold an exclusive lock on a file beside the database.

use sqlx::migrate::Migrator;

use super::{Pool, Store, with_pool};

static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Which embedded migrations the database has not applied yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub known: usize,
    pub pending: Vec<String>,
}

impl Store {
    fn migrator(&self) -> &'static Migrator {
        match self.pool {
            Pool::Pg(_) => &POSTGRES,
            Pool::Sqlite(_) => &SQLITE,
        }
    }

    /// Applies every pending migration. Concurrent callers (other nodes) wait for each other.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let _file_lock = self.sqlite_migration_lock().await?;
        let migrator = self.migrator();
        with_pool!(self, |pool| migrator.run(pool).await)?;
        Ok(())
    }

    /// Compares the embedded migrations with the database's `_sqlx_migrations` table.
    pub async fn migration_status(&self) -> anyhow::Result<MigrationStatus> {
        let migrator = self.migrator();
        let applied: Vec<i64> = with_pool!(self, |pool| {
            match sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(pool)
                .await
            {
                Ok(v) => v,
                Err(sqlx::Error::Database(e)) if is_missing_table(e.message()) => Vec::new(),
                Err(e) => return Err(e.into()),
            }
        });
        let pending = migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect();
        Ok(MigrationStatus { known: migrator.iter().count(), pending })
    }

    /// SQLite has no advisory locks; an exclusive lock on `<db>.migrate-lock` serialises migrators.
    async fn sqlite_migration_lock(&self) -> anyhow::Result<Option<std::fs::File>> {
        let Some(db) = &self.sqlite_path else {
            return Ok(None);
        };
        let path = db.with_extension("migrate-lock");
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
            file.lock()?;
            Ok(file)
        })
        .await??;
        Ok(Some(file))
    }
}

fn is_missing_table(message: &str) -> bool {
    message.contains("does not exist") || message.contains("no such table")
}
