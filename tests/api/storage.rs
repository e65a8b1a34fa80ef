//! Storage: the schema on both backends, the runbook's SQL, and connections an operator can find.

use rustchat::config::Settings;
use rustchat::store::Store;
use sqlx::Connection;

use crate::common::{Db, TestDb, spawn_app};

async fn migrated_store(url: &str) -> Store {
    let settings = Settings::from_vars([("RUSTCHAT_DATABASE_URL", url)]).unwrap();
    let store = Store::connect_lazy(&settings.database).unwrap();
    store.migrate().await.unwrap();
    store
}

#[tokio::test]
async fn the_runbooks_server_config_update_runs_unchanged_on_postgres_and_takes_effect() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = migrated_store(&db.url).await;
    assert_eq!(store.site_config().await.unwrap().max_simultaneous_connections, 10, "default");

    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let runbook =
        "UPDATE server_config SET site = jsonb_set(site, '{max_simultaneous_connections}', '10') WHERE id = 'default';";
    let updated = sqlx::raw_sql(runbook).execute(&mut c).await.unwrap();
    assert_eq!(updated.rows_affected(), 1, "the runbook's UPDATE found no row");
    sqlx::raw_sql(sqlx::AssertSqlSafe(runbook.replace("'10'", "'3'"))).execute(&mut c).await.unwrap();
    assert_eq!(store.site_config().await.unwrap().max_simultaneous_connections, 3);
    store.close().await;
}

#[tokio::test]
async fn the_sqlite_site_document_is_editable_in_sql_too() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let store = migrated_store(&url).await;
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "UPDATE server_config SET site = json_set(site, '$.max_simultaneous_connections', 4) WHERE id = 'default';",
    )
    .execute(&mut c)
    .await
    .unwrap();
    assert_eq!(store.site_config().await.unwrap().max_simultaneous_connections, 4);
}

#[tokio::test]
async fn postgres_connections_carry_application_name_rustchat() {
    let Some(app) = spawn_app(Db::Postgres, &[("RUSTCHAT_DB_POOL__MIN_CONNECTIONS", "2")]).await else {
        return;
    };
    assert_eq!(app.get("/api/v1/health/ready").await.status(), 200);
    let db_name = url::Url::parse(&app.db_url).unwrap().path().trim_start_matches('/').to_string();
    let mut c = sqlx::PgConnection::connect(&crate::common::admin_database_url()).await.unwrap();
    // The runbook's P3 query, narrowed to this test's database.
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name='rustchat' AND datname = $1")
            .bind(&db_name)
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert!(count >= 1, "no connection with application_name=rustchat on {db_name}");
}

/// With every pooled connection busy, a request waits at most the acquire timeout, then gets 503 and
/// the log says `pool timed out` (runbook P3) — it never hangs.
#[tokio::test]
async fn an_exhausted_pool_answers_503_and_logs_pool_timed_out() {
    use std::time::Duration;

    use crate::common::process::free_port;
    use crate::common::{Api, NodeProcess, eventually};

    let Some(db) = TestDb::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let node = NodeProcess::start(
        dir.path(),
        &[
            ("RUSTCHAT_DATABASE_URL", &db.url),
            ("RUSTCHAT_SERVER_PORT", &port),
            ("RUSTCHAT_LOG_FORMAT", "json"),
            ("RUSTCHAT_DB_POOL__MAX_CONNECTIONS", "1"),
            ("RUSTCHAT_DB_POOL__MIN_CONNECTIONS", "0"),
            ("RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS", "300"),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(30), "the node to answer", || async {
        reqwest::get(format!("{base}/api/v1/health/live")).await.ok().filter(|r| r.status() == 200)
    })
    .await;
    let user = Api::register(&base, "poolie").await;

    // Hold a lock that the auth query needs: the first request then holds the only connection.
    let mut locker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE;").execute(&mut locker).await.unwrap();
    let blocked = tokio::spawn({
        let user = user.clone();
        async move { user.get("/api/v1/users/me").await }
    });
    let watcher = sqlx::PgPool::connect(&crate::common::admin_database_url()).await.unwrap();
    eventually(Duration::from_secs(10), "the first request to wait on the lock", || {
        let name = db.name.clone();
        let watcher = watcher.clone();
        async move {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rustchat' AND datname = $1 AND wait_event_type = 'Lock'",
            )
            .bind(name)
            .fetch_one(&watcher)
            .await
            .unwrap();
            (waiting > 0).then_some(())
        }
    })
    .await;

    // Runbook P3: the saturation gauge reads 1.0 while the pool is exhausted.
    let saturated = eventually(Duration::from_secs(5), "saturation 1.0", || async {
        let text = reqwest::get(format!("{base}/api/v1/health/metrics")).await.ok()?.text().await.ok()?;
        text.lines()
            .find(|l| l.starts_with("rustchat_db_pool_saturation_ratio "))
            .filter(|l| l.ends_with(" 1"))
            .map(str::to_string)
    })
    .await;
    assert_eq!(saturated, "rustchat_db_pool_saturation_ratio 1");
    let second = user.get("/api/v1/users/me").await;
    assert_eq!((second.status, second.code()), (503, "database_busy"), "{:?}", second.body);
    let logged = eventually(Duration::from_secs(5), "a 'pool timed out' log line", || async {
        node.json_lines().into_iter().find(|l| l["message"].as_str().unwrap_or("").contains("pool timed out"))
    })
    .await;
    assert_eq!(logged["level"], "ERROR");

    sqlx::raw_sql("ROLLBACK").execute(&mut locker).await.unwrap();
    assert_eq!(blocked.await.unwrap().status, 200, "the waiting request completes once the lock is gone");
}

crate::on_both_databases!(every_store_query_is_refused_while_the_database_breaker_is_open);

/// Search and the site settings are store queries like any other: an open database breaker refuses
/// them at once with `database_unavailable` (the 503 every other query gets), and they count towards
/// closing it again.
async fn every_store_query_is_refused_while_the_database_breaker_is_open(db: Db) {
    use std::sync::Arc;

    use rustchat::domain::UserId;
    use rustchat::error::ErrorCode;
    use rustchat::store::SearchQuery;
    use rustchat_actors::breaker::{Breaker, FAILURE_THRESHOLD, State};

    let dir = tempfile::tempdir().unwrap();
    let (_pg, url) = match db {
        Db::Postgres => {
            let Some(pg) = TestDb::create().await else { return };
            let url = pg.url.clone();
            (Some(pg), url)
        }
        Db::Sqlite => (None, format!("sqlite://{}", dir.path().join("x.db").display())),
    };
    let breaker = Arc::new(Breaker::new("database", Arc::new(|_, _, _| {})));
    let store = migrated_store(&url).await.with_breaker(breaker.clone());
    let query =
        SearchQuery { terms: "hello".into(), channel: None, author: None, before: None, after: None, limit: 10 };
    let site_name = |name: &str| serde_json::json!({ "site_name": name }).as_object().unwrap().clone();
    let searcher = UserId::new();

    for _ in 0..FAILURE_THRESHOLD {
        breaker.record_failure();
    }
    assert_eq!(breaker.state(), State::Open);
    let refused = [
        ("user", store.user(searcher).await.err()),
        ("search_posts", store.search_posts(searcher, &query).await.err()),
        ("site_config", store.site_config().await.err()),
        ("patch_site_config", store.patch_site_config(&site_name("Written while open")).await.err()),
    ];
    for (call, error) in refused {
        let code = error.map(|e| e.code);
        assert_eq!(code, Some(ErrorCode::DatabaseUnavailable), "{call} went past an open breaker");
    }

    breaker.record_success();
    assert_ne!(store.site_config().await.unwrap().site_name, "Written while open", "a refused patch was applied");
    assert!(store.search_posts(searcher, &query).await.unwrap().is_empty());
    assert_eq!(store.patch_site_config(&site_name("Breaker closed")).await.unwrap().site_name, "Breaker closed");
    assert_eq!(store.site_config().await.unwrap().site_name, "Breaker closed");
    store.close().await;
}

/// The full-text index's pending list is merged while it is small: a post that crosses the limit
/// merges at most 256 kB of entries, not the 4 MB a default GIN index collects (135–166 ms inside one
/// post, holding its channel's row lock). After 40 000 posts the list holds no more than the limit,
/// and every post stays findable.
#[tokio::test]
async fn the_search_indexes_pending_list_stays_small_and_posts_stay_findable() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = migrated_store(&db.url).await;
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE EXTENSION IF NOT EXISTS pgstattuple;
         INSERT INTO users (id, username, email, created_at, updated_at)
           VALUES ('00000000-0000-7000-8000-000000000001', 'writer', 'writer@example.com', now(), now());
         INSERT INTO channels (id, kind, name, display_name, created_by, created_at, updated_at)
           VALUES ('00000000-0000-7000-8000-000000000002', 'direct', 'd', 'd',
                   '00000000-0000-7000-8000-000000000001', now(), now());
         INSERT INTO posts (id, channel_id, user_id, message, created_at)
           SELECT gen_random_uuid(), '00000000-0000-7000-8000-000000000002',
                  '00000000-0000-7000-8000-000000000001',
                  't=' || (1796697249631170 + i * 1000) || ' n=' || i || ' word' || (i % 997) || ' load', now()
           FROM generate_series(1, 40000) AS i;",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let (pages, tuples): (i64, i64) =
        sqlx::query_as("SELECT pending_pages::bigint, pending_tuples FROM pgstatginindex('idx_posts_search')")
            .fetch_one(&mut c)
            .await
            .unwrap();
    // 256 kB is 32 pages of 8 kB; the post that crosses the limit adds its entries first.
    assert!(pages <= 33, "pending list of {pages} pages ({tuples} entries) after 40 000 posts");
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM posts WHERE search @@ to_tsquery('simple', '39999') OR search @@ to_tsquery('simple', '7')",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(found, 2, "posts merged from the pending list and posts still in it are both found");
    store.close().await;
}
