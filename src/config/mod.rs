//! Typed settings, parsed once from `RUSTCHAT_*` variables (environment over `.env`).
//! Parsing collects every problem at once, each naming its variable and the expected form, so an
//! operator fixes a broken deployment in one round. Secrets are wrapped in [`Secret`] and never print.

mod check;
mod files;
mod kind;
mod parse;
mod reader;
mod secret;
mod secrets;
mod sources;
mod variables;
mod webhooks;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use check::check_config;
pub use files::{FileBackend, FileSettings, S3Settings};
pub use kind::{DefaultValue, Kind, PREFIX, Unit, Variable, markdown_table};
pub use secret::Secret;
pub use secrets::{SecretBytes, ensure_development_secrets};
pub use sources::{Source, Sources};
pub use variables::{TEST_FAULTS, VARIABLES};
pub use webhooks::WebhookSettings;

/// `development` (the default) or `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// How an SSO login hands tokens to the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenDelivery {
    Cookie,
    Code,
}

/// Which database, parsed from `RUSTCHAT_DATABASE_URL`.
#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    Postgres(Secret<String>),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(_))
    }

    /// The URL with any password replaced, safe to print.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Postgres(url) => redact_url(url.expose()),
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        }
    }
}

/// Replaces the password of a URL (if any) with `***`.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "[unparseable url]".to_string(),
    }
}

/// The URLs `RUSTCHAT_REDIS_URL` names: one, or a Redis Cluster's seed nodes separated by commas.
pub fn redis_seed_urls(url: &str) -> Vec<&str> {
    url.split(',').map(str::trim).filter(|u| !u.is_empty()).collect()
}

/// Whether `RUSTCHAT_REDIS_URL` (with the `RUSTCHAT_REDIS_CLUSTER` flag) names a Redis Cluster.
pub fn redis_is_cluster(url: &str, flag: bool) -> bool {
    flag || redis_seed_urls(url).len() > 1
}

/// [`redact_url`] for each of a comma-separated list (a Redis Cluster's seed nodes).
pub fn redact_urls(raw: &str) -> String {
    raw.split(',').map(|u| redact_url(u.trim())).collect::<Vec<_>>().join(",")
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    pub auto_migrate: bool,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: Option<Secret<String>>,
    pub prefix: String,
    /// `RUSTCHAT_REDIS_URL` names a Redis Cluster (`RUSTCHAT_REDIS_CLUSTER`, or several seed URLs).
    pub cluster: bool,
}

#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub auth_per_minute: u32,
    pub ws_per_minute: u32,
    /// Upload requests per user.
    pub uploads_per_minute: u32,
    /// Peers allowed to tell us the client's address in `X-Forwarded-For`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// One OpenID Connect provider configured by environment.
#[derive(Debug, Clone)]
pub struct OidcProviderSettings {
    pub id: String,
    pub issuer: url::Url,
    pub client_id: String,
    pub client_secret: Secret<String>,
    pub scopes: Vec<String>,
    pub display_name: String,
}

/// The ID token signature algorithms accepted by default: every asymmetric one, no shared secret.
pub const DEFAULT_SIGNING_ALGS: &str = "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA";
/// Every algorithm `RUSTCHAT_OIDC_SIGNING_ALGS` may name (JOSE names).
pub const SIGNING_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512",
];

/// How single sign-on trusts identity providers (all of them).
#[derive(Debug, Clone)]
pub struct SsoPolicy {
    /// ID token signature algorithms accepted (JOSE names).
    pub signing_algs: Vec<String>,
    /// Email domains (lowercase) whose verified addresses link a first login to an existing account;
    /// `*` any. Empty: never.
    pub link_email_domains: Vec<String>,
}

impl SsoPolicy {
    /// Whether a first login asserting verified `email` may link to the account that has it.
    pub fn links_email(&self, email: &str) -> bool {
        let domain = email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
        self.link_email_domains.iter().any(|d| d == "*" || *d == domain)
    }
}

impl Default for SsoPolicy {
    fn default() -> Self {
        Self {
            signing_algs: DEFAULT_SIGNING_ALGS.split_whitespace().map(String::from).collect(),
            link_email_domains: Vec::new(),
        }
    }
}

/// WebSocket limits.
#[derive(Debug, Clone)]
pub struct WsSettings {
    pub max_queued_frames: usize,
    pub max_queued_bytes: usize,
    /// Channels with more members carry no `presence` events.
    pub presence_max_members: i64,
    pub ping_interval: Duration,
    pub client_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub node_id: String,
    pub site_url: Option<url::Url>,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    /// `None` until supplied or generated; see [`ensure_development_secrets`].
    pub jwt_secret: Option<SecretBytes>,
    pub encryption_key: Option<SecretBytes>,
    /// Accepted for verification only, during a rotation.
    pub jwt_secret_previous: Option<SecretBytes>,
    /// Decrypts what the previous key encrypted, during a rotation.
    pub encryption_key_previous: Option<SecretBytes>,
    pub oauth_token_delivery: TokenDelivery,
    pub oidc: Option<OidcProviderSettings>,
    /// How every identity provider is trusted.
    pub sso: SsoPolicy,
    pub rate_limit: RateLimitSettings,
    pub ws: WsSettings,
    pub data_dir: PathBuf,
    /// Attachments: storage, limits, sweeping.
    pub files: FileSettings,
    /// Outgoing webhooks and slash commands: the SSRF allow-list, timeouts, retries.
    pub webhooks: WebhookSettings,
    pub log: LogSettings,
    pub shutdown_drain: Duration,
    pub shutdown_grace: Duration,
    /// Where each value came from, for `--check-config`.
    pub sources: Sources,
    /// `RUSTCHAT_*` names that match no setting (likely typos).
    pub unknown_variables: Vec<String>,
    /// Non-fatal findings, logged at start.
    pub warnings: Vec<String>,
}

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Settings {
    /// Loads settings from the process environment and `./.env`.
    pub fn from_process_env() -> Result<Self, ConfigErrors> {
        let sources = Sources::collect(std::env::vars(), Some(std::path::Path::new(".env")))
            .map_err(|message| ConfigErrors(vec![ConfigError { variable: "RUSTCHAT_*", message }]))?;
        Self::from_sources(sources)
    }

    /// Loads settings from explicit variables (tests and embedders use this).
    pub fn from_vars<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigErrors> {
        let vars = vars.into_iter().map(|(k, v)| (k.into(), v.into()));
        let sources = Sources::collect(vars, None)
            .map_err(|message| ConfigErrors(vec![ConfigError { variable: "RUSTCHAT_*", message }]))?;
        Self::from_sources(sources)
    }

    pub fn from_sources(sources: Sources) -> Result<Self, ConfigErrors> {
        parse::parse(sources)
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}
