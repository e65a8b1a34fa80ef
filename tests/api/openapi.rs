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
        // An incoming webhook: the secret in its URL is the credential.
        "/hooks/{secret}",
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

/// Every operation of the document — which is generated from the route registrations themselves —
/// declares a path parameter for each `{param}` of its path (and no other), a request body when it
/// reads one, a success answer, and its error answers with the one error body. Bodies are found by
/// asking the live node: an operation that reads JSON refuses `text/plain` with 415 before anything else.
#[tokio::test]
async fn every_operation_declares_its_parameters_its_body_and_its_answers() {
    let Some(app) = spawn_app(Db::Sqlite, &[]).await else {
        return;
    };
    let admin = crate::common::Api::register(&app.address, "admin").await;
    let (_, doc) = app.get_json("/api/v1/openapi.json").await;
    let error_body = serde_json::json!({"$ref": "#/components/schemas/ErrorBody"});
    let mut problems = Vec::new();
    let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
    if !codes.as_array().is_some_and(|c| c.contains(&"validation_failed".into())) {
        problems.push(format!("the ErrorCode schema does not list the codes: {codes}"));
    }
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let in_path: std::collections::BTreeSet<&str> =
            path.split('{').skip(1).filter_map(|rest| rest.split_once('}')).map(|(name, _)| name).collect();
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let what = format!("{} {path}", method.to_uppercase());
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let declared: std::collections::BTreeSet<&str> =
                params.iter().filter(|p| p["in"] == "path").map(|p| p["name"].as_str().unwrap()).collect();
            if declared != in_path {
                problems.push(format!("{what}: path parameters {declared:?}, the path has {in_path:?}"));
            }
            for p in &params {
                let schema = p["schema"].to_string();
                if p["in"] == "path" && p["required"] != true {
                    problems.push(format!("{what}: path parameter {} is not required", p["name"]));
                }
                if !p["schema"].is_object() || schema.contains("\"null\"") || schema.contains("$ref") {
                    problems
                        .push(format!("{what}: parameter {} needs an inline, non-null schema: {schema}", p["name"]));
                }
            }
            let responses = op["responses"].as_object().cloned().unwrap_or_default();
            if !responses.keys().any(|s| s.starts_with(['1', '2', '3'])) {
                problems.push(format!("{what}: no success answer declared"));
            }
            for status in ["default", "400"].iter().filter(|s| **s == "default" || !params.is_empty()) {
                if !responses.contains_key(*status) {
                    problems.push(format!("{what}: no {status} answer declared"));
                }
            }
            if op["security"].is_array() && !responses.contains_key("401") {
                problems.push(format!("{what}: takes a token but declares no 401"));
            }
            for (status, answer) in &responses {
                let schema = &answer["content"]["application/json"]["schema"];
                let is_error = status == "default" || status.starts_with(['4', '5']);
                // Readiness answers 503 with its own report; every other error is the error body.
                let own_body = schema.is_object() && path.ends_with("/health/ready");
                if is_error && *schema != error_body && !own_body {
                    problems.push(format!("{what}: answer {status} does not declare the error body: {schema}"));
                }
            }

            // What the handler reads, asked of the node itself (not of logout: it would end the
            // session every probe runs in; it reads no body).
            if path.ends_with("/auth/logout") {
                assert!(op["requestBody"].is_null(), "{what} reads no body");
                continue;
            }
            let concrete: String = path
                .split('/')
                .map(|seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if name.ends_with("_id") => uuid::Uuid::now_v7().to_string(),
                    Some(_) => "x".to_string(),
                    None => seg.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/");
            let reply = app
                .client
                .request(method.to_uppercase().parse().unwrap(), format!("{}{concrete}", app.address))
                .bearer_auth(admin.token.as_deref().unwrap())
                .header("content-type", "text/plain")
                .body("x")
                .send()
                .await
                .unwrap();
            let reads_json = reply.status() == 415;
            if reads_json != op["requestBody"].is_object() {
                problems.push(format!(
                    "{what}: reads a JSON body: {reads_json}; the document declares one: {}",
                    op["requestBody"].is_object()
                ));
            }
        }
    }
    assert!(operations >= 60, "only {operations} operations");
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}
