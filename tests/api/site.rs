//! Site settings: the admin API and the runbook's SQL edit, on both backends.

use std::time::Duration;

use serde_json::json;
use sqlx::Connection;

use crate::common::{Api, Db, eventually, spawn_app};
use crate::on_both_databases;

on_both_databases!(admins_read_and_patch_site_settings_and_members_cannot);

async fn admins_read_and_patch_site_settings_and_members_cannot(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let admin = Api::register(&app.address, "admin").await;
    let member = Api::register(&app.address, "member").await;
    let site = admin.get("/api/v1/admin/config/site").await.expect(200);
    assert_eq!(site["max_simultaneous_connections"], 10);
    assert_eq!(site["registration"], "open");
    assert_eq!(member.get("/api/v1/admin/config/site").await.status, 403);
    assert_eq!(member.patch("/api/v1/admin/config/site", json!({"site_name": "x"})).await.status, 403);

    let patched = admin
        .patch("/api/v1/admin/config/site", json!({"max_simultaneous_connections": 3, "site_name": "Acme Chat"}))
        .await
        .expect(200);
    assert_eq!(patched["max_simultaneous_connections"], 3);
    assert_eq!(patched["registration"], "open", "unpatched keys stay");
    for bad in [
        json!({"max_simultaneous_connections": 0}),
        json!({"registration": "sometimes"}),
        json!({"no_such_key": 1}),
        json!({"site_name": ""}),
    ] {
        let r = admin.patch("/api/v1/admin/config/site", bad.clone()).await;
        assert_eq!((r.status, r.code()), (400, "validation_failed"), "{bad}");
    }
    assert_eq!(admin.get("/api/v1/admin/config/site").await.expect(200)["max_simultaneous_connections"], 3);
}

/// The runbook edits `server_config` in SQL; every node must follow within the refresh interval.
#[tokio::test]
async fn an_operator_sql_edit_takes_effect_without_a_restart() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else {
        return;
    };
    let admin = Api::register(&app.address, "admin").await;
    Api::register(&app.address, "early").await;
    let mut c = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::raw_sql(
        "UPDATE server_config SET site = jsonb_set(site, '{registration}', '\"closed\"') WHERE id = 'default';",
    )
    .execute(&mut c)
    .await
    .unwrap();
    eventually(Duration::from_secs(rustchat::site::SITE_REFRESH.as_secs() + 5), "registration to close", || async {
        let r = Api::anonymous(&app.address)
            .post(
                "/api/v1/auth/register",
                json!({"username": "late", "email": "late@example.com", "password": "password-late"}),
            )
            .await;
        (r.status == 403).then_some(())
    })
    .await;
    assert_eq!(admin.get("/api/v1/admin/config/site").await.expect(200)["registration"], "closed");
}
