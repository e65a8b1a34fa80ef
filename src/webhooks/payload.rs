//! What an outgoing webhook and a slash command send, in Mattermost's field names so integrations
//! written for it work unchanged, and the signature that lets a receiver check a body came from us:
//! `X-RustChat-Signature: sha256=<hex HMAC-SHA256 of the exact body, keyed with the token>`.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-RustChat-Signature";
pub const JSON: &str = "application/json";
pub const FORM: &str = "application/x-www-form-urlencoded";

/// The body of an outgoing webhook call (Mattermost's `OutgoingWebhookPayload`).
#[derive(Debug, Serialize)]
pub struct HookPayload<'a> {
    pub token: &'a str,
    pub team_id: String,
    pub team_domain: &'a str,
    pub channel_id: String,
    pub channel_name: &'a str,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub user_id: String,
    pub user_name: &'a str,
    pub post_id: String,
    pub text: &'a str,
    pub trigger_word: &'a str,
}

/// The body of a slash command call (Mattermost's command request fields).
#[derive(Debug, Serialize)]
pub struct CommandPayload<'a> {
    pub token: &'a str,
    pub team_id: String,
    pub team_domain: &'a str,
    pub channel_id: String,
    pub channel_name: &'a str,
    pub user_id: String,
    pub user_name: &'a str,
    /// `/trigger`.
    pub command: String,
    pub text: &'a str,
    pub response_url: String,
    pub trigger_id: String,
}

/// Encodes `payload` as `content_type` says (JSON, or a form for anything else).
pub fn encode<T: Serialize>(payload: &T, content_type: &str) -> String {
    if content_type == JSON {
        serde_json::to_string(payload).unwrap_or_default()
    } else {
        serde_urlencoded::to_string(payload).unwrap_or_default()
    }
}

/// `sha256=<hex>` of `body` keyed with `token`.
pub fn sign(token: &str, body: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(token.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What an integration may answer (Mattermost's `CommandResponse`, which outgoing webhooks share).
#[derive(Debug, Default, Deserialize)]
pub struct Response {
    #[serde(default)]
    pub text: String,
    /// `in_channel` or `ephemeral` (commands; the default is ephemeral, as Mattermost's).
    #[serde(default)]
    pub response_type: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

impl Response {
    /// Reads an answer body: JSON with `text`, or (commands) plain text. `None` when there is nothing
    /// to show.
    pub fn read(body: &[u8], plain_allowed: bool) -> Option<Response> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        match serde_json::from_slice::<Response>(body) {
            Ok(r) if !r.text.trim().is_empty() => Some(r),
            Ok(_) => None,
            Err(_) if plain_allowed => {
                let text = String::from_utf8_lossy(body).trim().to_string();
                Some(Response { text, ..Response::default() })
            }
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_body() {
        // RFC 4231 test case 2.
        let sig = sign("Jefe", "what do ya want for nothing?");
        assert_eq!(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn answers_with_text_are_read_and_empty_ones_are_not() {
        assert_eq!(Response::read(br#"{"text":"hi"}"#, false).map(|r| r.text), Some("hi".into()));
        assert!(Response::read(br#"{"text":""}"#, false).is_none());
        assert!(Response::read(b"", true).is_none());
        assert!(Response::read(b"not json", false).is_none());
        assert_eq!(Response::read(b"plain", true).map(|r| r.text), Some("plain".into()));
    }
}
