//! Who calls a v4 route. Mattermost clients send their session token as `Authorization: Bearer` (the
//! JS client writes `BEARER`, so the scheme is matched case-insensitively) or `Token`, or a browser
//! sends the `MMAUTHTOKEN` cookie. A write authenticated by the cookie must also carry the CSRF token
//! (`X-CSRF-Token`, the value of the `MMCSRF` cookie) or it is refused: a cookie is sent by any site.
//! The query's `access_token` is not accepted (it ends up in logs).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use sha2::{Digest, Sha256};

use super::error::MmError;
use crate::auth::AuthUser;
use crate::state::AppState;

pub const TOKEN_COOKIE: &str = "MMAUTHTOKEN";
pub const USER_COOKIE: &str = "MMUSERID";
pub const CSRF_COOKIE: &str = "MMCSRF";
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// An authenticated v4 caller.
pub struct Caller {
    pub user: AuthUser,
}

impl std::ops::Deref for Caller {
    type Target = AuthUser;
    fn deref(&self) -> &AuthUser {
        &self.user
    }
}

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFrom {
    Header,
    Cookie,
}

/// A request's session token: the `Authorization` header (`Bearer` or `Token`), else the cookie.
pub fn request_token(req: &HttpRequest) -> Option<(String, TokenFrom)> {
    if let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.trim().split_once(' ')?;
        let ok = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
        return (ok && !token.trim().is_empty()).then(|| (token.trim().to_string(), TokenFrom::Header));
    }
    crate::auth::cookie(req, TOKEN_COOKIE).map(|t| (t, TokenFrom::Cookie))
}

/// The CSRF token of a session token: derived from it, so it needs no storage and no one without
/// the session token can compute it.
pub fn csrf_token(token: &str) -> String {
    hex::encode(&Sha256::new().chain_update(b"rustchat/mm-csrf\0").chain_update(token).finalize()[..16])
}

/// Whether a cookie-authenticated request may go on: reads always, writes with the right CSRF header.
fn csrf_ok(req: &HttpRequest, token: &str) -> bool {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    // Comparing digests of the values takes the same time whatever they share.
    Sha256::digest(sent.as_bytes()) == Sha256::digest(csrf_token(token).as_bytes())
}

impl FromRequest for Caller {
    type Error = MmError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, MmError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = request_token(req);
        let csrf = token.as_ref().map(|(t, from)| *from == TokenFrom::Header || csrf_ok(req, t));
        Box::pin(async move {
            let Some(state) = state else {
                return Err(crate::error::Error::internal(anyhow::anyhow!("AppState missing")).into());
            };
            let Some((token, _)) = token else {
                tracing::info!("Unauthorized v4 request: no token");
                return Err(MmError::unauthorized());
            };
            if csrf != Some(true) {
                tracing::warn!("v4 write with the session cookie but without a valid CSRF token: refused");
                return Err(MmError::new(
                    actix_web::http::StatusCode::UNAUTHORIZED,
                    "api.context.session_expired.app_error",
                    "Invalid or missing CSRF token: send the MMCSRF cookie's value as X-CSRF-Token",
                ));
            }
            let (user, _) = AuthUser::from_token_with_expiry(&state.store, &state.tokens, &token)
                .await
                .map_err(|_| MmError::unauthorized())?;
            Ok(Caller { user })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_token_comes_from_either_scheme_in_any_case_else_the_cookie() {
        let req = TestRequest::default().insert_header(("Authorization", "BEARER abc")).to_http_request();
        assert_eq!(request_token(&req), Some(("abc".into(), TokenFrom::Header)));
        let req = TestRequest::default().insert_header(("Authorization", "token abc")).to_http_request();
        assert_eq!(request_token(&req), Some(("abc".into(), TokenFrom::Header)));
        let req = TestRequest::default().insert_header(("Authorization", "Basic abc")).to_http_request();
        assert_eq!(request_token(&req), None);
        let req = TestRequest::default().insert_header(("Cookie", "a=b; MMAUTHTOKEN=xyz")).to_http_request();
        assert_eq!(request_token(&req), Some(("xyz".into(), TokenFrom::Cookie)));
    }

    #[test]
    fn cookie_writes_need_the_csrf_header() {
        let get = TestRequest::get().to_http_request();
        assert!(csrf_ok(&get, "t"));
        let bare = TestRequest::post().to_http_request();
        assert!(!csrf_ok(&bare, "t"));
        let wrong = TestRequest::post().insert_header((CSRF_HEADER, "nope")).to_http_request();
        assert!(!csrf_ok(&wrong, "t"));
        let right = TestRequest::post().insert_header((CSRF_HEADER, csrf_token("t"))).to_http_request();
        assert!(csrf_ok(&right, "t"));
        assert_ne!(csrf_token("t"), csrf_token("u"));
    }
}
