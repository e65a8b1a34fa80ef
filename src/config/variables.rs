//! Every `RUSTCHAT_*` variable the node reads, in one table: its name, the form it accepts (with its
//! range), its typed default, its meaning and whether it is a secret. The parser reads ranges and
//! defaults from here; unknown-variable warnings, `--check-config` and the README's configuration
//! table are generated from it, so a variable cannot say one thing in one place and another elsewhere.

use std::time::Duration;

use super::kind::{DefaultValue as D, Kind, Unit, Variable};
use super::secrets::MIN_SECRET_BYTES;

/// Arms the test fault endpoint (the debug-only `faults` route of the HTTP face). Not in the table: it exists only in debug builds
/// and is refused in a release build and in production, so it is no operator's setting.
pub const TEST_FAULTS: &str = "RUSTCHAT_TEST_FAULTS";

const fn var(name: &'static str, kind: Kind, default: D, meaning: &'static str) -> Variable {
    Variable { name, kind, default, meaning, secret: false }
}

const fn secret(name: &'static str, kind: Kind, default: D, meaning: &'static str) -> Variable {
    Variable { name, kind, default, meaning, secret: true }
}

const fn integer(min: i64, max: i64) -> Kind {
    Kind::Integer { min, max }
}

const fn seconds(min: u64, max: u64) -> Kind {
    Kind::Duration { unit: Unit::Seconds, min, max }
}

/// Names that appear in logs, metrics and Redis keys: `[A-Za-z0-9-_.]`.
const LABEL: Kind =
    Kind::Name { max_len: 64, chars: "[A-Za-z0-9-_.]", allowed: |c| c.is_ascii_alphanumeric() || "-_.".contains(c) };
const KEY: Kind = Kind::SecretBytes { min_bytes: MIN_SECRET_BYTES };
const HTTP_URL: Kind = Kind::Url(&["https", "http"]);

pub const ENVIRONMENT: Variable = var(
    "RUSTCHAT_ENVIRONMENT",
    Kind::Choice(&["development", "production"]),
    D::Text("development"),
    "`development` or `production` (production demands real secrets and PostgreSQL)",
);
pub const SERVER_HOST: Variable =
    var("RUSTCHAT_SERVER_HOST", Kind::Address, D::Text("0.0.0.0"), "address to listen on");
pub const SERVER_PORT: Variable = var("RUSTCHAT_SERVER_PORT", Kind::Port, D::Integer(3000), "port to listen on");
pub const SERVER_WORKERS: Variable =
    var("RUSTCHAT_SERVER_WORKERS", integer(1, 256), D::Derived("number of cores"), "HTTP worker threads");
pub const NODE_ID: Variable =
    var("RUSTCHAT_NODE_ID", LABEL, D::Derived("the hostname"), "this node's name in the cluster, logs and metrics");
pub const SITE_URL: Variable = var(
    "RUSTCHAT_SITE_URL",
    HTTP_URL,
    D::None,
    "public https URL of the site (SSO redirect URIs are built from it); production warns when unset",
);
pub const DATABASE_URL: Variable = secret(
    "RUSTCHAT_DATABASE_URL",
    Kind::Url(&["postgres", "postgresql", "sqlite"]),
    D::Derived("SQLite file `<data dir>/rustchat.db`"),
    "`postgres://…` for PostgreSQL, `sqlite://path` for an embedded file",
);
pub const DB_MAX_CONNECTIONS: Variable = var(
    "RUSTCHAT_DB_POOL__MAX_CONNECTIONS",
    integer(1, 10_000),
    D::Integer(10),
    "most database connections this node opens",
);
pub const DB_MIN_CONNECTIONS: Variable =
    var("RUSTCHAT_DB_POOL__MIN_CONNECTIONS", integer(0, 10_000), D::Integer(1), "connections kept open when idle");
pub const DB_ACQUIRE_TIMEOUT: Variable = var(
    "RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS",
    Kind::Duration { unit: Unit::Milliseconds, min: 10, max: 600_000 },
    D::Duration(Duration::from_millis(5000)),
    "how long a request waits for a connection before it gets 503 and the log says `pool timed out`; at \
     start, how long a refused connection is retried (a database still starting)",
);
pub const AUTO_MIGRATE: Variable = var(
    "RUSTCHAT_AUTO_MIGRATE",
    Kind::Bool,
    D::Derived("`true` in development, `false` in production"),
    "apply pending migrations at start",
);
pub const REDIS_URL: Variable = secret(
    "RUSTCHAT_REDIS_URL",
    Kind::UrlList(&["redis", "rediss"]),
    D::None,
    "`redis://…`; unset runs a single node with an in-process bus; several comma-separated URLs are a Redis \
     Cluster's seed nodes",
);
pub const REDIS_PREFIX: Variable =
    var("RUSTCHAT_REDIS_PREFIX", LABEL, D::Text("rustchat"), "prefix of every Redis key and pub/sub topic");
pub const REDIS_CLUSTER: Variable = var(
    "RUSTCHAT_REDIS_CLUSTER",
    Kind::Bool,
    D::Bool(false),
    "`RUSTCHAT_REDIS_URL` is a Redis Cluster (7+; implied by several URLs): keys and sharded pub/sub spread over its \
     shards",
);
pub const JWT_SECRET: Variable = secret(
    "RUSTCHAT_JWT_SECRET",
    KEY,
    D::Derived("generated in development"),
    "signs access tokens; base64 (as `openssl rand -base64 48` prints) or raw",
);
pub const ENCRYPTION_KEY: Variable = secret(
    "RUSTCHAT_ENCRYPTION_KEY",
    KEY,
    D::Derived("generated in development"),
    "encrypts credentials stored in the database; same form, must differ from the JWT secret",
);
pub const JWT_SECRET_PREVIOUS: Variable = secret(
    "RUSTCHAT_JWT_SECRET_PREVIOUS",
    KEY,
    D::None,
    "during a rotation: the previous JWT secret; tokens it signed stay valid until they expire",
);
pub const ENCRYPTION_KEY_PREVIOUS: Variable = secret(
    "RUSTCHAT_ENCRYPTION_KEY_PREVIOUS",
    KEY,
    D::None,
    "during a rotation: the previous encryption key; stored secrets are re-encrypted with the new key at start",
);
pub const OIDC_PROVIDER_ID: Variable = var(
    "RUSTCHAT_OIDC_PROVIDER_ID",
    Kind::Name {
        max_len: 32,
        chars: "[a-z0-9-]",
        allowed: |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
    },
    D::Text("sso"),
    "URL name of the OpenID Connect provider (`/api/v1/auth/oidc/<id>/login`)",
);
pub const OIDC_ISSUER: Variable = var(
    "RUSTCHAT_OIDC_ISSUER",
    HTTP_URL,
    D::None,
    "issuer URL of an OpenID Connect provider (Google, Keycloak, Okta, Azure AD…); https in production",
);
pub const OIDC_CLIENT_ID: Variable =
    var("RUSTCHAT_OIDC_CLIENT_ID", Kind::Text, D::None, "client id registered with the provider");
pub const OIDC_CLIENT_SECRET: Variable =
    secret("RUSTCHAT_OIDC_CLIENT_SECRET", Kind::Text, D::None, "client secret registered with the provider");
pub const OIDC_SCOPES: Variable =
    var("RUSTCHAT_OIDC_SCOPES", Kind::Words, D::Text("openid email profile"), "scopes to request");
pub const OIDC_DISPLAY_NAME: Variable =
    var("RUSTCHAT_OIDC_DISPLAY_NAME", Kind::Text, D::Text("Single sign-on"), "the label clients show for the provider");
pub const OIDC_SIGNING_ALGS: Variable = var(
    "RUSTCHAT_OIDC_SIGNING_ALGS",
    Kind::Words,
    D::Text(super::DEFAULT_SIGNING_ALGS),
    "ID token signature algorithms accepted, whatever a provider's discovery lists; symmetric HS256/384/512 only if listed here",
);
pub const OIDC_LINK_EMAIL_DOMAINS: Variable = var(
    "RUSTCHAT_OIDC_LINK_EMAIL_DOMAINS",
    Kind::Words,
    D::None,
    "email domains whose provider-verified addresses link a first SSO login to the existing account with that email (`*`: any; never a system admin's); empty: never, users link a provider from their account",
);
pub const OAUTH_TOKEN_DELIVERY: Variable = var(
    "RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY",
    Kind::Choice(&["cookie", "code"]),
    D::Text("cookie"),
    "how SSO logins hand over tokens: `cookie` or `code` (one-time exchange code)",
);
pub const RATE_LIMIT_AUTH: Variable = var(
    "RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE",
    integer(1, 1_000_000),
    D::Integer(10),
    "auth requests per client IP per minute",
);
pub const RATE_LIMIT_WS: Variable = var(
    "RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE",
    integer(1, 1_000_000),
    D::Integer(30),
    "WebSocket connects per client IP per minute",
);
pub const TRUSTED_PROXIES: Variable = var(
    "RUSTCHAT_SECURITY_TRUSTED_PROXIES",
    Kind::Networks,
    D::None,
    "IPs/CIDRs of load balancers whose `X-Forwarded-For` is believed (otherwise the peer address is the client)",
);
pub const WS_MAX_QUEUED_FRAMES: Variable = var(
    "RUSTCHAT_WS_MAX_QUEUED_FRAMES",
    integer(16, 1_000_000),
    D::Integer(1024),
    "frames a WebSocket may have waiting before it is closed as a slow consumer (close code 4008)",
);
pub const WS_MAX_QUEUED_BYTES: Variable = var(
    "RUSTCHAT_WS_MAX_QUEUED_BYTES",
    integer(16_384, 1 << 30),
    D::Integer(4 << 20),
    "bytes a WebSocket may have waiting before it is closed as a slow consumer",
);
pub const WS_PRESENCE_MAX_MEMBERS: Variable = var(
    "RUSTCHAT_WS_PRESENCE_MAX_MEMBERS",
    integer(0, 1_000_000),
    D::Integer(100),
    "channels with more members carry no `presence` events (one status change would be a frame per member); \
     clients ask `POST /api/v1/users/status/ids` instead",
);
pub const WS_PING: Variable = var(
    "RUSTCHAT_WS_PING_SECONDS",
    seconds(1, 3600),
    D::Duration(Duration::from_secs(15)),
    "how often the server pings each WebSocket",
);
pub const WS_CLIENT_TIMEOUT: Variable = var(
    "RUSTCHAT_WS_CLIENT_TIMEOUT_SECONDS",
    seconds(2, 7200),
    D::Duration(Duration::from_secs(45)),
    "a WebSocket silent this long (no pong, no message) is closed; must exceed the ping interval",
);
pub const DATA_DIR: Variable = var(
    "RUSTCHAT_DATA_DIR",
    Kind::Path,
    D::Text("./data"),
    "embedded database and generated development secrets (`secrets.json`, mode 0600)",
);
pub const LOG_LEVEL: Variable = var(
    "RUSTCHAT_LOG_LEVEL",
    Kind::LogFilter,
    D::Text("info"),
    "a tracing filter, e.g. `info` or `rustchat=debug,info`",
);
pub const LOG_FORMAT: Variable = var(
    "RUSTCHAT_LOG_FORMAT",
    Kind::Choice(&["json", "pretty"]),
    D::Derived("`json` (`pretty` on a terminal in development)"),
    "`json` or `pretty`",
);
pub const SHUTDOWN_DRAIN: Variable = var(
    "RUSTCHAT_SHUTDOWN_DRAIN_SECONDS",
    seconds(0, 3600),
    D::Duration(Duration::ZERO),
    "after SIGTERM, keep serving this long with readiness 503 so balancers move away",
);
pub const SHUTDOWN_GRACE: Variable = var(
    "RUSTCHAT_SHUTDOWN_GRACE_SECONDS",
    seconds(0, 3600),
    D::Duration(Duration::from_secs(30)),
    "then wait at most this long for in-flight requests",
);

/// The reference table. Order is the order `--check-config` and the README list them.
pub const VARIABLES: &[Variable] = &[
    ENVIRONMENT,
    SERVER_HOST,
    SERVER_PORT,
    SERVER_WORKERS,
    NODE_ID,
    SITE_URL,
    DATABASE_URL,
    DB_MAX_CONNECTIONS,
    DB_MIN_CONNECTIONS,
    DB_ACQUIRE_TIMEOUT,
    AUTO_MIGRATE,
    REDIS_URL,
    REDIS_PREFIX,
    REDIS_CLUSTER,
    JWT_SECRET,
    ENCRYPTION_KEY,
    JWT_SECRET_PREVIOUS,
    ENCRYPTION_KEY_PREVIOUS,
    OIDC_PROVIDER_ID,
    OIDC_ISSUER,
    OIDC_CLIENT_ID,
    OIDC_CLIENT_SECRET,
    OIDC_SCOPES,
    OIDC_DISPLAY_NAME,
    OIDC_SIGNING_ALGS,
    OIDC_LINK_EMAIL_DOMAINS,
    OAUTH_TOKEN_DELIVERY,
    RATE_LIMIT_AUTH,
    RATE_LIMIT_WS,
    super::files::RATE_LIMIT_UPLOADS,
    TRUSTED_PROXIES,
    WS_MAX_QUEUED_FRAMES,
    WS_MAX_QUEUED_BYTES,
    WS_PRESENCE_MAX_MEMBERS,
    WS_PING,
    WS_CLIENT_TIMEOUT,
    DATA_DIR,
    super::files::FILES_STORAGE,
    super::files::FILES_DIR,
    super::files::FILES_S3_BUCKET,
    super::files::FILES_S3_ENDPOINT,
    super::files::FILES_S3_REGION,
    super::files::FILES_S3_PATH_STYLE,
    super::files::FILES_S3_ACCESS_KEY_ID,
    super::files::FILES_S3_SECRET_ACCESS_KEY,
    super::files::FILES_MAX_SIZE,
    super::files::FILES_PER_POST,
    super::files::FILES_ORPHAN_AGE,
    super::webhooks::WEBHOOK_ALLOWED_NETWORKS,
    super::webhooks::WEBHOOK_TIMEOUT,
    super::webhooks::WEBHOOK_MAX_ATTEMPTS,
    super::webhooks::WEBHOOK_RETRY_BASE,
    LOG_LEVEL,
    LOG_FORMAT,
    SHUTDOWN_DRAIN,
    SHUTDOWN_GRACE,
];

/// Looks a variable up by its full name.
pub fn find(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|v| v.name == name)
}

#[cfg(test)]
mod tests {
    use super::super::kind::PREFIX;
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        for (i, v) in VARIABLES.iter().enumerate() {
            assert!(v.name.starts_with(PREFIX), "{} lacks the prefix", v.name);
            assert!(VARIABLES[..i].iter().all(|w| w.name != v.name), "{} is listed twice", v.name);
        }
    }

    #[test]
    fn every_typed_default_has_its_kinds_type_and_lies_in_its_range() {
        for v in VARIABLES {
            let fits = match (v.kind, v.default) {
                (_, D::None | D::Derived(_)) => true,
                (Kind::Integer { min, max }, D::Integer(n)) => (min..=max).contains(&n),
                (Kind::Port, D::Integer(n)) => u16::try_from(n).is_ok(),
                (Kind::Duration { unit, min, max }, D::Duration(d)) => {
                    (min..=max).contains(&unit.count(d)) && unit.duration(unit.count(d)) == d
                }
                (Kind::Bool, D::Bool(_)) => true,
                (Kind::Choice(options), D::Text(t)) => options.contains(&t),
                (Kind::Name { max_len, allowed, .. }, D::Text(t)) => {
                    !t.is_empty() && t.len() <= max_len && t.chars().all(allowed)
                }
                (Kind::Address | Kind::Text | Kind::Words | Kind::Path | Kind::LogFilter, D::Text(_)) => true,
                _ => false,
            };
            assert!(fits, "{}: default {:?} does not fit {:?}", v.name, v.default, v.kind);
        }
    }
}
