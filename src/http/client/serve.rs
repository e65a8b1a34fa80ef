//! Answers for the client's files: the security headers every page and asset carries, validators
//! (`ETag`, `If-None-Match` → 304), gzip when the browser accepts it, and the caching rule — files
//! under the build's version prefix are immutable, everything else is revalidated each time.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

use super::assets::Prepared;

/// No inline script or style, nothing from another origin, no framing, no plugins. Images may be
/// `blob:`: attachments are fetched with the caller's token and shown from memory.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// How long a browser may keep a file it fetched.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Caching {
    /// Named by the build version: it never changes under that name.
    Immutable,
    /// Revalidate with the ETag on every use (the page, unversioned URLs).
    Revalidate,
}

impl Caching {
    fn header(self) -> &'static str {
        match self {
            Caching::Immutable => "public, max-age=31536000, immutable",
            Caching::Revalidate => "no-cache",
        }
    }
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers().get_all(header::ACCEPT_ENCODING).filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|part| {
            let mut it = part.split(';').map(str::trim);
            let coding = it.next().unwrap_or("");
            let refused = it.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
    })
}

fn matches_etag(req: &HttpRequest, etag: &str) -> bool {
    req.headers().get_all(header::IF_NONE_MATCH).filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').map(str::trim).any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag))
    })
}

/// The headers every client answer carries.
pub fn secure(response: &mut HttpResponse) {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// A file, or 304 when the browser's copy is current.
pub fn file(req: &HttpRequest, file: &Prepared, caching: Caching) -> HttpResponse {
    let mut response = if matches_etag(req, &file.etag) {
        HttpResponse::NotModified().finish()
    } else {
        let gzip = file.gzip.as_ref().filter(|_| accepts_gzip(req));
        let mut builder = HttpResponse::Ok();
        builder.insert_header((header::CONTENT_TYPE, file.mime));
        match gzip {
            Some(z) => builder.insert_header((header::CONTENT_ENCODING, "gzip")).body(z.clone()),
            None => builder.body(file.body.clone()),
        }
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&file.etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(caching.header()));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    secure(&mut response);
    response
}
