//! The HTTP surface: the route table under `/api/v1`, and the JSON error answers for what never reaches
//! a handler (unknown routes, bodies that do not parse, wrong methods).

pub mod health;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::{Error, ErrorCode, error_response};

/// Largest JSON body any endpoint accepts.
pub const MAX_JSON_BODY: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(path_config())
        .app_data(query_config())
        .service(
            web::scope("/api/v1")
                .service(health::live)
                .service(health::ready),
        );
}

/// Answers anything no route matched.
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    let _ = request;
    error_response(ErrorCode::NotFound, "no such endpoint")
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BODY)
        .error_handler(|err, _| {
            use actix_web::error::JsonPayloadError as E;
            let e = match &err {
                E::OverflowKnownLength { .. } | E::Overflow { .. } => Error::new(
                    ErrorCode::PayloadTooLarge,
                    format!("request body is larger than {MAX_JSON_BODY} bytes"),
                ),
                E::ContentType => Error::new(
                    ErrorCode::UnsupportedMediaType,
                    "expected Content-Type: application/json",
                ),
                E::Deserialize(e) if e.is_data() => {
                    Error::new(ErrorCode::ValidationFailed, e.to_string())
                }
                other => Error::new(
                    ErrorCode::InvalidJson,
                    format!("request body is not valid JSON: {other}"),
                ),
            };
            e.into()
        })
}

fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _| {
        Error::new(ErrorCode::NotFound, format!("invalid path: {err}")).into()
    })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        Error::new(ErrorCode::ValidationFailed, format!("invalid query: {err}")).into()
    })
}
