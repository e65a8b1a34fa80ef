//! From text to typed [`Settings`]: each variable has one parser that names the expected form, and
//! production rules run after all values parsed. Every error is collected, none short-circuits.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::secrets::SecretBytes;
use super::variables::{RawEnv, TEST_FAULTS, VARIABLES, find};
use super::{
    ConfigError, ConfigErrors, DatabaseSettings, DatabaseUrl, Environment, LogFormat, LogSettings,
    OidcProviderSettings, RateLimitSettings, RedisSettings, Secret, Settings, Sources, TokenDelivery, WsSettings,
};

/// Collects errors while parsing, so one run reports every bad variable.
struct Parser {
    errors: Vec<ConfigError>,
}

impl Parser {
    fn fail(&mut self, variable: &'static str, message: impl Into<String>) {
        self.errors.push(ConfigError { variable, message: message.into() });
    }

    /// Parses `raw` as `T`, or records "expected {expected}, got '{raw}'".
    fn value<T: FromStr>(&mut self, variable: &'static str, raw: &Option<String>, expected: &str, default: T) -> T {
        match raw.as_deref().map(str::trim) {
            None => default,
            Some(text) => match text.parse() {
                Ok(v) => v,
                Err(_) => {
                    self.fail(variable, format!("expected {expected}, got '{text}'"));
                    default
                }
            },
        }
    }

    fn ranged<T: FromStr + PartialOrd + Copy + std::fmt::Display>(
        &mut self,
        variable: &'static str,
        raw: &Option<String>,
        min: T,
        max: T,
        default: T,
    ) -> T {
        let expected = format!("an integer from {min} to {max}");
        let v = self.value(variable, raw, &expected, default);
        if v < min || v > max {
            self.fail(variable, format!("expected {expected}, got '{v}'"));
            return default;
        }
        v
    }

    fn choice<T: Copy>(
        &mut self,
        variable: &'static str,
        raw: &Option<String>,
        options: &[(&str, T)],
        default: T,
    ) -> T {
        let Some(text) = raw.as_deref().map(str::trim) else {
            return default;
        };
        match options.iter().find(|(name, _)| name.eq_ignore_ascii_case(text)) {
            Some((_, v)) => *v,
            None => {
                let names: Vec<_> = options.iter().map(|(n, _)| format!("'{n}'")).collect();
                self.fail(variable, format!("expected one of {}, got '{text}'", names.join(", ")));
                default
            }
        }
    }

    fn bool(&mut self, variable: &'static str, raw: &Option<String>, default: bool) -> bool {
        let options = [("true", true), ("1", true), ("yes", true), ("false", false), ("0", false), ("no", false)];
        self.choice(variable, raw, &options, default)
    }
}

pub(super) fn parse(sources: Sources) -> Result<Settings, ConfigErrors> {
    let raw = RawEnv::bind(sources.pairs())
        .map_err(|e| ConfigErrors(vec![ConfigError { variable: "RUSTCHAT_*", message: e.to_string() }]))?;
    let mut p = Parser { errors: Vec::new() };
    let mut warnings = Vec::new();

    let environment = p.choice(
        "RUSTCHAT_ENVIRONMENT",
        &raw.environment,
        &[("development", Environment::Development), ("production", Environment::Production)],
        Environment::Development,
    );
    let production = environment == Environment::Production;

    let host = raw.server_host.clone().unwrap_or_else(|| "0.0.0.0".into());
    if host.parse::<std::net::IpAddr>().is_err() && host != "localhost" {
        p.fail("RUSTCHAT_SERVER_HOST", format!("expected an IP address, got '{host}'"));
    }
    let port = p.value("RUSTCHAT_SERVER_PORT", &raw.server_port, "a port number from 0 to 65535", 3000u16);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let workers = p.ranged("RUSTCHAT_SERVER_WORKERS", &raw.server_workers, 1, 256, cores);
    let node_id = raw.node_id.clone().unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
    if node_id.is_empty()
        || node_id.len() > 64
        || !node_id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        p.fail("RUSTCHAT_NODE_ID", format!("expected 1-64 characters of [A-Za-z0-9-_.], got '{node_id}'"));
    }

    let site_url = match raw.site_url.as_deref() {
        None => {
            if production {
                warnings.push("RUSTCHAT_SITE_URL is not set: SSO redirect URIs cannot be built".to_string());
            }
            None
        }
        Some(text) => match url::Url::parse(text) {
            Ok(u) if production && u.scheme() != "https" => {
                p.fail("RUSTCHAT_SITE_URL", format!("expected an https:// URL in production, got '{text}'"));
                None
            }
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Some(u),
            _ => {
                p.fail("RUSTCHAT_SITE_URL", format!("expected an http(s):// URL, got '{text}'"));
                None
            }
        },
    };

    let data_dir = PathBuf::from(raw.data_dir.clone().unwrap_or_else(|| "./data".into()));

    let url = match raw.database_url.as_deref() {
        None => DatabaseUrl::Sqlite(data_dir.join("rustchat.db")),
        Some(text) if text.starts_with("postgres://") || text.starts_with("postgresql://") => {
            if url::Url::parse(text).is_err() {
                p.fail("RUSTCHAT_DATABASE_URL", "expected a valid postgres:// URL (value not shown)");
            }
            DatabaseUrl::Postgres(Secret::new(text.to_string()))
        }
        Some(text) if text.starts_with("sqlite:") => {
            let path = text.trim_start_matches("sqlite:").trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                p.fail(
                    "RUSTCHAT_DATABASE_URL",
                    "expected sqlite://<file path> (an in-memory database cannot be shared by a pool)",
                );
            }
            DatabaseUrl::Sqlite(PathBuf::from(path))
        }
        Some(_) => {
            p.fail("RUSTCHAT_DATABASE_URL", "expected a postgres://… or sqlite://… URL (value not shown)");
            DatabaseUrl::Sqlite(data_dir.join("rustchat.db"))
        }
    };
    if production && !url.is_postgres() {
        p.fail(
            "RUSTCHAT_DATABASE_URL",
            "production requires PostgreSQL (postgres://…); SQLite is for a single development node",
        );
    }
    let max_connections =
        p.ranged("RUSTCHAT_DB_POOL__MAX_CONNECTIONS", &raw.db_pool__max_connections, 1u32, 10_000, 10);
    let min_connections = p.ranged("RUSTCHAT_DB_POOL__MIN_CONNECTIONS", &raw.db_pool__min_connections, 0u32, 10_000, 1);
    if min_connections > max_connections {
        p.fail(
            "RUSTCHAT_DB_POOL__MIN_CONNECTIONS",
            format!("expected at most RUSTCHAT_DB_POOL__MAX_CONNECTIONS ({max_connections}), got '{min_connections}'"),
        );
    }
    let acquire_ms =
        p.ranged("RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS", &raw.db_pool__acquire_timeout_ms, 10u64, 600_000, 5000);
    let auto_migrate = p.bool("RUSTCHAT_AUTO_MIGRATE", &raw.auto_migrate, !production);

    let redis_url = raw.redis_url.as_deref().map(|text| {
        if !(text.starts_with("redis://") || text.starts_with("rediss://")) || url::Url::parse(text).is_err() {
            p.fail("RUSTCHAT_REDIS_URL", "expected a redis://… or rediss://… URL (value not shown)");
        }
        Secret::new(text.to_string())
    });
    let prefix = raw.redis_prefix.clone().unwrap_or_else(|| "rustchat".into());
    if prefix.is_empty() || prefix.len() > 64 || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        p.fail("RUSTCHAT_REDIS_PREFIX", format!("expected 1-64 characters of [A-Za-z0-9-_.], got '{prefix}'"));
    }

    let jwt_secret = secret_bytes(&mut p, "RUSTCHAT_JWT_SECRET", &raw.jwt_secret);
    let encryption_key = secret_bytes(&mut p, "RUSTCHAT_ENCRYPTION_KEY", &raw.encryption_key);
    let jwt_secret_previous = secret_bytes(&mut p, "RUSTCHAT_JWT_SECRET_PREVIOUS", &raw.jwt_secret_previous);
    let encryption_key_previous =
        secret_bytes(&mut p, "RUSTCHAT_ENCRYPTION_KEY_PREVIOUS", &raw.encryption_key_previous);
    if production {
        if raw.jwt_secret.is_none() {
            p.fail("RUSTCHAT_JWT_SECRET", "required in production (generate one: openssl rand -base64 48)");
        }
        if raw.encryption_key.is_none() {
            p.fail("RUSTCHAT_ENCRYPTION_KEY", "required in production (generate one: openssl rand -base64 48)");
        }
    }
    if let (Some(a), Some(b)) = (&jwt_secret, &encryption_key)
        && a.expose() == b.expose()
    {
        p.fail("RUSTCHAT_ENCRYPTION_KEY", "must differ from RUSTCHAT_JWT_SECRET");
    }

    let oidc = match (&raw.oidc_issuer, &raw.oidc_client_id, &raw.oidc_client_secret) {
        (None, None, None) => None,
        (Some(issuer), Some(client_id), Some(client_secret)) => {
            let id = raw.oidc_provider_id.clone().unwrap_or_else(|| "sso".into());
            if id.is_empty()
                || id.len() > 32
                || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                p.fail("RUSTCHAT_OIDC_PROVIDER_ID", format!("expected 1-32 characters of [a-z0-9-], got '{id}'"));
            }
            match url::Url::parse(issuer) {
                Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && !production) => Some(OidcProviderSettings {
                    id,
                    issuer: u,
                    client_id: client_id.clone(),
                    client_secret: Secret::new(client_secret.clone()),
                    scopes: raw
                        .oidc_scopes
                        .as_deref()
                        .unwrap_or("openid email profile")
                        .split_whitespace()
                        .map(String::from)
                        .collect(),
                    display_name: raw.oidc_display_name.clone().unwrap_or_else(|| "Single sign-on".into()),
                }),
                _ => {
                    p.fail(
                        "RUSTCHAT_OIDC_ISSUER",
                        format!("expected an https:// issuer URL (http only in development), got '{issuer}'"),
                    );
                    None
                }
            }
        }
        _ => {
            p.fail(
                "RUSTCHAT_OIDC_ISSUER",
                "RUSTCHAT_OIDC_ISSUER, RUSTCHAT_OIDC_CLIENT_ID and RUSTCHAT_OIDC_CLIENT_SECRET go together",
            );
            None
        }
    };
    if oidc.is_some() && site_url.is_none() {
        p.fail("RUSTCHAT_SITE_URL", "required with RUSTCHAT_OIDC_ISSUER: the redirect URI is built from it");
    }
    let oauth_token_delivery = p.choice(
        "RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY",
        &raw.security_oauth_token_delivery,
        &[("cookie", TokenDelivery::Cookie), ("code", TokenDelivery::Code)],
        TokenDelivery::Cookie,
    );
    let auth_per_minute = p.ranged(
        "RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE",
        &raw.security_rate_limit_auth_per_minute,
        1u32,
        1_000_000,
        10,
    );
    let ws_per_minute = p.ranged(
        "RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE",
        &raw.security_rate_limit_ws_per_minute,
        1u32,
        1_000_000,
        30,
    );

    let mut trusted_proxies = Vec::new();
    for item in
        raw.security_trusted_proxies.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty())
    {
        let net = item.parse::<ipnet::IpNet>().or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match net {
            Ok(net) => trusted_proxies.push(net),
            Err(_) => p.fail(
                "RUSTCHAT_SECURITY_TRUSTED_PROXIES",
                format!("expected comma-separated IP addresses or CIDRs like 10.0.0.0/8, got '{item}'"),
            ),
        }
    }
    let ws_frames = p.ranged("RUSTCHAT_WS_MAX_QUEUED_FRAMES", &raw.ws_max_queued_frames, 16usize, 1_000_000, 1024);
    let ws_bytes = p.ranged("RUSTCHAT_WS_MAX_QUEUED_BYTES", &raw.ws_max_queued_bytes, 16_384usize, 1 << 30, 4 << 20);
    let ws_presence = p.ranged("RUSTCHAT_WS_PRESENCE_MAX_MEMBERS", &raw.ws_presence_max_members, 0i64, 1_000_000, 100);
    let ws_ping = p.ranged("RUSTCHAT_WS_PING_SECONDS", &raw.ws_ping_seconds, 1u64, 3600, 15);
    let ws_timeout = p.ranged("RUSTCHAT_WS_CLIENT_TIMEOUT_SECONDS", &raw.ws_client_timeout_seconds, 2u64, 7200, 45);
    if ws_timeout <= ws_ping {
        p.fail(
            "RUSTCHAT_WS_CLIENT_TIMEOUT_SECONDS",
            format!("expected more than RUSTCHAT_WS_PING_SECONDS ({ws_ping}), got '{ws_timeout}'"),
        );
    }

    let level = raw.log_level.clone().unwrap_or_else(|| "info".into());
    if tracing_subscriber::EnvFilter::builder().parse(&level).is_err() {
        p.fail("RUSTCHAT_LOG_LEVEL", format!("expected a level (error, warn, info, debug, trace) or a filter like 'rustchat=debug,info', got '{level}'"));
    }
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let default_format = if terminal && !production { LogFormat::Pretty } else { LogFormat::Json };
    let format = p.choice(
        "RUSTCHAT_LOG_FORMAT",
        &raw.log_format,
        &[("json", LogFormat::Json), ("pretty", LogFormat::Pretty)],
        default_format,
    );

    let drain = p.ranged("RUSTCHAT_SHUTDOWN_DRAIN_SECONDS", &raw.shutdown_drain_seconds, 0u64, 3600, 0);
    let grace = p.ranged("RUSTCHAT_SHUTDOWN_GRACE_SECONDS", &raw.shutdown_grace_seconds, 0u64, 3600, 30);

    let unknown_variables: Vec<String> =
        sources.names().filter(|n| find(n).is_none() && *n != TEST_FAULTS).map(str::to_string).collect();
    for name in &unknown_variables {
        warnings.push(unknown_warning(name));
    }

    if !p.errors.is_empty() {
        return Err(ConfigErrors(p.errors));
    }
    Ok(Settings {
        environment,
        host,
        port,
        workers,
        node_id,
        site_url,
        database: DatabaseSettings {
            url,
            max_connections,
            min_connections,
            acquire_timeout: Duration::from_millis(acquire_ms),
            auto_migrate,
        },
        redis: RedisSettings { url: redis_url, prefix },
        jwt_secret,
        encryption_key,
        jwt_secret_previous,
        encryption_key_previous,
        oauth_token_delivery,
        oidc,
        rate_limit: RateLimitSettings { auth_per_minute, ws_per_minute, trusted_proxies },
        ws: WsSettings {
            max_queued_frames: ws_frames,
            max_queued_bytes: ws_bytes,
            presence_max_members: ws_presence,
            ping_interval: Duration::from_secs(ws_ping),
            client_timeout: Duration::from_secs(ws_timeout),
        },
        data_dir,
        log: LogSettings { level, format },
        shutdown_drain: Duration::from_secs(drain),
        shutdown_grace: Duration::from_secs(grace),
        sources,
        unknown_variables,
        warnings,
    })
}

fn secret_bytes(p: &mut Parser, variable: &'static str, raw: &Option<String>) -> Option<SecretBytes> {
    let text = raw.as_deref()?;
    match SecretBytes::decode(text) {
        Ok(s) => Some(s),
        Err(message) => {
            p.fail(variable, message);
            None
        }
    }
}

/// "unknown variable RUSTCHAT_X is ignored", with the closest known name when one is near.
fn unknown_warning(name: &str) -> String {
    let closest = VARIABLES
        .iter()
        .map(|v| (strsim::levenshtein(name, v.name), v.name))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, _)| *d <= 4);
    match closest {
        Some((_, known)) => {
            format!("unknown configuration variable {name} is ignored (did you mean {known}?)")
        }
        None => format!("unknown configuration variable {name} is ignored"),
    }
}
