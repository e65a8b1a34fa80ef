//! One log line per HTTP request, and the request id that ties a request's lines together.
//! The id is taken from an incoming `X-Request-Id` when it is sane, else minted, and echoed on the
//! response. Every line logged while serving a request sits in its `http_request` span.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The matched route pattern (never the raw path: ids would explode label and log cardinality).
pub fn route_of(request: &actix_web::HttpRequest) -> String {
    request.match_pattern().unwrap_or_else(|| "unmatched".to_string())
}

/// The request's path as logged: an incoming webhook's path holds its secret, which never reaches a log.
fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/hooks/") {
        Some(_) => "/hooks/{secret}".to_string(),
        None => path.to_string(),
    }
}

pub async fn log_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_string);
    let method = request.method().to_string();
    let state = request.app_data::<actix_web::web::Data<crate::state::AppState>>().cloned();
    let ip = match &state {
        Some(state) => state.client_ip(request.request()),
        None => request.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default(),
    };
    let path = loggable_path(request.path());
    let span = tracing::info_span!("http_request", request_id = %request_id);

    // Handler errors arrive here already turned into responses; an `Err` comes only from a layer
    // below us, and actix answers it after we return, so it is logged with the status it will get.
    let (status, route, result) = match next.call(request).instrument(span.clone()).await {
        Ok(mut response) => {
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
            }
            (response.status(), route_of(response.request()), Ok(response.map_into_boxed_body()))
        }
        Err(e) => (e.as_response_error().status_code(), "unmatched".to_string(), Err(e)),
    };
    let elapsed = started.elapsed().as_secs_f64();
    let latency_ms = (elapsed * 1000.0 * 1000.0).round() / 1000.0;
    if let Some(state) = &state {
        state.metrics.record_request(&method, &route, status.as_u16(), elapsed);
    }
    let reason = status.canonical_reason().unwrap_or("");
    let code = status.as_u16();
    let _entered = span.enter();
    if status.is_server_error() {
        tracing::error!(
            ip,
            method,
            route,
            path,
            status = code,
            latency_ms,
            request_id,
            "{method} {route} {code} {reason}"
        );
    } else {
        tracing::info!(
            ip,
            method,
            route,
            path,
            status = code,
            latency_ms,
            request_id,
            "{method} {route} {code} {reason}"
        );
    }
    result
}
