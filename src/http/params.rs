//! `Path<T>` and `Query<T>`: the extractors every handler uses for path parameters and query strings.
//! Like actix's, but deserialized through [`super::input`] (no NUL character gets through) and with
//! errors that name the parameter: a path segment that does not parse is 404 (the resource cannot
//! exist), one holding a NUL is 400 `validation_failed`; a query that does not parse is 400.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use super::input::{self, NUL_REFUSED};
use crate::error::{Error, ErrorCode};

/// Path parameters (`{channel_id}`…), deserialized as actix's `web::Path` does.
pub struct Path<T>(pub T);

/// The query string, deserialized as actix's `web::Query` does (`application/x-www-form-urlencoded`).
pub struct Query<T>(pub T);

impl<T> Path<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Path<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Path<T> {
    type Error = Error;
    type Future = std::future::Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let de = actix_router::PathDeserializer::new(req.match_info());
        std::future::ready(input::deserialize(de).map(Path).map_err(|refused| {
            if !refused.nul {
                return Error::not_found("resource");
            }
            // A single value or a tuple is tracked by position; the route names it.
            let names: Vec<&str> = req.match_info().iter().map(|(name, _)| name).collect();
            let name = match refused.path.iter().next() {
                None => names.first().copied().unwrap_or("path"),
                Some(Segment::Seq { index }) => names.get(*index).copied().unwrap_or("path"),
                Some(_) => return Error::validation(format!("{}: {NUL_REFUSED}", refused.path)),
            };
            Error::validation(format!("{name}: {NUL_REFUSED}"))
        }))
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = Error;
    type Future = std::future::Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(req.query_string().as_bytes()));
        std::future::ready(input::deserialize(de).map(Query).map_err(|refused| {
            Error::new(ErrorCode::ValidationFailed, format!("invalid query: {}", refused.message()))
        }))
    }
}
