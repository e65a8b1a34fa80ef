//! Configuration: every runbook variable binds, bad values are named, production is strict.

use rustchat::config::{
    DefaultValue, Kind, Settings, Source, Sources, VARIABLES, check_config, ensure_development_secrets, markdown_table,
};

const STRONG_A: &str = "c3Ryb25nLXNlY3JldC1udW1iZXItb25lLWZvci10ZXN0cy0xMjM0NTY3ODkw"; // 45 bytes
const STRONG_B: &str = "YW5vdGhlci1zdHJvbmctc2VjcmV0LWZvci10ZXN0cy0wOTg3NjU0MzIxMDk4"; // 45 bytes

fn settings(vars: &[(&str, &str)]) -> Settings {
    Settings::from_vars(vars.iter().copied()).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(vars: &[(&str, &str)]) -> String {
    match Settings::from_vars(vars.iter().copied()) {
        Ok(_) => panic!("configuration {vars:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

/// Each runbook variable, a value different from its default, and how to read the effective value.
type Probe = fn(&Settings) -> String;

#[test]
fn every_runbook_variable_changes_the_effective_setting() {
    let production_base = [
        ("RUSTCHAT_JWT_SECRET", STRONG_A),
        ("RUSTCHAT_ENCRYPTION_KEY", STRONG_B),
        ("RUSTCHAT_DATABASE_URL", "postgres://u:p@db:5432/rustchat"),
    ];
    let cases: &[(&str, &str, Probe)] = &[
        ("RUSTCHAT_ENVIRONMENT", "production", |s| format!("{:?}", s.environment)),
        ("RUSTCHAT_JWT_SECRET", STRONG_A, |s| format!("{:?}", s.jwt_secret.as_ref().map(|x| x.expose().to_vec()))),
        ("RUSTCHAT_ENCRYPTION_KEY", STRONG_B, |s| {
            format!("{:?}", s.encryption_key.as_ref().map(|x| x.expose().to_vec()))
        }),
        ("RUSTCHAT_DATABASE_URL", "postgres://u:p@db:5432/rustchat", |s| s.database.url.redacted()),
        ("RUSTCHAT_REDIS_URL", "redis://redis:6379", |s| {
            format!("{:?}", s.redis.url.as_ref().map(|u| u.expose().clone()))
        }),
        ("RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY", "code", |s| format!("{:?}", s.oauth_token_delivery)),
        ("RUSTCHAT_SITE_URL", "https://chat.example.com", |s| format!("{:?}", s.site_url)),
        ("RUSTCHAT_DB_POOL__MAX_CONNECTIONS", "100", |s| s.database.max_connections.to_string()),
        ("RUSTCHAT_DB_POOL__MIN_CONNECTIONS", "4", |s| s.database.min_connections.to_string()),
        ("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", "20", |s| s.rate_limit.auth_per_minute.to_string()),
        ("RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE", "60", |s| s.rate_limit.ws_per_minute.to_string()),
        ("RUSTCHAT_SERVER_HOST", "127.0.0.1", |s| s.host.clone()),
        ("RUSTCHAT_SERVER_PORT", "4000", |s| s.port.to_string()),
        ("RUSTCHAT_SERVER_WORKERS", "3", |s| s.workers.to_string()),
        ("RUSTCHAT_NODE_ID", "node-7", |s| s.node_id.clone()),
        ("RUSTCHAT_REDIS_PREFIX", "acme", |s| s.redis.prefix.clone()),
        ("RUSTCHAT_DATA_DIR", "/var/lib/rustchat", |s| s.data_dir.display().to_string()),
        ("RUSTCHAT_LOG_LEVEL", "debug", |s| s.log.level.clone()),
        ("RUSTCHAT_LOG_FORMAT", "pretty", |s| format!("{:?}", s.log.format)),
        ("RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS", "250", |s| format!("{:?}", s.database.acquire_timeout)),
        ("RUSTCHAT_AUTO_MIGRATE", "false", |s| s.database.auto_migrate.to_string()),
        ("RUSTCHAT_SHUTDOWN_DRAIN_SECONDS", "7", |s| format!("{:?}", s.shutdown_drain)),
        ("RUSTCHAT_SHUTDOWN_GRACE_SECONDS", "9", |s| format!("{:?}", s.shutdown_grace)),
        ("RUSTCHAT_WS_MAX_QUEUED_FRAMES", "64", |s| s.ws.max_queued_frames.to_string()),
        ("RUSTCHAT_JWT_SECRET_PREVIOUS", STRONG_B, |s| {
            format!("{:?}", s.jwt_secret_previous.as_ref().map(|x| x.expose().to_vec()))
        }),
        ("RUSTCHAT_ENCRYPTION_KEY_PREVIOUS", STRONG_A, |s| {
            format!("{:?}", s.encryption_key_previous.as_ref().map(|x| x.expose().to_vec()))
        }),
        ("RUSTCHAT_SECURITY_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1", |s| {
            format!("{:?}", s.rate_limit.trusted_proxies)
        }),
        ("RUSTCHAT_WS_MAX_QUEUED_BYTES", "65536", |s| s.ws.max_queued_bytes.to_string()),
        ("RUSTCHAT_WS_PRESENCE_MAX_MEMBERS", "5", |s| s.ws.presence_max_members.to_string()),
        ("RUSTCHAT_WS_PING_SECONDS", "5", |s| format!("{:?}", s.ws.ping_interval)),
        ("RUSTCHAT_WS_CLIENT_TIMEOUT_SECONDS", "60", |s| format!("{:?}", s.ws.client_timeout)),
    ];
    for (name, value, probe) in cases {
        // Production needs secrets and PostgreSQL; every case runs on that base so it is valid.
        let base: Vec<_> = production_base.iter().copied().filter(|(k, _)| k != name).collect();
        let mut with: Vec<_> = base.clone();
        with.push((name, value));
        let before = probe(&settings(&base));
        let after = probe(&settings(&with));
        assert_ne!(before, after, "{name}={value} did not change the effective setting");
        assert_eq!(settings(&with).sources.source(name), Source::Environment, "{name} source");
    }
}

#[test]
fn a_variable_that_matches_no_setting_is_named_in_a_warning() {
    let s = settings(&[("RUSTCHAT_DB_POOL_MAX_CONNECTIONS", "5")]);
    assert_eq!(s.unknown_variables, vec!["RUSTCHAT_DB_POOL_MAX_CONNECTIONS".to_string()]);
    let warning = s.warnings.iter().find(|w| w.contains("RUSTCHAT_DB_POOL_MAX_CONNECTIONS")).expect("a warning");
    assert!(warning.contains("did you mean RUSTCHAT_DB_POOL__MAX_CONNECTIONS"), "{warning}");
}

#[test]
fn invalid_values_are_refused_naming_the_variable_and_the_expected_form() {
    let cases = [
        ("RUSTCHAT_SERVER_PORT", "eighty", "a port number"),
        ("RUSTCHAT_SERVER_PORT", "70000", "a port number"),
        ("RUSTCHAT_DB_POOL__MAX_CONNECTIONS", "0", "an integer from 1"),
        ("RUSTCHAT_DB_POOL__MIN_CONNECTIONS", "-1", "an integer from 0"),
        ("RUSTCHAT_ENVIRONMENT", "staging", "one of 'development', 'production'"),
        ("RUSTCHAT_LOG_FORMAT", "xml", "one of 'json', 'pretty'"),
        ("RUSTCHAT_LOG_LEVEL", "loud=[", "a level"),
        ("RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY", "email", "one of 'cookie', 'code'"),
        ("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", "many", "an integer"),
        ("RUSTCHAT_DATABASE_URL", "mysql://db/rustchat", "postgres://"),
        ("RUSTCHAT_REDIS_URL", "http://redis", "redis://"),
        ("RUSTCHAT_SITE_URL", "not a url", "http(s)://"),
        ("RUSTCHAT_NODE_ID", "node one", "[A-Za-z0-9-_.]"),
        ("RUSTCHAT_AUTO_MIGRATE", "sometimes", "one of 'true'"),
        ("RUSTCHAT_JWT_SECRET", "short", "at least 32 bytes"),
    ];
    for (name, value, expected) in cases {
        let message = errors(&[(name, value)]);
        assert!(message.contains(name), "error for {name}={value} does not name it: {message}");
        assert!(message.contains(expected), "error for {name}={value} does not say '{expected}': {message}");
    }
}

#[test]
fn all_bad_variables_are_reported_at_once() {
    let message = errors(&[("RUSTCHAT_SERVER_PORT", "x"), ("RUSTCHAT_LOG_FORMAT", "xml")]);
    assert!(message.contains("RUSTCHAT_SERVER_PORT") && message.contains("RUSTCHAT_LOG_FORMAT"), "{message}");
}

#[test]
fn production_requires_both_secrets_postgres_and_distinct_keys() {
    let message = errors(&[("RUSTCHAT_ENVIRONMENT", "production")]);
    for name in ["RUSTCHAT_JWT_SECRET", "RUSTCHAT_ENCRYPTION_KEY", "RUSTCHAT_DATABASE_URL"] {
        assert!(message.contains(name), "production without {name} not refused: {message}");
    }
    let same = errors(&[
        ("RUSTCHAT_ENVIRONMENT", "production"),
        ("RUSTCHAT_JWT_SECRET", STRONG_A),
        ("RUSTCHAT_ENCRYPTION_KEY", STRONG_A),
        ("RUSTCHAT_DATABASE_URL", "postgres://db/rustchat"),
    ]);
    assert!(same.contains("must differ"), "{same}");
    assert!(!same.contains(STRONG_A), "a secret was echoed: {same}");
}

#[test]
fn production_site_url_must_be_https_and_its_absence_is_a_warning() {
    let prod = [
        ("RUSTCHAT_ENVIRONMENT", "production"),
        ("RUSTCHAT_JWT_SECRET", STRONG_A),
        ("RUSTCHAT_ENCRYPTION_KEY", STRONG_B),
        ("RUSTCHAT_DATABASE_URL", "postgres://db/rustchat"),
    ];
    let s = settings(&prod);
    assert!(s.warnings.iter().any(|w| w.contains("RUSTCHAT_SITE_URL")), "{:?}", s.warnings);
    let mut http = prod.to_vec();
    http.push(("RUSTCHAT_SITE_URL", "http://chat.example.com"));
    assert!(errors(&http).contains("https://"));
}

#[test]
fn the_environment_wins_over_dotenv_and_each_value_knows_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, "RUSTCHAT_SERVER_PORT=4100\nRUSTCHAT_NODE_ID=from-dotenv\nOTHER=1\n").unwrap();
    let env = vec![("RUSTCHAT_SERVER_PORT".to_string(), "4200".to_string())];
    let sources = Sources::collect(env, Some(&path)).unwrap();
    let s = Settings::from_sources(sources).unwrap();
    assert_eq!(s.port, 4200);
    assert_eq!(s.node_id, "from-dotenv");
    assert_eq!(s.sources.source("RUSTCHAT_SERVER_PORT"), Source::Environment);
    assert_eq!(s.sources.source("RUSTCHAT_NODE_ID"), Source::DotEnv);
    assert_eq!(s.sources.source("RUSTCHAT_LOG_LEVEL"), Source::Default);
}

#[test]
fn development_secrets_are_generated_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [("RUSTCHAT_DATA_DIR", dir.path().to_str().unwrap())];
    let mut first = settings(&vars);
    let warnings = ensure_development_secrets(&mut first).unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    let mut second = settings(&vars);
    ensure_development_secrets(&mut second).unwrap();
    assert_eq!(first.jwt_secret, second.jwt_secret, "a restart changed the JWT secret");
    assert_eq!(first.encryption_key, second.encryption_key);
    assert_ne!(first.jwt_secret.unwrap().expose(), first.encryption_key.unwrap().expose());
    assert_eq!(second.sources.source("RUSTCHAT_JWT_SECRET"), Source::Generated);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("secrets.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "secrets file is readable by others: {mode:o}");
    }
}

#[test]
fn the_readmes_configuration_table_is_generated_from_the_variable_table() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let expected = markdown_table(VARIABLES);
    let header = expected.lines().next().unwrap();
    let start = readme.find(header).expect("the README has a configuration table");
    let end = readme[start..].find("\n\n").map_or(readme.len(), |n| start + n + 1);
    assert!(
        readme[start..end] == expected,
        "README's configuration table differs from rustchat::config::VARIABLES; replace it with:\n{expected}"
    );
}

#[tokio::test]
async fn check_config_prints_each_numeric_variables_range() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&[("RUSTCHAT_DATA_DIR", dir.path().to_str().unwrap()), ("RUSTCHAT_WS_PING_SECONDS", "20")]);
    let mut out = Vec::new();
    assert_eq!(check_config(&s, &mut out).await.unwrap(), 0);
    let out = String::from_utf8(out).unwrap();
    let line = |name: &str| out.lines().find(|l| l.trim_start().starts_with(&format!("{name} "))).unwrap().to_string();
    let ping = line("RUSTCHAT_WS_PING_SECONDS");
    assert!(ping.contains(" 20 ") && ping.contains("(environment)") && ping.ends_with("range 1 to 3600 s"), "{ping}");
    assert!(line("RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS").ends_with("range 10 to 600000 ms"), "{out}");
    assert!(line("RUSTCHAT_SERVER_WORKERS").ends_with("range 1 to 256"), "{out}");
    assert!(line("RUSTCHAT_SERVER_PORT").ends_with("range 0 to 65535"), "{out}");
    assert!(line("RUSTCHAT_LOG_LEVEL").ends_with("(default)"), "a variable without a range shows none: {out}");
}

#[test]
fn out_of_range_values_are_refused_with_the_tables_bounds() {
    // Each integer and duration variable, one below its minimum and one above its maximum.
    for v in VARIABLES {
        let (min, max) = match v.kind {
            Kind::Integer { min, max } => (min, max),
            Kind::Duration { min, max, .. } => (i64::try_from(min).unwrap(), i64::try_from(max).unwrap()),
            _ => continue,
        };
        let expected = format!("expected an integer from {min} to {max}");
        for bad in [min - 1, max + 1] {
            let message = errors(&[(v.name, &bad.to_string())]);
            assert!(message.contains(&format!("{}: {expected}, got '{bad}'", v.name)), "{}={bad}: {message}", v.name);
        }
        let at_bounds = [(v.name, min.to_string())];
        let message = Settings::from_vars(at_bounds.iter().map(|(k, v)| (*k, v.as_str())));
        // The client timeout must also exceed the ping interval, so its minimum alone may be refused.
        if v.name != "RUSTCHAT_WS_CLIENT_TIMEOUT_SECONDS" {
            assert!(message.is_ok(), "{}={min} refused: {}", v.name, message.err().unwrap());
        }
    }
}

#[test]
fn every_variable_is_at_its_tables_default_when_unset() {
    let s = settings(&[]);
    let expected: &[(&str, String)] = &[
        ("RUSTCHAT_SERVER_PORT", s.port.to_string()),
        ("RUSTCHAT_DB_POOL__MAX_CONNECTIONS", s.database.max_connections.to_string()),
        ("RUSTCHAT_DB_POOL__MIN_CONNECTIONS", s.database.min_connections.to_string()),
        ("RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS", s.database.acquire_timeout.as_millis().to_string()),
        ("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", s.rate_limit.auth_per_minute.to_string()),
        ("RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE", s.rate_limit.ws_per_minute.to_string()),
        ("RUSTCHAT_WS_MAX_QUEUED_FRAMES", s.ws.max_queued_frames.to_string()),
        ("RUSTCHAT_WS_MAX_QUEUED_BYTES", s.ws.max_queued_bytes.to_string()),
        ("RUSTCHAT_WS_PRESENCE_MAX_MEMBERS", s.ws.presence_max_members.to_string()),
        ("RUSTCHAT_WS_PING_SECONDS", s.ws.ping_interval.as_secs().to_string()),
        ("RUSTCHAT_WS_CLIENT_TIMEOUT_SECONDS", s.ws.client_timeout.as_secs().to_string()),
        ("RUSTCHAT_SHUTDOWN_DRAIN_SECONDS", s.shutdown_drain.as_secs().to_string()),
        ("RUSTCHAT_SHUTDOWN_GRACE_SECONDS", s.shutdown_grace.as_secs().to_string()),
        ("RUSTCHAT_ENVIRONMENT", format!("{:?}", s.environment).to_lowercase()),
        ("RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY", format!("{:?}", s.oauth_token_delivery).to_lowercase()),
        ("RUSTCHAT_SERVER_HOST", s.host.clone()),
        ("RUSTCHAT_REDIS_PREFIX", s.redis.prefix.clone()),
        ("RUSTCHAT_DATA_DIR", s.data_dir.display().to_string()),
        ("RUSTCHAT_LOG_LEVEL", s.log.level.clone()),
    ];
    for (name, effective) in expected {
        let v = VARIABLES.iter().find(|v| v.name == *name).unwrap();
        assert!(matches!(v.default, DefaultValue::Integer(_) | DefaultValue::Duration(_) | DefaultValue::Text(_)));
        assert_eq!(*effective, v.default_text(), "{name} unset is not at the table's default");
    }
}
