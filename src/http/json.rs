//! `Json<T>`: the request-body extractor every handler uses. Like actix's, but its errors name the
//! field that failed (`username: invalid type: integer, expected a string`) and map onto our error
//! codes: 413 over the size limit, 415 without `Content-Type: application/json`, 400 `invalid_json`
//! for syntax, 400 `validation_failed` for a well-formed body of the wrong shape or with a NUL
//! character in any string (see [`super::input`]).

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use super::MAX_JSON_BODY;
use crate::error::{Error, ErrorCode};

pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(Error::new(ErrorCode::UnsupportedMediaType, "expected Content-Type: application/json"));
            }
            let bytes = body.await.map_err(|e| {
                let too_large = e
                    .as_error::<actix_web::error::PayloadError>()
                    .is_some_and(|p| matches!(p, actix_web::error::PayloadError::Overflow));
                if too_large || e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Error::new(ErrorCode::PayloadTooLarge, format!("request body is larger than {MAX_JSON_BODY} bytes"))
                } else {
                    Error::new(ErrorCode::BadRequest, format!("cannot read the request body: {e}"))
                }
            })?;
            let mut de = serde_json::Deserializer::from_slice(&bytes);
            let value = super::input::deserialize(&mut de).map_err(|refused| {
                if refused.nul || refused.error.is_data() {
                    Error::new(ErrorCode::ValidationFailed, refused.message())
                } else {
                    Error::new(ErrorCode::InvalidJson, format!("request body is not valid JSON: {}", refused.message()))
                }
            })?;
            de.end().map_err(|e| Error::new(ErrorCode::InvalidJson, format!("request body is not valid JSON: {e}")))?;
            Ok(Json(value))
        })
    }
}
