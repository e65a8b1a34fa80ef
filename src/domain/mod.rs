//! The chat domain's vocabulary: identifiers, timestamps and user-supplied values, each parsed once at
//! the edge into a type that can only hold a valid value (`Username::parse`, `MessageBody::parse`…).
//! Plain data from here inward; the rules live in these constructors.

mod files;
pub mod hooks;
mod ids;
mod kinds;
mod mentions;
mod names;
mod site;
mod timestamp;

pub use files::FileName;
pub use ids::{ChannelId, FileId, HookId, PostId, SessionId, TeamId, UserId};
pub use ids::{CommandId, DeliveryId, OutgoingHookId};
pub use kinds::{ChannelKind, Role};
pub use mentions::Mentions;
pub use names::{DisplayName, Email, EmojiName, MessageBody, Password, Slug, Text, Username};
pub use site::{Registration, SiteConfig};
pub use timestamp::Timestamp;

/// Longest channel purpose and header, in characters, whichever face sets them.
pub const CHANNEL_PURPOSE_MAX: usize = 250;
pub const CHANNEL_HEADER_MAX: usize = 1024;

/// The longest message a post may carry, in characters.
pub const MAX_MESSAGE_CHARS: usize = 16_000;
/// The largest page any list endpoint returns.
pub const MAX_PAGE: u32 = 200;

/// An OpenAPI string schema with a well-known format, for our newtypes.
fn string_schema(
    format: utoipa::openapi::schema::KnownFormat,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(format)))
        .into()
}
