//! The crate's one error type and its one mapping to HTTP: `{"error":{"code","message"}}`.
//! Client errors carry a message meant for the client; server errors answer an opaque message and log
//! their cause once, here, so a cause never leaks to a client and is never logged twice.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Stable, documented error codes. Clients switch on these; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    ValidationFailed,
    InvalidJson,
    Unauthorized,
    InvalidToken,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    RateLimited,
    ServiceUnavailable,
    DatabaseBusy,
    DatabaseUnavailable,
    StorageUnavailable,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest | ErrorCode::ValidationFailed | ErrorCode::InvalidJson => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ServiceUnavailable
            | ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseUnavailable
            | ErrorCode::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        // Mirrors serde's snake_case names; a test pins them equal.
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Unprocessable => "unprocessable",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::DatabaseBusy => "database_busy",
            ErrorCode::DatabaseUnavailable => "database_unavailable",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// An error on its way to a client.
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    /// For 429 and 503: seconds until a retry can succeed (503s without one get a default).
    pub retry_after: Option<u64>,
    /// The underlying cause; logged for server errors, never sent.
    cause: Option<anyhow::Error>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None, cause: None }
    }

    pub fn with_cause(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable, message)
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorCode::Internal, "internal server error").with_cause(cause)
    }

    pub fn is_server_error(&self) -> bool {
        self.code.status().is_server_error()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause:#})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut => {
                Error::new(ErrorCode::DatabaseBusy, "pool timed out waiting for a database connection").with_cause(e)
            }
            sqlx::Error::RowNotFound => Error::not_found("resource"),
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => {
                Error::new(ErrorCode::DatabaseUnavailable, "database unavailable").with_cause(e)
            }
            // The server ended the session or will not take one: it is shutting down, restarting or
            // failing over. Not a fault of the request (a 500), but the database being away (a 503).
            sqlx::Error::Database(db) if db.code().is_some_and(|c| server_is_away(&c)) => {
                Error::new(ErrorCode::DatabaseUnavailable, "database unavailable").with_cause(e)
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => Error::conflict("already exists").with_cause(e),
            _ => Error::internal(e),
        }
    }
}

/// SQLSTATEs that say the server, not the statement, is the problem: class 08 (connection exception),
/// `57P01` admin shutdown (a fast shutdown ends every session), `57P02` crash shutdown, `57P03` cannot
/// connect now (starting up or shutting down), `57P05` idle session timeout, and `25006` read-only
/// transaction (a standby not yet promoted, or a primary just demoted by a failover).
pub fn server_is_away(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || matches!(sqlstate, "57P01" | "57P02" | "57P03" | "57P05" | "25006")
}

/// The `Retry-After` a 503 carries when its error names none: a dependency's breaker lets its next
/// probe through after 5 s (`rustchat_actors::breaker::OPEN_COOLDOWN`); a busy pool frees up sooner.
fn default_retry_after(code: ErrorCode) -> Option<u64> {
    match code {
        ErrorCode::DatabaseUnavailable | ErrorCode::StorageUnavailable | ErrorCode::ServiceUnavailable => {
            Some(rustchat_actors::breaker::OPEN_COOLDOWN.as_secs())
        }
        ErrorCode::DatabaseBusy => Some(1),
        _ => None,
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::internal(e)
    }
}

/// An error and its causes on one line, each said once: sqlx and anyhow both repeat a source's text
/// in the message wrapping it, so `{:#}` would print a database's complaint two or three times.
pub fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The body of every error answer: `{"error":{"code","message"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    pub code: ErrorCode,
    /// For people: what was wrong, naming the field; opaque for server errors.
    pub message: &'a str,
}

/// The JSON error body, for callers outside a handler (middleware, default routes).
pub fn error_response(code: ErrorCode, message: &str) -> HttpResponse {
    HttpResponse::build(code.status()).json(ErrorBody { error: ErrorDetail { code, message } })
}

impl Error {
    /// The `Retry-After` this error's answer carries, on every face: its own, else its code's default.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.or_else(|| default_retry_after(self.code))
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        if self.is_server_error() {
            let cause = self.cause.as_ref().map(|c| format!("{c:#}")).unwrap_or_default();
            tracing::error!(code = self.code.as_str(), cause, "{}", self.message);
        }
        let mut response = error_response(self.code, &self.message);
        if let Some(secs) = self.retry_after_secs()
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_strings_match_their_serialized_names() {
        use ErrorCode::*;
        for code in [
            BadRequest,
            ValidationFailed,
            InvalidJson,
            Unauthorized,
            InvalidToken,
            Forbidden,
            NotFound,
            MethodNotAllowed,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unprocessable,
            RateLimited,
            ServiceUnavailable,
            DatabaseBusy,
            DatabaseUnavailable,
            StorageUnavailable,
            Internal,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str(), "{code:?}");
        }
    }

    #[test]
    fn a_report_says_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e = anyhow::Error::new(sqlx::migrate::MigrateError::Execute(sqlx::Error::Io(io))).context("migrating");
        let text = report(&e);
        assert_eq!(text.matches("connection refused").count(), 1, "{text}");
        assert!(text.starts_with("migrating: while executing migrations"), "{text}");
    }

    #[test]
    fn a_server_going_away_is_unavailable_and_a_bad_statement_is_not() {
        for away in ["08006", "08001", "57P01", "57P02", "57P03", "57P05", "25006"] {
            assert!(server_is_away(away), "{away}");
        }
        for statement in ["23505", "42P01", "40001", "53300", "28P01"] {
            assert!(!server_is_away(statement), "{statement}");
        }
    }

    #[test]
    fn a_503_says_when_to_retry() {
        let busy = ResponseError::error_response(&Error::new(ErrorCode::DatabaseBusy, "busy"));
        assert_eq!(busy.headers().get(header::RETRY_AFTER).unwrap(), "1");
        let away = ResponseError::error_response(&Error::new(ErrorCode::DatabaseUnavailable, "away"));
        assert_eq!(away.headers().get(header::RETRY_AFTER).unwrap(), "5");
        let mut limited = Error::new(ErrorCode::RateLimited, "slow down");
        limited.retry_after = Some(7);
        assert_eq!(ResponseError::error_response(&limited).headers().get(header::RETRY_AFTER).unwrap(), "7");
        let missing = ResponseError::error_response(&Error::not_found("post"));
        assert!(missing.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn server_errors_do_not_leak_their_cause() {
        let e = Error::internal(anyhow::anyhow!("password=hunter2 in connection string"));
        let response = ResponseError::error_response(&e);
        assert_eq!(response.status(), 500);
        assert_eq!(e.to_string(), "internal server error");
    }
}
