//! Closed vocabularies stored as lower-case TEXT on both backends and sent as the same strings.

use serde::Serialize;
use utoipa::ToSchema;

/// Defines a lower-case text enum stored as TEXT on both backends.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                match s.as_str() {
                    $($text => Ok($name::$variant),)*
                    other => Err(format!("unknown {} '{other}'", stringify!($name))),
                }
            }
        }
    };
}

text_enum!(
    /// What kind of conversation a channel is.
    ChannelKind { Public => "public", Private => "private", Direct => "direct", Group => "group" }
);
text_enum!(
    /// A member's role in a team or channel.
    Role { Admin => "admin", Member => "member" }
);
