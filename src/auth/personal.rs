//! Personal access tokens as handed out: `rcpat_<session id, 32 hex>_<secret, 43 base64url>`. The
//! prefix tells them from JWTs at a glance (and lets secret scanners find a leaked one); the session id
//! finds the row; only the SHA-256 of the secret is stored, which suffices for 256 random bits (no
//! salt, no slow hash: it is checked on every request).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use super::tokens::hash_secret;
use crate::domain::SessionId;

const PREFIX: &str = "rcpat_";
const SECRET_CHARS: usize = 43;

/// A personal access token: the session it opens and its secret.
pub struct PersonalToken {
    pub session: SessionId,
    secret: String,
}

impl PersonalToken {
    /// A fresh secret for `session`.
    pub fn generate(session: SessionId) -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self { session, secret: URL_SAFE_NO_PAD.encode(bytes) }
    }

    /// Whether `text` is meant as a personal access token (rather than a JWT).
    pub fn looks_like(text: &str) -> bool {
        text.starts_with(PREFIX)
    }

    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.trim().strip_prefix(PREFIX)?;
        let (id, secret) = (rest.get(..32)?, rest.get(32..)?);
        let secret = secret.strip_prefix('_')?;
        let session = uuid::Uuid::try_parse(id).ok().map(SessionId)?;
        let well_formed =
            secret.len() == SECRET_CHARS && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self { session, secret: secret.to_string() })
    }

    pub fn hash(&self) -> String {
        hash_secret(&self.secret)
    }

    /// The text the owner sees once.
    pub fn to_text(&self) -> String {
        format!("{PREFIX}{}_{}", self.session.0.simple(), self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_reads_back_and_a_changed_one_does_not() {
        let token = PersonalToken::generate(SessionId::new());
        let text = token.to_text();
        assert!(PersonalToken::looks_like(&text));
        let parsed = PersonalToken::parse(&text).unwrap();
        assert_eq!((parsed.session, parsed.hash()), (token.session, token.hash()));
        assert!(PersonalToken::parse(&text[..text.len() - 1]).is_none());
        assert!(PersonalToken::parse(&text.replacen("rcpat_", "rcpat", 1)).is_none());
        assert!(PersonalToken::parse("rcpat_").is_none());
        assert!(PersonalToken::parse("rcpat_ééééééééééééééééééééééééééééééééé").is_none());
    }
}
