//! The cookies of an SSO cookie session (`RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY=cookie`): set when the
//! login lands and again by each refresh, read back by `POST /auth/refresh`.

use actix_web::HttpRequest;

use crate::auth::TokenPair;
use crate::state::AppState;

pub const ACCESS_COOKIE: &str = "rustchat_access";
pub const REFRESH_COOKIE: &str = "rustchat_refresh";

/// The two cookies of an SSO cookie session: the access token for every path, the refresh token only
/// for `/api/v1/auth` (where `POST /auth/refresh` reads it).
pub fn session_cookies(state: &AppState, pair: &TokenPair) -> [String; 2] {
    let secure = if state.settings.is_production() { "; Secure" } else { "" };
    [
        format!(
            "{ACCESS_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            pair.access_token, pair.expires_in
        ),
        format!(
            "{REFRESH_COOKIE}={}; Path=/api/v1/auth; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            pair.refresh_token,
            crate::auth::REFRESH_TTL.as_secs()
        ),
    ]
}

/// The refresh token a cookie session's browser holds.
pub fn refresh_cookie(req: &HttpRequest) -> Option<String> {
    crate::auth::cookie(req, REFRESH_COOKIE)
}
