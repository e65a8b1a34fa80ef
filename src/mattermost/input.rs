//! Reading a v4 request: ids in Mattermost's base32, JSON bodies and query strings, each refusal an
//! `AppError` 400 that names what was wrong (never the v1 error shape, never a 500).

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::{MmError, MmResult};

/// Largest JSON body a v4 route reads (as v1's: a maximal message in 4-byte characters fits).
pub const MAX_BODY: usize = 80 * 1024;

/// A path or body id: a Mattermost id (ours, encoded) or, for scripts that hold our own ids, a UUID.
pub fn id(text: &str, what: &str) -> MmResult<Uuid> {
    super::ids::decode(text)
        .or_else(|| Uuid::parse_str(text).ok())
        .ok_or_else(|| MmError::bad_request(format!("Invalid or missing {what} in request URL or body")))
}

/// The body as JSON of type `T`, at most [`MAX_BODY`] bytes.
pub async fn json<T: DeserializeOwned>(mut payload: web::Payload) -> MmResult<T> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| MmError::bad_request(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(MmError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "api.context.payload_too_large.app_error",
                format!("The body is larger than {MAX_BODY} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let mut de = serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let mut err = MmError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "api.context.invalid_body_param.app_error",
            "Invalid or missing body in request",
        );
        err.detailed = e.to_string();
        err
    })
}

/// The query string as `T`.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> MmResult<T> {
    serde_urlencoded::from_str(req.query_string()).map_err(|e| MmError::bad_request(format!("Invalid query: {e}")))
}

/// The request's user agent, kept with the session a login opens.
pub fn user_agent(req: &HttpRequest) -> &str {
    req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// A page of a list: `page` (from 0) and `per_page` (1-200, default 60), as Mattermost reads them.
#[derive(Debug, serde::Deserialize)]
pub struct Paging {
    #[serde(default)]
    pub page: u32,
    #[serde(default = "default_per_page")]
    pub per_page: u32,
}

fn default_per_page() -> u32 {
    60
}

impl Paging {
    /// Offset and limit, checked: `per_page` 1-200, and the offset bounded.
    pub fn window(&self) -> MmResult<(u32, u32)> {
        let per = self.per_page.clamp(1, crate::domain::MAX_PAGE);
        let offset = self.page.checked_mul(per).filter(|o| *o <= 100_000);
        offset.map(|o| (o, per)).ok_or_else(|| MmError::bad_request("page is too large"))
    }
}

/// 200 with a JSON body (`application/json`, exactly: both client libraries need it so).
pub fn ok(value: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

pub fn created(value: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Created().json(value)
}

/// Mattermost's answer to a write with nothing else to say.
pub fn status_ok() -> HttpResponse {
    ok(serde_json::json!({ "status": "OK" }))
}

/// A route's path segments, in order, refused (400, `AppError`) if one holds a NUL character.
fn segments(req: &HttpRequest) -> MmResult<Vec<String>> {
    req.match_info()
        .iter()
        .map(|(_, v)| {
            if v.contains('\0') {
                Err(MmError::bad_request("path segments must not contain NUL"))
            } else {
                Ok(v.to_string())
            }
        })
        .collect()
}

macro_rules! segments_extractor {
    ($(#[$doc:meta])* $name:ident($($field:ident),+)) => {
        $(#[$doc])*
        pub struct $name($(pub segments_extractor!(@string $field)),+);

        impl actix_web::FromRequest for $name {
            type Error = MmError;
            type Future = std::future::Ready<MmResult<Self>>;
            fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
                std::future::ready(segments(req).and_then(|s| {
                    let mut s = s.into_iter();
                    Ok($name($({
                        let $field = s.next().ok_or_else(|| MmError::bad_request("missing path segment"))?;
                        $field
                    }),+))
                }))
            }
        }
    };
    (@string $field:ident) => { String };
}

segments_extractor!(
    /// One path segment.
    Seg(a)
);
segments_extractor!(
    /// Two path segments.
    Seg2(a, b)
);
segments_extractor!(
    /// Three path segments.
    Seg3(a, b, c)
);

impl std::ops::Deref for Seg {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Seg {
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl Seg3 {
    pub fn into_inner(self) -> (String, String, String) {
        (self.0, self.1, self.2)
    }
}
