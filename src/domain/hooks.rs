//! Incoming webhooks' vocabulary: the hook's secret (the credential its URL carries), the
//! Slack-compatible payload a hook accepts (the format Mattermost accepts at `/hooks/{id}`), and the
//! props a post keeps of it (Mattermost's names, so its v4 clients render them unchanged).

use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::{Error, Result};

/// Characters of a hook secret: 32 of `a-z0-9` minus look-alikes would do, but 26 base-32 letters of
/// 160 random bits read like Mattermost's hook ids and cannot be guessed.
const SECRET_BYTES: usize = 20;
const BASE32: &[u8; 32] = b"abcdefghijkmnopqrstuvwxyz2345678";

/// The secret in a hook's URL. Never logged, never stored: the store keeps [`HookSecret::hash`].
pub struct HookSecret(String);

impl HookSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        // 5 bits a character: 160 bits, 32 characters.
        let mut out = String::with_capacity(32);
        let (mut acc, mut bits) = (0u32, 0u32);
        for b in bytes {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(BASE32[((acc >> bits) & 31) as usize] as char);
            }
        }
        Self(out)
    }

    /// A presented secret. Anything not shaped like one is unknown, like a wrong one (404): the
    /// answer says nothing about why.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 32 && raw.bytes().all(|b| BASE32.contains(&b))).then(|| Self(raw.to_string()))
    }

    /// What the store keeps and looks up: a lookup by hash compares no secret byte by byte, so its
    /// timing tells an attacker nothing about the secret.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::new().chain_update(b"rustchat/incoming-hook\0").chain_update(self.0.as_bytes()).finalize())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for HookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookSecret(…)")
    }
}

/// The most attachments one payload may carry, and fields one attachment may carry.
pub const MAX_ATTACHMENTS: usize = 20;
pub const MAX_FIELDS: usize = 40;
/// Longest override username / icon URL, in characters.
pub const MAX_OVERRIDE_USERNAME: usize = 64;
pub const MAX_ICON_URL: usize = 1024;

/// A Slack-compatible incoming webhook payload. Unknown keys (`icon_emoji`, `blocks`, `mrkdwn`…) are
/// ignored, as Mattermost ignores them.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct HookPayload {
    #[serde(default, deserialize_with = "lenient_string")]
    pub text: String,
    /// Post under this name instead of the creator's (only where the site allows it).
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub username: Option<String>,
    /// Post with this picture (only where the site allows it).
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub icon_url: Option<String>,
    /// Another channel of the hook's team by name (`town` or `#town`), or `@user` for a direct message
    /// with the hook's creator; refused when the hook is locked to its channel.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub channel: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attachments: Vec<Attachment>,
}

/// A message attachment, in Slack's (and Mattermost's) names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub fallback: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub color: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub pretext: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub author_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub author_link: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub author_icon: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub title_link: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_empty")]
    pub fields: Vec<AttachmentField>,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub image_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub thumb_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub footer: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "lenient_string")]
    pub footer_icon: String,
}

/// One `title: value` pair of an attachment; `short` ones sit side by side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttachmentField {
    #[serde(default, deserialize_with = "lenient_string")]
    pub title: String,
    /// Senders put numbers here too; they are kept as text.
    #[serde(default, deserialize_with = "lenient_string")]
    pub value: String,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub short: bool,
}

impl Attachment {
    /// Every text the attachment shows, for search and for the size check.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        [&self.fallback, &self.pretext, &self.author_name, &self.title, &self.text, &self.footer]
            .into_iter()
            .map(String::as_str)
            .chain(self.fields.iter().flat_map(|f| [f.title.as_str(), f.value.as_str()]))
    }
}

impl HookPayload {
    /// Reads a payload from a request body: JSON as is, or a form whose `payload` field holds the JSON
    /// (what Slack clients send as `application/x-www-form-urlencoded`).
    pub fn from_body(form: bool, body: &[u8]) -> Result<Self> {
        let bad = |e: serde_json::Error| Error::validation(format!("payload is not valid JSON: {e}"));
        let value: serde_json::Value = if form {
            let json = url::form_urlencoded::parse(body)
                .find(|(k, _)| k == "payload")
                .map(|(_, v)| v.into_owned())
                .ok_or_else(|| Error::validation("a form body must carry the JSON payload in its `payload` field"))?;
            serde_json::from_str(&json).map_err(bad)?
        } else {
            serde_json::from_slice(body).map_err(bad)?
        };
        // serde would read a struct from an array too; a payload is an object.
        if !value.is_object() {
            return Err(Error::validation("the payload must be a JSON object"));
        }
        let payload: HookPayload =
            serde_json::from_value(value).map_err(|e| Error::validation(format!("payload: {e}")))?;
        payload.check()?;
        Ok(payload)
    }

    fn check(&self) -> Result<()> {
        if self.text.trim().is_empty() && self.attachments.is_empty() {
            return Err(Error::validation("the payload has neither text nor attachments"));
        }
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(Error::validation(format!("at most {MAX_ATTACHMENTS} attachments")));
        }
        if self.attachments.iter().any(|a| a.fields.len() > MAX_FIELDS) {
            return Err(Error::validation(format!("at most {MAX_FIELDS} fields per attachment")));
        }
        if self.username.as_ref().is_some_and(|u| u.chars().count() > MAX_OVERRIDE_USERNAME) {
            return Err(Error::validation(format!("username must be at most {MAX_OVERRIDE_USERNAME} characters")));
        }
        if self.icon_url.as_ref().is_some_and(|u| u.chars().count() > MAX_ICON_URL) {
            return Err(Error::validation(format!("icon_url must be at most {MAX_ICON_URL} characters")));
        }
        Ok(())
    }
}

/// What a post keeps besides its text, under Mattermost's prop names. Absent on ordinary posts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PostProps {
    /// `"true"` on a post made through an incoming webhook (a string, as Mattermost writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_webhook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_icon_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

// Slack senders are loose about types (`"short": "true"`, numbers as values, `null` for absent):
// these read what they send instead of refusing it.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        _ => return Err(serde::de::Error::custom("expected a string")),
    })
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    let s = lenient_string(d)?;
    Ok((!s.is_empty()).then_some(s))
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::String(s) => s.eq_ignore_ascii_case("true"),
        serde_json::Value::Null => false,
        _ => return Err(serde::de::Error::custom("expected a boolean")),
    })
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Cuts `text` into pieces of at most `max` characters, at the last line break inside each piece when
/// there is one (else at `max`), as Mattermost splits a long webhook message into several posts.
pub fn split_text(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max {
        let cut = rest.char_indices().nth(max).map(|(i, _)| i).unwrap_or(rest.len());
        let at = rest[..cut].rfind('\n').filter(|&i| i > 0).map(|i| i + 1).unwrap_or(cut);
        pieces.push(&rest[..at]);
        rest = &rest[at..];
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_32_base32_characters_that_parse_back_and_hash_the_same() {
        let s = HookSecret::generate();
        assert_eq!(s.expose().len(), 32);
        let again = HookSecret::parse(s.expose()).unwrap();
        assert_eq!(again.hash(), s.hash());
        assert_ne!(HookSecret::generate().expose(), s.expose());
        assert!(HookSecret::parse("short").is_none());
        assert!(HookSecret::parse(&"A".repeat(32)).is_none(), "upper case is not in the alphabet");
        assert!(!format!("{s:?}").contains(s.expose()));
    }

    #[test]
    fn payloads_are_read_from_json_or_a_form_and_loose_types_are_accepted() {
        let json = br#"{"text":"hi","attachments":[{"title":"t","fields":[{"title":"n","value":3,"short":"true"}]}],"icon_emoji":":x:"}"#;
        let p = HookPayload::from_body(false, json).unwrap();
        assert_eq!(p.text, "hi");
        assert_eq!(p.attachments[0].fields[0].value, "3");
        assert!(p.attachments[0].fields[0].short);
        let form = b"payload=%7B%22text%22%3A%22from+a+form%22%7D";
        assert_eq!(HookPayload::from_body(true, form).unwrap().text, "from a form");
        for (body, form, why) in [
            (&b"{"[..], false, "bad JSON"),
            (&b"{\"text\":\"  \"}"[..], false, "no text and no attachments"),
            (&b"text=hi"[..], true, "a form without payload"),
            (&b"[1]"[..], false, "not an object"),
        ] {
            assert!(HookPayload::from_body(form, body).is_err(), "{why} must be refused");
        }
    }

    #[test]
    fn long_text_splits_at_line_breaks_and_never_exceeds_the_limit() {
        assert_eq!(split_text("abc", 5), vec!["abc"]);
        assert_eq!(split_text("ab\ncdef", 5), vec!["ab\n", "cdef"]);
        assert_eq!(split_text("abcdefg", 3), vec!["abc", "def", "g"]);
        let long = "é".repeat(10);
        assert!(split_text(&long, 4).iter().all(|p| p.chars().count() <= 4));
        assert_eq!(split_text(&long, 4).concat(), long);
    }
}
