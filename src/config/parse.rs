//! From text to typed [`Settings`]: each variable is read through its table entry (form, range and
//! default come from [`super::variables`]), then the rules that tie variables together and production
//! rules run. Every error is collected, none short-circuits.

use std::path::PathBuf;

use super::kind::Variable;
use super::reader::Reader;
use super::secrets::SecretBytes;
use super::variables::{self as var, TEST_FAULTS, VARIABLES, find};
use super::{
    ConfigErrors, DatabaseSettings, DatabaseUrl, Environment, LogFormat, LogSettings, OidcProviderSettings,
    RateLimitSettings, RedisSettings, Secret, Settings, Sources, TokenDelivery, WsSettings,
};

pub(super) fn parse(sources: Sources) -> Result<Settings, ConfigErrors> {
    let mut p = Reader::new(&sources)?;
    let mut warnings = Vec::new();

    let environment = match p.choice(&var::ENVIRONMENT) {
        "production" => Environment::Production,
        _ => Environment::Development,
    };
    let production = environment == Environment::Production;

    let host = p.text(&var::SERVER_HOST);
    if host.parse::<std::net::IpAddr>().is_err() && host != "localhost" {
        p.fail(&var::SERVER_HOST, format!("expected an IP address, got '{host}'"));
    }
    let port = p.port(&var::SERVER_PORT);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let workers = p.integer_or(&var::SERVER_WORKERS, cores);
    let node_id = p.name_or(&var::NODE_ID, || gethostname::gethostname().to_string_lossy().into_owned());

    let site_url = match p.raw(&var::SITE_URL).map(str::to_string).as_deref() {
        None => {
            if production {
                warnings.push("RUSTCHAT_SITE_URL is not set: SSO redirect URIs cannot be built".to_string());
            }
            None
        }
        Some(text) => match url::Url::parse(text) {
            Ok(u) if production && u.scheme() != "https" => {
                p.fail(&var::SITE_URL, format!("expected an https:// URL in production, got '{text}'"));
                None
            }
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Some(u),
            _ => {
                p.fail(&var::SITE_URL, format!("expected an http(s):// URL, got '{text}'"));
                None
            }
        },
    };

    let data_dir = PathBuf::from(p.text(&var::DATA_DIR));

    let url = match p.raw(&var::DATABASE_URL).map(str::to_string).as_deref() {
        None => DatabaseUrl::Sqlite(data_dir.join("rustchat.db")),
        Some(text) if text.starts_with("postgres://") || text.starts_with("postgresql://") => {
            if url::Url::parse(text).is_err() {
                p.fail(&var::DATABASE_URL, "expected a valid postgres:// URL (value not shown)");
            }
            DatabaseUrl::Postgres(Secret::new(text.to_string()))
        }
        Some(text) if text.starts_with("sqlite:") => {
            let path = text.trim_start_matches("sqlite:").trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                p.fail(
                    &var::DATABASE_URL,
                    "expected sqlite://<file path> (an in-memory database cannot be shared by a pool)",
                );
            }
            DatabaseUrl::Sqlite(PathBuf::from(path))
        }
        Some(_) => {
            p.fail(&var::DATABASE_URL, "expected a postgres://… or sqlite://… URL (value not shown)");
            DatabaseUrl::Sqlite(data_dir.join("rustchat.db"))
        }
    };
    if production && !url.is_postgres() {
        p.fail(
            &var::DATABASE_URL,
            "production requires PostgreSQL (postgres://…); SQLite is for a single development node",
        );
    }
    let max_connections: u32 = p.integer(&var::DB_MAX_CONNECTIONS);
    let min_connections: u32 = p.integer(&var::DB_MIN_CONNECTIONS);
    if min_connections > max_connections {
        p.fail(
            &var::DB_MIN_CONNECTIONS,
            format!("expected at most RUSTCHAT_DB_POOL__MAX_CONNECTIONS ({max_connections}), got '{min_connections}'"),
        );
    }
    let acquire_timeout = p.duration(&var::DB_ACQUIRE_TIMEOUT);
    let auto_migrate = p.bool_or(&var::AUTO_MIGRATE, !production);

    let redis_url = p.raw(&var::REDIS_URL).map(str::to_string).map(|text| {
        let seeds = super::redis_seed_urls(&text);
        let valid = |u: &&str| (u.starts_with("redis://") || u.starts_with("rediss://")) && url::Url::parse(u).is_ok();
        if seeds.is_empty() || !seeds.iter().all(valid) {
            p.fail(
                &var::REDIS_URL,
                "expected a redis://… or rediss://… URL, or several separated by commas (value not shown)",
            );
        }
        Secret::new(text)
    });
    let prefix = p.name(&var::REDIS_PREFIX);
    let cluster_flag = p.bool_or(&var::REDIS_CLUSTER, false);
    if cluster_flag && redis_url.is_none() {
        p.fail(&var::REDIS_CLUSTER, "needs RUSTCHAT_REDIS_URL (the cluster's seed nodes)");
    }
    let several = redis_url.as_ref().is_some_and(|u| super::redis_seed_urls(u.expose()).len() > 1);
    if several && p.raw(&var::REDIS_CLUSTER).is_some() && !cluster_flag {
        p.fail(&var::REDIS_CLUSTER, "is false, yet RUSTCHAT_REDIS_URL lists several URLs (a Redis Cluster's seeds)");
    }
    let redis_cluster = redis_url.as_ref().is_some_and(|u| super::redis_is_cluster(u.expose(), cluster_flag));

    let jwt_secret = secret_bytes(&mut p, &var::JWT_SECRET);
    let encryption_key = secret_bytes(&mut p, &var::ENCRYPTION_KEY);
    let jwt_secret_previous = secret_bytes(&mut p, &var::JWT_SECRET_PREVIOUS);
    let encryption_key_previous = secret_bytes(&mut p, &var::ENCRYPTION_KEY_PREVIOUS);
    if production {
        for key in [&var::JWT_SECRET, &var::ENCRYPTION_KEY] {
            if p.raw(key).is_none() {
                p.fail(key, "required in production (generate one: openssl rand -base64 48)");
            }
        }
    }
    if let (Some(a), Some(b)) = (&jwt_secret, &encryption_key)
        && a.expose() == b.expose()
    {
        p.fail(&var::ENCRYPTION_KEY, "must differ from RUSTCHAT_JWT_SECRET");
    }

    let oidc_vars = [&var::OIDC_ISSUER, &var::OIDC_CLIENT_ID, &var::OIDC_CLIENT_SECRET];
    let [issuer, client_id, client_secret] = oidc_vars.map(|v| p.raw(v).map(str::to_string));
    let oidc = match (issuer, client_id, client_secret) {
        (None, None, None) => None,
        (Some(issuer), Some(client_id), Some(client_secret)) => {
            let id = p.name(&var::OIDC_PROVIDER_ID);
            match url::Url::parse(&issuer) {
                Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && !production) => Some(OidcProviderSettings {
                    id,
                    issuer: u,
                    client_id,
                    client_secret: Secret::new(client_secret),
                    scopes: p.text(&var::OIDC_SCOPES).split_whitespace().map(String::from).collect(),
                    display_name: p.text(&var::OIDC_DISPLAY_NAME),
                }),
                _ => {
                    p.fail(
                        &var::OIDC_ISSUER,
                        format!("expected an https:// issuer URL (http only in development), got '{issuer}'"),
                    );
                    None
                }
            }
        }
        _ => {
            p.fail(
                &var::OIDC_ISSUER,
                "RUSTCHAT_OIDC_ISSUER, RUSTCHAT_OIDC_CLIENT_ID and RUSTCHAT_OIDC_CLIENT_SECRET go together",
            );
            None
        }
    };
    if oidc.is_some() && site_url.is_none() {
        p.fail(&var::SITE_URL, "required with RUSTCHAT_OIDC_ISSUER: the redirect URI is built from it");
    }
    let signing_algs: Vec<String> = p.text(&var::OIDC_SIGNING_ALGS).split_whitespace().map(String::from).collect();
    if let Some(bad) = signing_algs.iter().find(|a| !super::SIGNING_ALGS.contains(&a.as_str())) {
        p.fail(
            &var::OIDC_SIGNING_ALGS,
            format!("unknown algorithm '{bad}'; expected some of {}", super::SIGNING_ALGS.join(" ")),
        );
    } else if signing_algs.is_empty() {
        p.fail(&var::OIDC_SIGNING_ALGS, "name at least one algorithm");
    }
    let link_email_domains: Vec<String> = p
        .text(&var::OIDC_LINK_EMAIL_DOMAINS)
        .split_whitespace()
        .map(|d| d.trim_start_matches('@').to_ascii_lowercase())
        .collect();
    let sso = super::SsoPolicy { signing_algs, link_email_domains };
    let oauth_token_delivery = match p.choice(&var::OAUTH_TOKEN_DELIVERY) {
        "code" => TokenDelivery::Code,
        _ => TokenDelivery::Cookie,
    };
    let auth_per_minute = p.integer(&var::RATE_LIMIT_AUTH);
    let ws_per_minute = p.integer(&var::RATE_LIMIT_WS);
    let uploads_per_minute = p.integer(&super::files::RATE_LIMIT_UPLOADS);

    let mut trusted_proxies = Vec::new();
    let proxies = p.text(&var::TRUSTED_PROXIES);
    for item in proxies.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let net = item.parse::<ipnet::IpNet>().or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match net {
            Ok(net) => trusted_proxies.push(net),
            Err(_) => p.fail(
                &var::TRUSTED_PROXIES,
                format!("expected comma-separated IP addresses or CIDRs like 10.0.0.0/8, got '{item}'"),
            ),
        }
    }
    let ws = WsSettings {
        max_queued_frames: p.integer(&var::WS_MAX_QUEUED_FRAMES),
        max_queued_bytes: p.integer(&var::WS_MAX_QUEUED_BYTES),
        presence_max_members: p.integer(&var::WS_PRESENCE_MAX_MEMBERS),
        ping_interval: p.duration(&var::WS_PING),
        client_timeout: p.duration(&var::WS_CLIENT_TIMEOUT),
    };
    if ws.client_timeout <= ws.ping_interval {
        let (ping, timeout) = (ws.ping_interval.as_secs(), ws.client_timeout.as_secs());
        p.fail(
            &var::WS_CLIENT_TIMEOUT,
            format!("expected more than RUSTCHAT_WS_PING_SECONDS ({ping}), got '{timeout}'"),
        );
    }

    let level = p.text(&var::LOG_LEVEL);
    if tracing_subscriber::EnvFilter::builder().parse(&level).is_err() {
        p.fail(&var::LOG_LEVEL, format!("expected a level (error, warn, info, debug, trace) or a filter like 'rustchat=debug,info', got '{level}'"));
    }
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let default_format = if terminal && !production { "pretty" } else { "json" };
    let format = match p.choice_or(&var::LOG_FORMAT, default_format) {
        "pretty" => LogFormat::Pretty,
        _ => LogFormat::Json,
    };

    let files = super::files::parse(&mut p, &data_dir, production, redis_url.is_some(), &mut warnings);
    let webhooks = super::webhooks::parse(&mut p);
    let shutdown_drain = p.duration(&var::SHUTDOWN_DRAIN);
    let shutdown_grace = p.duration(&var::SHUTDOWN_GRACE);

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
        database: DatabaseSettings { url, max_connections, min_connections, acquire_timeout, auto_migrate },
        redis: RedisSettings { url: redis_url, prefix, cluster: redis_cluster },
        jwt_secret,
        encryption_key,
        jwt_secret_previous,
        encryption_key_previous,
        oauth_token_delivery,
        sso,
        oidc,
        rate_limit: RateLimitSettings { auth_per_minute, ws_per_minute, uploads_per_minute, trusted_proxies },
        ws,
        data_dir,
        files,
        webhooks,
        log: LogSettings { level, format },
        shutdown_drain,
        shutdown_grace,
        sources,
        unknown_variables,
        warnings,
    })
}

fn secret_bytes(p: &mut Reader, variable: &Variable) -> Option<SecretBytes> {
    let text = p.raw(variable)?.to_string();
    match SecretBytes::decode(&text) {
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
