//! Authentication: argon2id passwords, JWT access tokens naming a session, rotating refresh tokens,
//! and the [`AuthUser`] extractor that every authenticated handler takes.

mod extractor;
mod password;
mod personal;
mod tokens;

pub use extractor::{AuthUser, access_cookie, bearer, cookie, cookie_write_allowed, request_login, token_claims};
pub use password::{hash_password, verify_password};
pub use personal::PersonalToken;
pub use tokens::{ACCESS_TTL, REFRESH_TTL, RefreshToken, TokenKeys, TokenPair, generate_invite_code, hash_invite};
