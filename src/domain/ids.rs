//! Identifiers: UUIDs (v7, so they sort by creation time), one type per entity so a channel id can
//! never be passed where a user id is meant.

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[derive(serde::Serialize, serde::Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                super::string_schema(utoipa::openapi::schema::KnownFormat::Uuid)
            }
        }

        impl utoipa::ToSchema for $name {}
    )*};
}

id_type!(
    /// A user account.
    UserId,
    /// A login session (one per device); access tokens name it, logout revokes it.
    SessionId,
    /// A team.
    TeamId,
    /// A channel: public, private, direct or group.
    ChannelId,
    /// A post (a message or a thread reply).
    PostId,
    /// An uploaded file (an attachment once a post takes it).
    FileId,
    /// An incoming webhook's public id (what logs and lists show; its secret is another value).
    HookId,
);

id_type!(
    /// An outgoing webhook.
    OutgoingHookId,
    /// A slash command of a team.
    CommandId,
    /// One call in the outgoing outbox.
    DeliveryId,
);
