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
    assert_eq!(
        store
            .site_config()
            .await
            .unwrap()
            .max_simultaneous_connections,
        10,
        "default"
    );

    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let runbook = "UPDATE server_config SET site = jsonb_set(site, '{max_simultaneous_connections}', '10') WHERE id = 'default';";
    let updated = sqlx::raw_sql(runbook).execute(&mut c).await.unwrap();
    assert_eq!(
        updated.rows_affected(),
        1,
        "the runbook's UPDATE found no row"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(runbook.replace("'10'", "'3'")))
        .execute(&mut c)
        .await
        .unwrap();
    assert_eq!(
        store
            .site_config()
            .await
            .unwrap()
            .max_simultaneous_connections,
        3
    );
    store.close().await;
}

#[tokio::test]
async fn the_sqlite_site_document_is_editable_in_sql_too() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let store = migrated_store(&url).await;
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("UPDATE server_config SET site = json_set(site, '$.max_simultaneous_connections', 4) WHERE id = 'default';")
        .execute(&mut c)
        .await
        .unwrap();
    assert_eq!(
        store
            .site_config()
            .await
            .unwrap()
            .max_simultaneous_connections,
        4
    );
}

#[tokio::test]
async fn postgres_connections_carry_application_name_rustchat() {
    let Some(app) = spawn_app(Db::Postgres, &[("RUSTCHAT_DB_POOL__MIN_CONNECTIONS", "2")]).await
    else {
        return;
    };
    assert_eq!(app.get("/api/v1/health/ready").await.status(), 200);
    let db_name = url::Url::parse(&app.db_url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string();
    let mut c = sqlx::PgConnection::connect(&crate::common::admin_database_url())
        .await
        .unwrap();
    // The runbook's P3 query, narrowed to this test's database.
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name='rustchat' AND datname = $1",
    )
    .bind(&db_name)
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert!(
        count >= 1,
        "no connection with application_name=rustchat on {db_name}"
    );
}
