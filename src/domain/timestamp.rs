//! `Timestamp`: a UTC instant with microsecond precision. PostgreSQL stores it as `timestamptz`;
//! SQLite as fixed-width RFC 3339 text (`2026-11-28T04:09:00.123456Z`), so that text order is time
//! order there too and keyset pagination behaves the same on both backends.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

const SQLITE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// How far this node's clock is behind the database's, in microseconds (negative: ahead). Zero unless
/// [`crate::clock`] found the node's clock off by more than it tolerates: then every instant a node
/// stamps (posts, sessions, tokens, rate limits) is on the database's clock, the one seq already
/// comes from, so a node whose clock is minutes off still orders and expires things as the others do.
static CLOCK_OFFSET_MICROS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

impl Timestamp {
    /// Now, on the cluster's clock (the database's; see [`CLOCK_OFFSET_MICROS`]).
    pub fn now() -> Self {
        let offset = CLOCK_OFFSET_MICROS.load(std::sync::atomic::Ordering::Relaxed);
        Self::from(OffsetDateTime::now_utc() + time::Duration::microseconds(offset))
    }

    /// Sets the correction [`Timestamp::now`] adds to this node's clock.
    pub fn set_clock_offset(offset: time::Duration) {
        let micros = i64::try_from(offset.whole_microseconds()).unwrap_or(0);
        CLOCK_OFFSET_MICROS.store(micros, std::sync::atomic::Ordering::Relaxed);
    }

    /// The correction [`Timestamp::now`] adds to this node's clock.
    pub fn clock_offset() -> time::Duration {
        time::Duration::microseconds(CLOCK_OFFSET_MICROS.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// This instant (on the cluster's clock) as this node's own clock reads it, for deadlines measured
    /// against `SystemTime::now()` (a socket's token expiry).
    pub fn on_node_clock(self) -> std::time::SystemTime {
        std::time::SystemTime::from(self.0 - Self::clock_offset())
    }

    /// Now on the cluster's clock in unix milliseconds, for Redis scores and rate-limit times.
    pub fn unix_millis_now() -> i128 {
        Self::now().0.unix_timestamp_nanos() / 1_000_000
    }

    pub fn inner(self) -> OffsetDateTime {
        self.0
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// Parses RFC 3339 (any offset), normalised to UTC.
    pub fn parse(text: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(text, &Rfc3339).map(Self::from)
    }

    pub fn plus(self, d: std::time::Duration) -> Self {
        Self::from(self.0 + d)
    }

    fn sqlite_text(&self) -> String {
        // unwrap: formatting a UTC datetime with a fixed description cannot fail
        #[allow(clippy::unwrap_used)]
        self.0.format(SQLITE_FORMAT).unwrap()
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        let t = t.to_offset(UtcOffset::UTC);
        // PostgreSQL keeps microseconds; truncate so a value reads back equal on both backends.
        let micros = t.microsecond();
        Self(t.replace_nanosecond(micros * 1000).unwrap_or(t))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.format(&Rfc3339).map_err(|_| std::fmt::Error)?)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::string_schema(utoipa::openapi::schema::KnownFormat::DateTime)
    }
}
impl utoipa::ToSchema for Timestamp {}

impl Type<Postgres> for Timestamp {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(&self, buf: &mut sqlx::postgres::PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::from(<OffsetDateTime as Decode<Postgres>>::decode(value)?))
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut sqlx::sqlite::SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(self.sqlite_text(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(Timestamp::parse(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_text_sorts_like_time() {
        let a = Timestamp::parse("2026-11-28T04:09:05Z").unwrap();
        let b = Timestamp::parse("2026-11-28T04:09:05.5Z").unwrap();
        assert!(a < b);
        assert!(a.sqlite_text() < b.sqlite_text(), "{} vs {}", a.sqlite_text(), b.sqlite_text());
        assert_eq!(Timestamp::parse(&a.sqlite_text()).unwrap(), a);
    }
}
