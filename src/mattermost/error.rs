//! Mattermost's error body, `AppError`: `{id, message, detailed_error, request_id, status_code}`.
//! Both client libraries read `message`, `id` and `status_code` from it; a v4 answer never uses the
//! v1 shape. Our errors map onto it by code; server errors keep their cause in the log, as in v1.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error::{Error, ErrorCode};

/// An error on its way to a v4 client.
#[derive(Debug)]
pub struct MmError {
    pub status: StatusCode,
    pub id: &'static str,
    pub message: String,
    pub detailed: String,
    /// Seconds a client should wait before trying again (429 and 503), sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

pub type MmResult<T> = std::result::Result<T, MmError>;

#[derive(Serialize, utoipa::ToSchema)]
pub struct AppError<'a> {
    /// A stable, dotted error id, e.g. `api.context.session_expired.app_error`.
    pub id: &'a str,
    pub message: &'a str,
    pub detailed_error: &'a str,
    pub request_id: String,
    pub status_code: u16,
}

impl MmError {
    pub fn new(status: StatusCode, id: &'static str, message: impl Into<String>) -> Self {
        Self { status, id, message: message.into(), detailed: String::new(), retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "api.context.invalid_param.app_error", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "api.context.session_expired.app_error",
            "Invalid or expired session, please login again.",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "app.context.not_found.app_error", format!("{what} not found"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "api.context.permissions.app_error", message)
    }

    pub fn not_implemented() -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "api.context.not_implemented.app_error",
            "This endpoint of the Mattermost API v4 is not implemented by RustChat (see README, Mattermost API).",
        )
    }

    pub fn body(&self) -> AppError<'_> {
        AppError {
            id: self.id,
            message: &self.message,
            detailed_error: &self.detailed,
            request_id: super::ids::random(),
            status_code: self.status.as_u16(),
        }
    }
}

impl From<Error> for MmError {
    fn from(e: Error) -> Self {
        if e.is_server_error() {
            // The v1 mapping logs the cause once and answers an opaque message: reuse it.
            let _ = ResponseError::error_response(&e);
        }
        let id = match e.code {
            ErrorCode::BadRequest | ErrorCode::ValidationFailed | ErrorCode::InvalidJson => {
                "api.context.invalid_param.app_error"
            }
            ErrorCode::Unauthorized | ErrorCode::InvalidToken => "api.context.session_expired.app_error",
            ErrorCode::Forbidden => "api.context.permissions.app_error",
            ErrorCode::NotFound => "app.context.not_found.app_error",
            ErrorCode::MethodNotAllowed => "api.context.method_not_allowed.app_error",
            ErrorCode::Conflict => "app.context.conflict.app_error",
            ErrorCode::PayloadTooLarge => "api.context.payload_too_large.app_error",
            ErrorCode::UnsupportedMediaType => "api.context.invalid_body_param.app_error",
            ErrorCode::Unprocessable => "api.context.invalid_param.app_error",
            ErrorCode::RateLimited => "api.context.rate_limited.app_error",
            ErrorCode::ServiceUnavailable
            | ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseUnavailable
            | ErrorCode::StorageUnavailable => "api.context.unavailable.app_error",
            ErrorCode::Internal => "api.context.internal.app_error",
        };
        MmError {
            status: e.code.status(),
            id,
            message: e.message.clone(),
            detailed: String::new(),
            retry_after: e.retry_after_secs(),
        }
    }
}

impl std::fmt::Display for MmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.id, self.message)
    }
}

impl ResponseError for MmError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        response.json(self.body())
    }
}

/// Answers a v4 route that exists for another method.
pub async fn method_not_allowed() -> HttpResponse {
    MmError::new(StatusCode::METHOD_NOT_ALLOWED, "api.context.method_not_allowed.app_error", "Method not allowed")
        .error_response()
}

/// Answers any `/api/v4` path RustChat does not serve: 501, so a client knows it is not a bug of its own.
pub async fn not_implemented() -> HttpResponse {
    MmError::not_implemented().error_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_errors_keep_their_status_and_message_in_mattermost_shape() {
        let e = MmError::from(Error::forbidden("only the author can edit a post"));
        let body = serde_json::to_value(e.body()).unwrap();
        assert_eq!(body["status_code"], 403);
        assert_eq!(body["id"], "api.context.permissions.app_error");
        assert_eq!(body["message"], "only the author can edit a post");
        assert_eq!(body["request_id"].as_str().unwrap().len(), 26);
        assert_eq!(body["detailed_error"], "");
    }

    #[test]
    fn a_503_or_429_tells_the_v4_client_when_to_retry() {
        let retry = |e: MmError| {
            let r = e.error_response();
            (r.status().as_u16(), r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()))
        };
        let unavailable = Error::new(ErrorCode::DatabaseUnavailable, "the database is not answering");
        assert_eq!(retry(MmError::from(unavailable)), (503, Some("5".into())));
        let mut limited = Error::new(ErrorCode::RateLimited, "too many requests");
        limited.retry_after = Some(7);
        assert_eq!(retry(MmError::from(limited)), (429, Some("7".into())));
        assert_eq!(retry(MmError::from(Error::forbidden("no"))), (403, None));
    }

    #[test]
    fn server_errors_stay_opaque() {
        let e = MmError::from(Error::internal(anyhow::anyhow!("secret=hunter2")));
        assert_eq!(e.status, 500);
        assert!(!e.message.contains("hunter2"));
    }
}
