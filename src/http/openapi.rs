//! The OpenAPI 3 document, generated from the route table itself ([`super::routes`]: a service can only
//! be registered there with its `#[utoipa::path]`), served at `/api/v1/openapi.json`. Each handler
//! declares its path and query parameters, body and answers; what holds for every operation is added
//! here once: every error answer is an [`ErrorBody`], input may be refused (400), a token may be
//! refused (401), an id may name nothing (404), and anything else (413, 415, 429, 5xx) is `default`;
//! path and query parameters, being text in a URL, are never null and have their schema inline
//! (fuzzers and generators resolve a parameter's `$ref` less reliably than a body's).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use std::collections::BTreeMap;
use utoipa::OpenApi;

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::{Content, Ref, RefOr, Response};

use crate::error::ErrorBody;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "RustChat API",
        description = "Self-hosted team chat. Errors are always {\"error\":{\"code\",\"message\"}}."
    ),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The answers every operation shares, and the error body on every error answer.
struct ErrorAnswers;

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head, &mut item.options]
        .into_iter()
        .filter_map(Option::as_mut)
}

fn is_error(status: &str) -> bool {
    status == "default" || status.starts_with('4') || status.starts_with('5')
}

impl utoipa::Modify for ErrorAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error_body = || RefOr::T(Content::new(Some(Ref::from_schema_name("ErrorBody"))));
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_ids = path.contains('{');
            for op in operations(item) {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let takes_input = op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some();
                let answers = &mut op.responses.responses;
                let mut add = |status: &str, description: &str| {
                    answers.entry(status.to_string()).or_insert_with(|| RefOr::T(Response::new(description)));
                };
                if takes_input {
                    add("400", "the input was refused: `validation_failed`, `invalid_json` or `bad_request`");
                }
                if secured {
                    add("401", "no valid token: `unauthorized` or `invalid_token`");
                }
                if has_ids {
                    add("404", "no such resource, or one the caller may not see");
                }
                add("default", "any other error: 413, 415, 429 (with Retry-After), 500, 503 (with Retry-After)");
                for (status, answer) in answers.iter_mut() {
                    let RefOr::T(answer) = answer else { continue };
                    if answer.description.is_empty() {
                        let reason = status.parse::<u16>().ok().and_then(|s| StatusCode::from_u16(s).ok());
                        answer.description = reason.and_then(|r| r.canonical_reason()).unwrap_or("").to_string();
                    }
                    if is_error(status) && answer.content.is_empty() {
                        answer.content.insert("application/json".to_string(), error_body());
                    }
                }
            }
        }
    }
}

/// Path and query parameters as they are on the wire: text, never null, schema inline.
struct PlainParameters;

impl utoipa::Modify for PlainParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.as_ref().map(|c| c.schemas.clone()).unwrap_or_default();
        for item in openapi.paths.paths.values_mut() {
            for op in operations(item) {
                for parameter in op.parameters.iter_mut().flatten() {
                    let RefOr::T(parameter) = parameter else { continue };
                    if let Some(schema) = parameter.schema.take() {
                        parameter.schema = Some(plain(schema, &components));
                    }
                }
            }
        }
    }
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
}

fn plain(schema: RefOr<Schema>, components: &BTreeMap<String, RefOr<Schema>>) -> RefOr<Schema> {
    match schema {
        RefOr::Ref(r) => match r.ref_location.rsplit('/').next().and_then(|name| components.get(name)) {
            Some(target) => plain(target.clone(), components),
            None => RefOr::Ref(r),
        },
        RefOr::T(Schema::OneOf(mut one)) => {
            one.items.retain(|s| !is_null(s));
            if one.items.len() == 1 { plain(one.items.remove(0), components) } else { RefOr::T(Schema::OneOf(one)) }
        }
        RefOr::T(Schema::Object(mut object)) => {
            if let SchemaType::Array(types) = &mut object.schema_type {
                types.retain(|t| *t != Type::Null);
                if let [only] = types.as_slice() {
                    object.schema_type = SchemaType::Type(only.clone());
                }
            }
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

/// The OpenAPI 3 document of every route, as JSON.
pub fn document() -> String {
    use utoipa_actix_web::AppExt;
    let (_, collected) = actix_web::App::new().into_utoipa_app().configure(super::routes).split_for_parts();
    let mut doc = ApiDoc::openapi();
    doc.merge(collected);
    // After the merge: the operations come from the routes.
    for modifier in [&BearerAuth as &dyn utoipa::Modify, &ErrorAnswers, &PlainParameters] {
        modifier.modify(&mut doc);
    }
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.to_json().unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// This API's OpenAPI 3 document.
#[utoipa::path(tag = "meta", responses((status = 200, description = "OpenAPI 3 JSON", content_type = "application/json", body = Object)))]
#[get("/openapi.json")]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(state.openapi_json.clone())
}
