//! `rustchat --check-config`: the effective configuration with secrets redacted, each value's source
//! and, for numbers and durations, the range the table allows; the configuration's warnings; and
//! whether the database and Redis answer. Exit code 0 when everything is usable, 2 otherwise.

use std::io::Write;
use std::time::Duration;

use super::{DatabaseUrl, Settings, Source, VARIABLES, redact_urls};
use crate::cluster::RedisLink;
use crate::error::report;
use crate::store::Store;

/// How long each dependency probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Prints the report to `out` and returns the process exit code.
pub async fn check_config(settings: &Settings, out: &mut impl Write) -> std::io::Result<u8> {
    let mut problems: Vec<String> = Vec::new();
    writeln!(out, "RustChat {} configuration check", env!("CARGO_PKG_VERSION"))?;
    writeln!(out)?;
    for v in VARIABLES {
        let value = effective_value(settings, v.name);
        let source = format!("({})", settings.sources.source(v.name));
        match v.range() {
            Some(range) => writeln!(out, "  {:<46} {:<48} {source:<14} range {range}", v.name, value)?,
            None => writeln!(out, "  {:<46} {:<48} {source}", v.name, value)?,
        }
    }

    if !settings.warnings.is_empty() {
        writeln!(out, "\nwarnings:")?;
        for w in &settings.warnings {
            writeln!(out, "  - {w}")?;
        }
    }

    writeln!(out, "\nchecks:")?;
    let dev_sqlite_missing = matches!(&settings.database.url, DatabaseUrl::Sqlite(p) if !p.exists());
    if dev_sqlite_missing {
        writeln!(out, "  database  ok: the SQLite file will be created at start")?;
    } else {
        match probe_database(settings).await {
            Ok(line) => writeln!(out, "  database  ok: {line}")?,
            Err(e) => {
                writeln!(out, "  database  FAILED: {e}")?;
                problems.push(format!("database: {e}"));
            }
        }
    }
    match &settings.redis.url {
        None => writeln!(out, "  redis     not configured: single node with an in-process bus")?,
        Some(url) => match probe_redis(url, settings.redis.cluster).await {
            Ok(ms) => writeln!(out, "  redis     ok: PING answered in {ms:.1} ms")?,
            Err(e) => {
                writeln!(out, "  redis     FAILED: {e}")?;
                problems.push(format!("redis: {e}"));
            }
        },
    }

    if problems.is_empty() {
        writeln!(out, "\nconfiguration OK")?;
        Ok(0)
    } else {
        writeln!(out, "\nconfiguration NOT usable:")?;
        for p in &problems {
            writeln!(out, "  - {p}")?;
        }
        Ok(2)
    }
}

async fn probe_database(settings: &Settings) -> Result<String, String> {
    let store = Store::connect_lazy(&settings.database).map_err(|e| report(&e))?;
    let result = async {
        // A direct connection first: it names the cause (refused, unknown host, authentication,
        // missing database) where the pool would only time out.
        store.check_reachable(PROBE_TIMEOUT).await.map_err(|e| e.to_string())?;
        let latency = store.ping(PROBE_TIMEOUT).await.map_err(|e| format!("{e:?}"))?;
        let status = store.migration_status().await.map_err(|e| report(&e))?;
        Ok::<_, String>((latency, status))
    }
    .await;
    store.close().await;
    let (latency, status) = result?;
    let migrations = if status.pending.is_empty() {
        "schema up to date".to_string()
    } else {
        format!("{} migration(s) pending: run `rustchat --migrate-only`", status.pending.len())
    };
    Ok(format!(
        "{} answered in {:.1} ms; {migrations}",
        settings.database.url.redacted(),
        latency.as_secs_f64() * 1000.0
    ))
}

async fn probe_redis(url: &super::Secret<String>, cluster: bool) -> Result<f64, String> {
    let link = RedisLink::open(url, cluster, None).map_err(|e| report(&e))?;
    let latency = link.ping(PROBE_TIMEOUT).await.map_err(|e| format!("{} ({e:#})", redact_urls(url.expose())))?;
    Ok(latency.as_secs_f64() * 1000.0)
}

/// The value a setting has in effect, as text safe to print.
fn effective_value(s: &Settings, name: &str) -> String {
    let secret = |set: bool| {
        if set {
            "[redacted]".to_string()
        } else if s.is_production() {
            "(missing)".to_string()
        } else {
            "(generated at start, kept in the data directory)".to_string()
        }
    };
    match name {
        "RUSTCHAT_ENVIRONMENT" => if s.is_production() { "production" } else { "development" }.into(),
        "RUSTCHAT_SERVER_HOST" => s.host.clone(),
        "RUSTCHAT_SERVER_PORT" => s.port.to_string(),
        "RUSTCHAT_SERVER_WORKERS" => s.workers.to_string(),
        "RUSTCHAT_NODE_ID" => s.node_id.clone(),
        "RUSTCHAT_SITE_URL" => s.site_url.as_ref().map_or("(not set)".into(), |u| u.to_string()),
        "RUSTCHAT_DATABASE_URL" => s.database.url.redacted(),
        "RUSTCHAT_DB_POOL__MAX_CONNECTIONS" => s.database.max_connections.to_string(),
        "RUSTCHAT_DB_POOL__MIN_CONNECTIONS" => s.database.min_connections.to_string(),
        "RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS" => s.database.acquire_timeout.as_millis().to_string(),
        "RUSTCHAT_AUTO_MIGRATE" => s.database.auto_migrate.to_string(),
        "RUSTCHAT_REDIS_URL" => s.redis.url.as_ref().map_or("(not set)".into(), |u| redact_urls(u.expose())),
        "RUSTCHAT_REDIS_PREFIX" => s.redis.prefix.clone(),
        "RUSTCHAT_REDIS_CLUSTER" => s.redis.cluster.to_string(),
        "RUSTCHAT_JWT_SECRET" => secret(s.jwt_secret.is_some() && s.sources.source(name) != Source::Generated),
        "RUSTCHAT_ENCRYPTION_KEY" => secret(s.encryption_key.is_some() && s.sources.source(name) != Source::Generated),
        "RUSTCHAT_JWT_SECRET_PREVIOUS" => {
            if s.jwt_secret_previous.is_some() {
                "[redacted]".into()
            } else {
                "(not set)".into()
            }
        }
        "RUSTCHAT_ENCRYPTION_KEY_PREVIOUS" => {
            if s.encryption_key_previous.is_some() {
                "[redacted]".into()
            } else {
                "(not set)".into()
            }
        }
        "RUSTCHAT_OIDC_PROVIDER_ID" => s.oidc.as_ref().map_or("(not set)".into(), |o| o.id.clone()),
        "RUSTCHAT_OIDC_ISSUER" => s.oidc.as_ref().map_or("(not set)".into(), |o| o.issuer.to_string()),
        "RUSTCHAT_OIDC_CLIENT_ID" => s.oidc.as_ref().map_or("(not set)".into(), |o| o.client_id.clone()),
        "RUSTCHAT_OIDC_CLIENT_SECRET" => s.oidc.as_ref().map_or("(not set)".into(), |_| "[redacted]".into()),
        "RUSTCHAT_OIDC_SCOPES" => s.oidc.as_ref().map_or("(not set)".into(), |o| o.scopes.join(" ")),
        "RUSTCHAT_OIDC_DISPLAY_NAME" => s.oidc.as_ref().map_or("(not set)".into(), |o| o.display_name.clone()),
        "RUSTCHAT_OIDC_SIGNING_ALGS" => s.sso.signing_algs.join(" "),
        "RUSTCHAT_OIDC_LINK_EMAIL_DOMAINS" => {
            if s.sso.link_email_domains.is_empty() {
                "(none)".into()
            } else {
                s.sso.link_email_domains.join(" ")
            }
        }
        "RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY" => format!("{:?}", s.oauth_token_delivery).to_lowercase(),
        "RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE" => s.rate_limit.auth_per_minute.to_string(),
        "RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE" => s.rate_limit.ws_per_minute.to_string(),
        "RUSTCHAT_SECURITY_TRUSTED_PROXIES" => {
            let list: Vec<String> = s.rate_limit.trusted_proxies.iter().map(ToString::to_string).collect();
            if list.is_empty() { "(none)".into() } else { list.join(",") }
        }
        "RUSTCHAT_WS_MAX_QUEUED_FRAMES" => s.ws.max_queued_frames.to_string(),
        "RUSTCHAT_WS_MAX_QUEUED_BYTES" => s.ws.max_queued_bytes.to_string(),
        "RUSTCHAT_WS_PRESENCE_MAX_MEMBERS" => s.ws.presence_max_members.to_string(),
        "RUSTCHAT_WS_PING_SECONDS" => s.ws.ping_interval.as_secs().to_string(),
        "RUSTCHAT_WS_CLIENT_TIMEOUT_SECONDS" => s.ws.client_timeout.as_secs().to_string(),
        "RUSTCHAT_DATA_DIR" => s.data_dir.display().to_string(),
        "RUSTCHAT_LOG_LEVEL" => s.log.level.clone(),
        "RUSTCHAT_LOG_FORMAT" => format!("{:?}", s.log.format).to_lowercase(),
        "RUSTCHAT_SHUTDOWN_DRAIN_SECONDS" => s.shutdown_drain.as_secs().to_string(),
        "RUSTCHAT_SHUTDOWN_GRACE_SECONDS" => s.shutdown_grace.as_secs().to_string(),
        _ => super::files::effective_value(s, name)
            .or_else(|| super::webhooks::effective_value(s, name))
            .unwrap_or_else(|| "(unknown)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_has_an_effective_value() {
        let settings = Settings::from_vars(Vec::<(String, String)>::new()).unwrap();
        for v in VARIABLES {
            assert_ne!(effective_value(&settings, v.name), "(unknown)", "{} has no effective value", v.name);
        }
    }
}
