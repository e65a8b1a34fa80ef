//! The OpenAPI document: served, valid JSON, and in step with the routes that actually answer.

use crate::common::{Db, spawn_app};

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_every_listed_route_exists() {
    let Some(app) = spawn_app(Db::Sqlite, &[]).await else {
        return;
    };
    let (status, doc) = app.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 40, "only {} paths documented", paths.len());
    let public = [
        "/api/v1/health/live",
        "/api/v1/health/ready",
        "/api/v1/health/metrics",
        "/api/v1/auth/oidc/providers",
        "/api/v1/auth/oidc/exchange",
        "/api/v1/auth/oidc/{provider}/login",
        "/api/v1/auth/oidc/{provider}/callback",
        "/api/v1/health/stats",
        "/api/v1/openapi.json",
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
    ];
    let client = reqwest::Client::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let concrete = path
                .replace(['{', '}'], "")
                .split('/')
                .map(|seg| if seg.ends_with("_id") { uuid::Uuid::now_v7().to_string() } else { seg.to_string() })
                .collect::<Vec<_>>()
                .join("/");
            let url = format!("{}{concrete}", app.address);
            let response = client
                .request(method.to_uppercase().parse().unwrap(), &url)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            assert_ne!(body["error"]["message"], "no such endpoint", "{method} {path} is documented but not routed");
            if !public.contains(&path.as_str()) {
                assert!(op["security"].is_array(), "{method} {path} does not declare its bearer auth");
            }
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
