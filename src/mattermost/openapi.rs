//! `GET /api/v4/openapi.json`: the v4 subset as an OpenAPI 3.1 document of its own (apart from the v1
//! document), built from the route table, so it lists exactly the routes served.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};

use super::{ROUTES, Route};

pub async fn document() -> HttpResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let text = DOC.get_or_init(|| build().to_string());
    HttpResponse::Ok().content_type("application/json").body(text.clone())
}

fn schema_ref(body: &str) -> Value {
    match body.strip_prefix('[').and_then(|b| b.strip_suffix(']')) {
        Some(item) => json!({ "type": "array", "items": { "$ref": format!("#/components/schemas/{item}") } }),
        None => json!({ "$ref": format!("#/components/schemas/{body}") }),
    }
}

fn error(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/AppError" } } } })
}

fn operation(r: &Route) -> Value {
    let params: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" },
                             "description": "A 26-character Mattermost id (or `me` for user_id), or a name" })
        })
        .collect();
    let mut responses = Map::new();
    responses.insert(
        r.status.to_string(),
        json!({ "description": "success", "content": { "application/json": { "schema": schema_ref(r.body) } } }),
    );
    responses.insert("400".into(), error("invalid id, query or body"));
    if r.auth {
        responses.insert("401".into(), error("no session, or an expired or revoked one"));
        responses.insert("403".into(), error("not allowed"));
        responses.insert("404".into(), error("not found, or not visible to the caller"));
    }
    responses.insert("429".into(), error("rate limited"));
    responses.insert("501".into(), error("a part of the Mattermost API RustChat does not implement"));
    responses.insert("default".into(), error("any other error"));
    let mut op = json!({
        "tags": [r.path.split('/').nth(1).unwrap_or("")],
        "summary": r.summary,
        "operationId": format!("{}{}", r.method, r.path.replace(['/', '{', '}', '.'], "_")),
        "parameters": params,
        "responses": responses,
    });
    if r.auth {
        op["security"] = json!([{ "bearer": [] }, { "cookie": [] }]);
    }
    op
}

fn object(props: &[&str]) -> Value {
    let properties: Map<String, Value> = props.iter().map(|p| ((*p).to_string(), json!({}))).collect();
    json!({ "type": "object", "properties": properties })
}

pub fn build() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let path = format!("/api/v4{}", r.path);
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[r.method] = operation(r);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "RustChat: Mattermost API v4 (subset)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The part of Mattermost's API v4 that Mattermost's client libraries use. Ids are 26-character Mattermost ids, times epoch milliseconds. Paths not listed answer 501 with an AppError body.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "The Token header of the login answer" },
                "cookie": { "type": "apiKey", "in": "cookie", "name": "MMAUTHTOKEN", "description": "Writes also need X-CSRF-Token (the MMCSRF cookie)" },
            },
            "schemas": {
                "AppError": object(&["id", "message", "detailed_error", "request_id", "status_code"]),
                "Status": object(&["status"]),
                "Object": { "type": "object" },
                "User": object(&["id", "username", "email", "nickname", "roles", "create_at", "update_at", "delete_at", "locale", "is_bot"]),
                "UserStatus": object(&["user_id", "status", "manual", "last_activity_at"]),
                "Team": object(&["id", "name", "display_name", "type", "description", "create_at", "update_at", "delete_at", "allow_open_invite"]),
                "Channel": object(&["id", "team_id", "type", "name", "display_name", "header", "purpose", "last_post_at", "total_msg_count", "creator_id", "create_at", "update_at", "delete_at"]),
                "ChannelMember": object(&["channel_id", "user_id", "roles", "msg_count", "mention_count", "last_viewed_at", "notify_props"]),
                "Post": object(&["id", "channel_id", "user_id", "root_id", "message", "type", "props", "create_at", "update_at", "edit_at", "delete_at", "is_pinned", "reply_count", "metadata"]),
                "PostList": object(&["order", "posts", "next_post_id", "prev_post_id", "has_next"]),
                "Reaction": object(&["user_id", "post_id", "emoji_name", "create_at"]),
                "Preference": object(&["user_id", "category", "name", "value"]),
                "UserAccessToken": object(&["id", "user_id", "description", "is_active"]),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_in_the_document_once() {
        let doc = super::build();
        for r in super::ROUTES {
            let op = &doc["paths"][format!("/api/v4{}", r.path)][r.method];
            assert!(op.is_object(), "{} {}", r.method, r.path);
            assert!(op["responses"][r.status.to_string()].is_object());
        }
    }
}
