//! Tokens. An access token is a JWT (HS256, signed with `RUSTCHAT_JWT_SECRET`) naming the user and
//! the session; it lives 15 minutes and every use re-checks its session, so logout and password
//! changes take effect at once on every node. A refresh token is `<session id>.<secret>`, opaque to
//! clients; only the SHA-256 of the secret is stored, and each use replaces it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{SessionId, Timestamp, UserId};
use crate::error::{Error, Result};

pub const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
pub const REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
const ISSUER: &str = "rustchat";
/// Seconds a token is still accepted past its `exp`, for clocks a little apart.
const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub sid: SessionId,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

impl Claims {
    /// The instant `exp` names, as this node's own clock reads it (`exp` is on the cluster's clock;
    /// a socket's deadline is measured against `SystemTime::now()`).
    pub fn expires_at(&self) -> std::time::SystemTime {
        match time::OffsetDateTime::from_unix_timestamp(self.exp) {
            Ok(at) => Timestamp::from(at).on_node_clock(),
            Err(_) => std::time::SystemTime::UNIX_EPOCH,
        }
    }
}

/// Signing and verification keys derived from the JWT secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The previous secret during a rotation: verifies, never signs.
    previous: Option<DecodingKey>,
    /// Printable ids of the secrets, which sessions record.
    current_id: String,
    previous_id: Option<String>,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8], previous: Option<&[u8]>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        // `exp` is checked in `verify_access`, on the cluster's clock (`Timestamp::now`), not by the
        // library on this node's own: a node whose clock is off still expires tokens as the others do.
        validation.validate_exp = false;
        validation.leeway = LEEWAY_SECONDS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            previous: previous.map(DecodingKey::from_secret),
            current_id: secret_id(secret),
            previous_id: previous.map(secret_id),
            validation,
        }
    }

    /// The current and previous secrets' ids.
    pub fn secret_ids(&self) -> (&str, Option<&str>) {
        (&self.current_id, self.previous_id.as_deref())
    }

    pub fn issue_access(&self, user: UserId, session: SessionId) -> Result<String> {
        self.issue_access_expiring(user, session, Timestamp::now().unix_seconds() + ACCESS_TTL.as_secs() as i64)
    }

    /// An access token that expires at `exp` (unix seconds).
    pub fn issue_access_expiring(&self, user: UserId, session: SessionId, exp: i64) -> Result<String> {
        let claims = Claims { sub: user, sid: session, iat: Timestamp::now().unix_seconds(), exp, iss: ISSUER.into() };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(Error::internal)
    }

    /// The claims of a valid token; the reason it is invalid otherwise (for the log, not the client).
    pub fn verify_access(&self, token: &str) -> std::result::Result<Claims, String> {
        let claims = self.verify_signature(token)?;
        if claims.exp.saturating_add(LEEWAY_SECONDS as i64) < Timestamp::now().unix_seconds() {
            return Err("ExpiredSignature".into());
        }
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> std::result::Result<Claims, String> {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(d) => Ok(d.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => match &self.previous {
                Some(previous) => jsonwebtoken::decode::<Claims>(token, previous, &self.validation)
                    .map(|d| d.claims)
                    .map_err(|e| format!("{e} (checked the current and the previous secret)")),
                None => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A printable id for a JWT secret (a digest: reveals nothing about it).
fn secret_id(secret: &[u8]) -> String {
    hex::encode(&Sha256::new().chain_update(b"rustchat/jwt-secret-id\0").chain_update(secret).finalize()[..8])
}

/// A refresh token as handed to a client.
pub struct RefreshToken {
    pub session: SessionId,
    pub secret: String,
}

impl RefreshToken {
    /// A fresh secret for `session`.
    pub fn generate(session: SessionId) -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self { session, secret: URL_SAFE_NO_PAD.encode(bytes) }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let (session, secret) = text.trim().split_once('.')?;
        let session = session.parse().ok()?;
        (secret.len() == 43).then(|| Self { session, secret: secret.to_string() })
    }

    pub fn hash(&self) -> String {
        hash_secret(&self.secret)
    }

    pub fn to_text(&self) -> String {
        format!("{}.{}", self.session, self.secret)
    }
}

/// SHA-256 hex of a high-entropy secret (refresh tokens, invite codes): such secrets need no salt.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// What login, registration and refresh answer with.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub token_type: &'static str,
    pub user: crate::store::models::User,
}

/// An invite code as stored (codes are random, so a plain SHA-256 suffices).
pub fn hash_invite(code: &str) -> String {
    hash_secret(code.trim())
}

/// A fresh invite code to hand out.
pub fn generate_invite_code() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
