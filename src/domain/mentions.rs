//! Mentions in a message, with Mattermost's meaning: `@username` names one user; `@channel` and
//! `@all` every member; `@here` the members online now. A mention ends at a character that cannot
//! be part of a username (a trailing `.` is punctuation, as in "thanks @bob.").

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mentions {
    /// Lower-cased usernames mentioned (whether or not such users exist).
    pub usernames: BTreeSet<String>,
    /// `@channel` or `@all`.
    pub channel: bool,
    /// `@here`.
    pub here: bool,
}

impl Mentions {
    pub fn parse(message: &str) -> Self {
        let mut m = Mentions::default();
        let bytes = message.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'@' && (i == 0 || !is_name_byte(bytes[i - 1])) {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len() && is_name_byte(bytes[end]) {
                    end += 1;
                }
                let name = message[start..end].trim_end_matches(['.', '-', '_']).to_lowercase();
                match name.as_str() {
                    "" => {}
                    "channel" | "all" => m.channel = true,
                    "here" => m.here = true,
                    _ if m.usernames.len() < 64 => {
                        m.usernames.insert(name);
                    }
                    _ => {}
                }
                i = end;
            } else {
                i += 1;
            }
        }
        m
    }

    pub fn is_empty(&self) -> bool {
        self.usernames.is_empty() && !self.channel && !self.here
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_users_and_channel_wide_mentions() {
        let m = Mentions::parse("hi @Alice and @bob.builder, thanks @carol. @channel @here email@x.com");
        assert_eq!(m.usernames.iter().map(String::as_str).collect::<Vec<_>>(), ["alice", "bob.builder", "carol"]);
        assert!(m.channel && m.here);
        assert!(Mentions::parse("@all").channel);
        assert!(Mentions::parse("no mentions at all").is_empty());
    }
}
