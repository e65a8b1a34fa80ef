//! Every `RUSTCHAT_*` variable the node reads, in one table: its name, default, meaning and whether it
//! is a secret. The table drives unknown-variable warnings, `--check-config` output and the README's
//! configuration reference, so a variable cannot exist in one place and be missing from another.

use serde::{Deserialize, Serialize};

/// One configuration variable.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    /// Full name, e.g. `RUSTCHAT_SERVER_PORT`.
    pub name: &'static str,
    /// The default as an operator would read it; empty when unset means "off" or "derived".
    pub default: &'static str,
    pub meaning: &'static str,
    /// Secrets are redacted in every output.
    pub secret: bool,
}

const fn var(name: &'static str, default: &'static str, meaning: &'static str) -> Variable {
    Variable { name, default, meaning, secret: false }
}

const fn secret(name: &'static str, default: &'static str, meaning: &'static str) -> Variable {
    Variable { name, default, meaning, secret: true }
}

pub const PREFIX: &str = "RUSTCHAT_";

/// Arms the test fault endpoint (`crate::faults`). Not in the table: it exists only in debug builds
/// and is refused in a release build and in production, so it is no operator's setting.
pub const TEST_FAULTS: &str = "RUSTCHAT_TEST_FAULTS";

/// The reference table. Order is the order `--check-config` prints.
pub const VARIABLES: &[Variable] = &[
    var(
        "RUSTCHAT_ENVIRONMENT",
        "development",
        "`development` or `production` (production demands real secrets and PostgreSQL)",
    ),
    var("RUSTCHAT_SERVER_HOST", "0.0.0.0", "address to listen on"),
    var("RUSTCHAT_SERVER_PORT", "3000", "port to listen on"),
    var("RUSTCHAT_SERVER_WORKERS", "number of cores", "HTTP worker threads"),
    var("RUSTCHAT_NODE_ID", "the hostname", "this node's name in the cluster, logs and metrics"),
    var("RUSTCHAT_SITE_URL", "", "public https URL of the site (SSO redirect URIs are built from it)"),
    secret(
        "RUSTCHAT_DATABASE_URL",
        "SQLite file in the data directory",
        "`postgres://…` for PostgreSQL, `sqlite://path` for an embedded file",
    ),
    var("RUSTCHAT_DB_POOL__MAX_CONNECTIONS", "10", "most database connections this node opens"),
    var("RUSTCHAT_DB_POOL__MIN_CONNECTIONS", "1", "database connections kept open when idle"),
    var(
        "RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS",
        "5000",
        "how long a request waits for a database connection before it gets 503 (`pool timed out`)",
    ),
    var("RUSTCHAT_AUTO_MIGRATE", "true in development, false in production", "apply pending migrations at start"),
    secret("RUSTCHAT_REDIS_URL", "", "`redis://…`; unset runs a single node with an in-process bus"),
    var("RUSTCHAT_REDIS_PREFIX", "rustchat", "prefix of every Redis key and pub/sub topic"),
    secret("RUSTCHAT_JWT_SECRET", "generated in development", "signs access tokens; base64 or raw, at least 32 bytes"),
    secret(
        "RUSTCHAT_ENCRYPTION_KEY",
        "generated in development",
        "encrypts credentials stored in the database; base64 or raw, at least 32 bytes",
    ),
    secret(
        "RUSTCHAT_JWT_SECRET_PREVIOUS",
        "",
        "during a rotation: the old JWT secret, still accepted for tokens it signed until they expire",
    ),
    secret(
        "RUSTCHAT_ENCRYPTION_KEY_PREVIOUS",
        "",
        "during a rotation: the old encryption key; stored secrets are re-encrypted with the new one at start",
    ),
    var(
        "RUSTCHAT_OIDC_PROVIDER_ID",
        "sso",
        "URL name of the OpenID Connect provider (in /api/v1/auth/oidc/<id>/login)",
    ),
    var(
        "RUSTCHAT_OIDC_ISSUER",
        "",
        "issuer URL of an OpenID Connect provider; its /.well-known/openid-configuration is read",
    ),
    var("RUSTCHAT_OIDC_CLIENT_ID", "", "client id registered with the provider"),
    secret("RUSTCHAT_OIDC_CLIENT_SECRET", "", "client secret registered with the provider"),
    var("RUSTCHAT_OIDC_SCOPES", "openid email profile", "scopes to request"),
    var("RUSTCHAT_OIDC_DISPLAY_NAME", "Single sign-on", "the button label clients show"),
    var(
        "RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY",
        "cookie",
        "how SSO logins hand over tokens: `cookie` or `code` (one-time exchange code)",
    ),
    var("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", "10", "auth requests per client IP per minute"),
    var("RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE", "30", "WebSocket connects per client IP per minute"),
    var(
        "RUSTCHAT_SECURITY_TRUSTED_PROXIES",
        "",
        "comma-separated IPs or CIDRs of load balancers whose X-Forwarded-For is believed",
    ),
    var(
        "RUSTCHAT_WS_MAX_QUEUED_FRAMES",
        "1024",
        "frames a WebSocket may have waiting to be sent before it is closed as a slow consumer (4008)",
    ),
    var(
        "RUSTCHAT_WS_MAX_QUEUED_BYTES",
        "4194304",
        "bytes a WebSocket may have waiting to be sent before it is closed as a slow consumer (4008)",
    ),
    var(
        "RUSTCHAT_WS_PRESENCE_MAX_MEMBERS",
        "100",
        "channels with more members carry no presence events (clients ask POST /api/v1/users/status/ids)",
    ),
    var("RUSTCHAT_WS_PING_SECONDS", "15", "how often the server pings each WebSocket"),
    var("RUSTCHAT_WS_CLIENT_TIMEOUT_SECONDS", "45", "a WebSocket silent this long (no pong, no message) is closed"),
    var("RUSTCHAT_DATA_DIR", "./data", "embedded database and generated development secrets"),
    var("RUSTCHAT_LOG_LEVEL", "info", "a tracing filter, e.g. `info` or `rustchat=debug,info`"),
    var("RUSTCHAT_LOG_FORMAT", "json (pretty on a terminal in development)", "`json` or `pretty`"),
    var(
        "RUSTCHAT_SHUTDOWN_DRAIN_SECONDS",
        "0",
        "after SIGTERM, keep serving this long with readiness 503 so balancers move away",
    ),
    var("RUSTCHAT_SHUTDOWN_GRACE_SECONDS", "30", "then wait at most this long for in-flight requests"),
];

/// Looks a variable up by its full name.
pub fn find(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|v| v.name == name)
}

/// The variables as `envy` binds them: one flat struct, each field named after its variable without
/// the prefix (envy lower-cases names, so `db_pool__max_connections` binds
/// `RUSTCHAT_DB_POOL__MAX_CONNECTIONS`). Values stay text here; `Settings::parse` gives them types.
// Field names mirror variable names, double underscore included, because envy binds by name.
#[allow(non_snake_case)]
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct RawEnv {
    pub environment: Option<String>,
    pub server_host: Option<String>,
    pub server_port: Option<String>,
    pub server_workers: Option<String>,
    pub node_id: Option<String>,
    pub site_url: Option<String>,
    pub database_url: Option<String>,
    pub db_pool__max_connections: Option<String>,
    pub db_pool__min_connections: Option<String>,
    pub db_pool__acquire_timeout_ms: Option<String>,
    pub auto_migrate: Option<String>,
    pub redis_url: Option<String>,
    pub redis_prefix: Option<String>,
    pub jwt_secret: Option<String>,
    pub encryption_key: Option<String>,
    pub jwt_secret_previous: Option<String>,
    pub encryption_key_previous: Option<String>,
    pub security_oauth_token_delivery: Option<String>,
    pub oidc_provider_id: Option<String>,
    pub oidc_issuer: Option<String>,
    pub oidc_client_id: Option<String>,
    pub oidc_client_secret: Option<String>,
    pub oidc_scopes: Option<String>,
    pub oidc_display_name: Option<String>,
    pub security_rate_limit_auth_per_minute: Option<String>,
    pub security_rate_limit_ws_per_minute: Option<String>,
    pub security_trusted_proxies: Option<String>,
    pub ws_max_queued_frames: Option<String>,
    pub ws_max_queued_bytes: Option<String>,
    pub ws_presence_max_members: Option<String>,
    pub ws_ping_seconds: Option<String>,
    pub ws_client_timeout_seconds: Option<String>,
    pub data_dir: Option<String>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub shutdown_drain_seconds: Option<String>,
    pub shutdown_grace_seconds: Option<String>,
}

impl RawEnv {
    /// Binds `RUSTCHAT_*` pairs with envy. Empty values count as unset.
    pub fn bind(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, envy::Error> {
        envy::prefixed(PREFIX).from_iter(vars.into_iter().filter(|(_, v)| !v.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_in_the_table_binds_a_field_and_every_field_is_in_the_table() {
        let all = VARIABLES.iter().map(|v| (v.name.to_string(), format!("value-of-{}", v.name)));
        let raw = RawEnv::bind(all).unwrap();
        let json = serde_json::to_value(&raw).unwrap();
        let fields = json.as_object().unwrap();
        assert_eq!(fields.len(), VARIABLES.len(), "RawEnv and VARIABLES list different settings");
        for v in VARIABLES {
            let field = v.name.trim_start_matches(PREFIX).to_lowercase();
            assert_eq!(
                fields.get(&field).and_then(|f| f.as_str()),
                Some(format!("value-of-{}", v.name).as_str()),
                "{} does not bind field {field}",
                v.name
            );
        }
    }
}
