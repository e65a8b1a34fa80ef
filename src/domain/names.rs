//! User-supplied values, parsed at the edge. Each `parse` trims what should be trimmed and refuses
//! what cannot be stored, with a message naming the field and the rule.

use serde::Serialize;

use super::MAX_MESSAGE_CHARS;
use crate::error::Error;

macro_rules! string_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}

string_type!(
    /// 3–22 characters of `a-z 0-9 . _ -`, starting with a letter; stored lower-case.
    Username,
    /// An email address, lower-cased; at most 254 characters.
    Email,
    /// A URL-safe name for a team or channel: 2–64 characters of `a-z 0-9 - _`.
    Slug,
    /// A human-facing name: 1–64 characters after trimming, no control characters.
    DisplayName,
    /// The text of a post: 1–16 000 characters, not only whitespace.
    MessageBody,
    /// An emoji name such as `thumbsup` or `+1`: 1–64 characters of `a-z 0-9 _ + -`.
    EmojiName,
    /// Free text such as a purpose or header, at most its field's length.
    Text,
);

/// A password as typed. Never serialized, never printed.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_BYTES: usize = 256;

    pub fn parse(raw: &str, field: &str) -> Result<Self, Error> {
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(Error::validation(format!("{field} must be at least {} characters", Self::MIN_CHARS)));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(Error::validation(format!("{field} must be at most {} bytes", Self::MAX_BYTES)));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control())
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let s = raw.trim().to_lowercase();
        let ok_len = (3..=22).contains(&s.len());
        let ok_chars = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        let ok_start = s.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        if !(ok_len && ok_chars && ok_start) {
            return Err(Error::validation(
                "username must be 3-22 characters of a-z, 0-9, '.', '_' or '-', starting with a letter",
            ));
        }
        if ["channel", "all", "here"].contains(&s.as_str()) {
            return Err(Error::validation(format!("username '{s}' is reserved")));
        }
        Ok(Self(s))
    }
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let s = raw.trim().to_lowercase();
        let valid = s.len() <= 254
            && !has_control(&s)
            && !s.contains(char::is_whitespace)
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            });
        if !valid {
            return Err(Error::validation("email must be a valid address like name@example.com"));
        }
        Ok(Self(s))
    }
}

impl Slug {
    pub fn parse(raw: &str, field: &str) -> Result<Self, Error> {
        let s = raw.trim().to_lowercase();
        let ok = (2..=64).contains(&s.len())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c));
        if !ok {
            return Err(Error::validation(format!("{field} must be 2-64 characters of a-z, 0-9, '-' or '_'")));
        }
        Ok(Self(s))
    }
}

impl DisplayName {
    pub fn parse(raw: &str, field: &str) -> Result<Self, Error> {
        let s = raw.trim();
        let n = s.chars().count();
        if n == 0 || n > 64 || has_control(s) {
            return Err(Error::validation(format!("{field} must be 1-64 characters without control characters")));
        }
        Ok(Self(s.to_string()))
    }
}

impl MessageBody {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        if raw.trim().is_empty() {
            return Err(Error::validation("message must not be empty"));
        }
        let n = raw.chars().count();
        if n > MAX_MESSAGE_CHARS {
            return Err(Error::new(
                crate::error::ErrorCode::PayloadTooLarge,
                format!("message is {n} characters; the limit is {MAX_MESSAGE_CHARS}"),
            ));
        }
        if raw.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
            return Err(Error::validation("message must not contain control characters"));
        }
        Ok(Self(raw.to_string()))
    }

    /// The text beside attached files: it may be empty (a post of files alone, as a pasted
    /// screenshot is), else the rules of `parse`.
    pub fn parse_caption(raw: &str) -> Result<Self, Error> {
        if raw.trim().is_empty() { Ok(Self(String::new())) } else { Self::parse(raw) }
    }
}

impl EmojiName {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let s = raw.trim().trim_matches(':').to_lowercase();
        let ok = (1..=64).contains(&s.len())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_+-".contains(c));
        if !ok {
            return Err(Error::validation("emoji_name must be 1-64 characters of a-z, 0-9, '_', '+' or '-'"));
        }
        Ok(Self(s))
    }
}

impl Text {
    pub fn parse(raw: &str, field: &str, max_chars: usize) -> Result<Self, Error> {
        let s = raw.trim();
        if s.chars().count() > max_chars {
            return Err(Error::validation(format!("{field} must be at most {max_chars} characters")));
        }
        if s.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Error::validation(format!("{field} must not contain control characters")));
        }
        Ok(Self(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["alice", "Bob_2", "c.d-e"] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ab", "1abc", "has space", "ünï", "all", &"x".repeat(23)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Username::parse(" Alice ").unwrap().as_str(), "alice");
    }

    #[test]
    fn messages_are_limited_to_16000_characters() {
        assert!(MessageBody::parse(&"é".repeat(16_000)).is_ok());
        let e = MessageBody::parse(&"a".repeat(16_001)).unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::PayloadTooLarge);
        assert!(MessageBody::parse("   \n ").is_err());
        assert_eq!(MessageBody::parse_caption("   \n ").unwrap().as_str(), "");
        assert!(MessageBody::parse_caption("a\u{7}b").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(Email::parse(" A@Example.COM ").unwrap().as_str(), "a@example.com");
        for bad in ["a", "a@b", "@b.c", "a@.c", "a b@c.d"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
