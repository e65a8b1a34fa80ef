//! The binary's command line: --check-config, --migrate-only, exit codes, --help/--version.

use crate::common::process::{free_port, run};
use crate::common::{TestDb, redis_available, redis_url};

const JWT: &str = "Zmlyc3QtZGVwbG95bWVudC1qd3Qtc2VjcmV0LWZyb20tb3BlbnNzbC1yYW5kLWJhc2U2NC00OA==";
const KEY: &str = "Zmlyc3QtZGVwbG95bWVudC1lbmNyeXB0aW9uLWtleS1mcm9tLW9wZW5zc2wtcmFuZC00OCEhIQ==";

/// The runbook's first-time-deployment `.env`, byte for byte, with the reachable services swapped in.
fn runbook_dotenv(database_url: &str, redis_url: &str) -> String {
    format!(
        "RUSTCHAT_ENVIRONMENT=production\nRUSTCHAT_JWT_SECRET={JWT}\nRUSTCHAT_ENCRYPTION_KEY={KEY}\n\
         RUSTCHAT_DATABASE_URL={database_url}\nRUSTCHAT_REDIS_URL={redis_url}\nRUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY=cookie\n"
    )
}

#[tokio::test]
async fn the_runbook_first_deployment_passes_check_config_then_migrates_then_starts() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    if !redis_available().await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let password = "pw-n0t-for-logs";
    std::fs::write(dir.path().join(".env"), runbook_dotenv(&db.url_with_password(password), &redis_url())).unwrap();

    let (code, out, err) = run(dir.path(), &[], &["--check-config"]);
    assert_eq!(code, 0, "check-config failed:\n{out}\n{err}");
    for secret in [JWT, KEY, password] {
        assert!(!out.contains(secret) && !err.contains(secret), "a secret leaked into --check-config output:\n{out}");
    }
    assert!(out.contains("[redacted]"), "{out}");
    assert!(out.contains("(.env)"), "sources are not shown:\n{out}");
    assert!(out.contains("migration(s) pending"), "pending migrations not reported:\n{out}");

    // Production never migrates on its own: starting before --migrate-only fails and says what to do.
    let port = free_port().to_string();
    let (code, out, _) = run(dir.path(), &[("RUSTCHAT_SERVER_PORT", &port)], &[]);
    assert_ne!(code, 0);
    assert!(out.contains("rustchat --migrate-only"), "{out}");

    let (code, out, err) = run(dir.path(), &[], &["--migrate-only"]);
    assert_eq!(code, 0, "migrate-only failed:\n{out}\n{err}");
    let (code, out, _) = run(dir.path(), &[], &["--check-config"]);
    assert_eq!(code, 0);
    assert!(out.contains("schema up to date"), "{out}");
}

#[tokio::test]
async fn check_config_refuses_weak_production_secrets_without_printing_them() {
    let dir = tempfile::tempdir().unwrap();
    let weak = "changeme-weak";
    let (code, out, err) = run(
        dir.path(),
        &[
            ("RUSTCHAT_ENVIRONMENT", "production"),
            ("RUSTCHAT_JWT_SECRET", weak),
            ("RUSTCHAT_ENCRYPTION_KEY", KEY),
            ("RUSTCHAT_DATABASE_URL", "postgres://u@127.0.0.1:1/x"),
        ],
        &["--check-config"],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("RUSTCHAT_JWT_SECRET") && err.contains("at least 32 bytes"), "{err}");
    assert!(!out.contains(weak) && !err.contains(weak), "weak secret printed:\n{out}{err}");
    assert!(!out.contains(KEY) && !err.contains(KEY));
}

#[tokio::test]
async fn check_config_fails_when_the_database_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://rustchat:secretpw@127.0.0.1:{}/rustchat", free_port());
    let (code, out, _) = run(dir.path(), &[("RUSTCHAT_DATABASE_URL", &url)], &["--check-config"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("database  FAILED"), "{out}");
    assert!(!out.contains("secretpw"), "{out}");
}

#[test]
fn an_invalid_value_stops_startup_with_exit_code_2_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&[][..], &["--check-config"], &["--migrate-only"]] {
        let (code, _, err) = run(dir.path(), &[("RUSTCHAT_DB_POOL__MAX_CONNECTIONS", "lots")], args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("RUSTCHAT_DB_POOL__MAX_CONNECTIONS") && err.contains("expected an integer"), "{err}");
    }
}

#[tokio::test]
async fn migrate_only_is_idempotent_and_safe_when_run_concurrently_on_postgres() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vars = [("RUSTCHAT_DATABASE_URL", db.url.as_str())];
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.path().to_path_buf();
            let url = db.url.clone();
            std::thread::spawn(move || run(&dir, &[("RUSTCHAT_DATABASE_URL", &url)], &["--migrate-only"]))
        })
        .collect();
    for r in runs {
        let (code, out, err) = r.join().unwrap();
        assert_eq!(code, 0, "concurrent migrate-only failed:\n{out}\n{err}");
    }
    let (code, out, err) = run(dir.path(), &vars, &["--migrate-only"]);
    assert_eq!(code, 0, "second migrate-only failed:\n{out}\n{err}");
    let (_, out, _) = run(dir.path(), &vars, &["--check-config"]);
    assert!(out.contains("schema up to date"), "{out}");
}

#[test]
fn migrate_only_is_safe_when_run_concurrently_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("chat.db").display());
    // Eight at once on a new file: each one's first connection switches the file to WAL, which is
    // where unserialised processes were refused "database is locked" about once in 60 tries.
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let dir = dir.path().to_path_buf();
            let url = url.clone();
            std::thread::spawn(move || run(&dir, &[("RUSTCHAT_DATABASE_URL", &url)], &["--migrate-only"]))
        })
        .collect();
    for r in runs {
        let (code, out, err) = r.join().unwrap();
        assert_eq!(code, 0, "concurrent migrate-only failed:\n{out}\n{err}");
    }
}

#[test]
fn help_and_version_describe_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(dir.path(), &[], &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--check-config") && out.contains("--migrate-only"), "{out}");
    let (code, out, _) = run(dir.path(), &[], &["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("rustchat {}", env!("CARGO_PKG_VERSION")));
}

/// Production variables for a node on `database_url` (no Redis).
fn production(database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("RUSTCHAT_ENVIRONMENT", "production".into()),
        ("RUSTCHAT_JWT_SECRET", JWT.into()),
        ("RUSTCHAT_ENCRYPTION_KEY", KEY.into()),
        ("RUSTCHAT_DATABASE_URL", database_url.into()),
        ("RUSTCHAT_SERVER_PORT", free_port().to_string()),
        ("RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS", "1500".into()),
    ]
}

fn development(database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("RUSTCHAT_DATABASE_URL", database_url.into()),
        ("RUSTCHAT_SERVER_PORT", free_port().to_string()),
        ("RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS", "1500".into()),
    ]
}

fn refs<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The log lines (JSON) of a run's stdout.
fn log_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))).collect()
}

/// The one ERROR line of a failed run, checked to carry `cause`.
fn the_error_line(out: &str, cause: &str) -> serde_json::Value {
    let errors: Vec<_> = log_lines(out).into_iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{out}");
    assert_eq!(errors[0]["fields"]["cause"], cause, "{out}");
    errors[0].clone()
}

#[tokio::test]
async fn a_missing_database_is_reported_as_missing_once_in_every_mode() {
    if !crate::common::postgres_available().await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("rustchat_missing_{}", uuid::Uuid::new_v4().simple());
    let password = "pw-n0t-for-logs";
    let mut url = url::Url::parse(&crate::common::admin_database_url()).unwrap();
    url.set_path(&name);
    url.set_password(Some(password)).unwrap();
    let url = url.to_string();
    let expected = format!("database \"{name}\" does not exist on PostgreSQL at 127.0.0.1:5432");

    for (mode, vars) in [("production", production(&url)), ("development", development(&url))] {
        for args in [&[][..], &["--migrate-only"]] {
            let (code, out, err) = run(dir.path(), &refs(&vars), args);
            assert_eq!(code, 1, "{mode} {args:?}:\n{out}\n{err}");
            let line = the_error_line(&out, "database_missing");
            let error = line["fields"]["error"].as_str().unwrap();
            assert!(error.contains(&expected) && error.contains("createdb"), "{mode} {args:?}: {error}");
            assert!(
                !out.contains("migration(s) pending"),
                "{mode} {args:?}: a missing database is not a missing table:\n{out}"
            );
            assert_eq!(
                format!("{out}{err}").matches("does not exist").count(),
                1,
                "{mode} {args:?}: said more than once:\n{out}\n{err}"
            );
            assert!(!out.contains(password) && !err.contains(password), "{mode} {args:?}: password printed");
        }
        let (code, out, err) = run(dir.path(), &refs(&vars), &["--check-config"]);
        assert_eq!(code, 2, "{mode}:\n{out}\n{err}");
        assert!(out.contains(&format!("database  FAILED: {expected}")), "{mode}:\n{out}");
        assert!(!out.contains("internal"), "{mode}: {out}");
        assert!(!out.contains(password), "{mode}: password printed");
    }
}

/// A listener that accepts connections and never says a word: a server that gives no answer.
fn silent_server() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[tokio::test]
async fn an_unusable_database_is_named_by_host_port_and_cause_without_the_password() {
    if !crate::common::postgres_available().await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let (_silent, silent) = silent_server();
    let cases = [
        (
            format!("postgres://rustchat:pw-n0t-for-logs@127.0.0.1:{closed}/rustchat"),
            format!("cannot connect to PostgreSQL at 127.0.0.1:{closed}: connection refused"),
            "connection_refused",
        ),
        (
            "postgres://rustchat:pw-n0t-for-logs@db.invalid:5432/rustchat".to_string(),
            "cannot connect to PostgreSQL at db.invalid:5432: the host name \"db.invalid\" does not resolve".to_string(),
            "host_not_found",
        ),
        (
            "postgres://no_such_role:pw-n0t-for-logs@127.0.0.1:5432/postgres".to_string(),
            "PostgreSQL at 127.0.0.1:5432 refused user \"no_such_role\": authentication failed (role \"no_such_role\" does not exist)".to_string(),
            "authentication_failed",
        ),
        (
            format!("postgres://rustchat:pw-n0t-for-logs@127.0.0.1:{silent}/rustchat"),
            format!("cannot connect to PostgreSQL at 127.0.0.1:{silent}: no answer within 1 s"),
            "no_answer",
        ),
    ];
    for (url, expected, cause) in &cases {
        let mut vars = production(url);
        for (k, v) in &mut vars {
            if *k == "RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS" {
                *v = "1000".into();
            }
        }
        for args in [&[][..], &["--migrate-only"]] {
            let started = std::time::Instant::now();
            let (code, out, err) = run(dir.path(), &refs(&vars), args);
            assert_eq!(code, 1, "{url} {args:?}:\n{out}\n{err}");
            let line = the_error_line(&out, cause);
            let error = line["fields"]["error"].as_str().unwrap();
            assert!(error.starts_with(expected.as_str()), "{url} {args:?}:\n{error}\nexpected: {expected}");
            assert!(!out.contains("pool timed out"), "{out}");
            assert!(!out.contains("pw-n0t-for-logs") && !err.contains("pw-n0t-for-logs"), "password printed:\n{out}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "{url} {args:?}: took {:?}",
                started.elapsed()
            );
        }
        let (code, out, _) = run(dir.path(), &refs(&vars), &["--check-config"]);
        assert_eq!(code, 2, "{out}");
        let line =
            out.lines().find(|l| l.trim_start().starts_with("database  FAILED")).unwrap_or_else(|| panic!("{out}"));
        assert!(line.contains(expected.split(": no answer").next().unwrap()), "{line}\nexpected: {expected}");
        assert!(!out.contains("pw-n0t-for-logs"), "password printed:\n{out}");
    }
}

/// `(version, description)` of every migration in `migrations/<backend>`.
fn migration_files(backend: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql") && !n.ends_with(".down.sql"))
        .map(|n| {
            let stem = n.trim_end_matches(".up.sql").trim_end_matches(".sql");
            let (version, description) = stem.split_once('_').unwrap();
            format!("{version} {}", description.replace('_', " "))
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn migrate_only_logs_each_migration_it_applies_then_how_many() {
    let Some(db) = TestDb::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("chat.db").display());
    for (backend, url) in [("postgres", db.url.as_str()), ("sqlite", sqlite.as_str())] {
        let expected = migration_files(backend);
        assert!(expected.len() >= 5, "{expected:?}");
        let vars = [("RUSTCHAT_DATABASE_URL", url)];
        let (code, out, err) = run(dir.path(), &vars, &["--migrate-only"]);
        assert_eq!(code, 0, "{backend}:\n{out}\n{err}");
        let lines = log_lines(&out);
        let applied: Vec<String> = lines
            .iter()
            .filter_map(|l| l["message"].as_str()?.strip_prefix("applied migration ").map(str::to_string))
            .collect();
        assert_eq!(applied, expected, "{backend}: one line per migration, in order:\n{out}");
        let last = lines.last().unwrap();
        assert_eq!(last["message"], format!("applied {} migrations", expected.len()), "{backend}:\n{out}");
        assert_eq!(last["fields"]["applied"], expected.len(), "{backend}");
        assert!(!out.contains("up to date"), "{backend}: nothing was up to date before this run:\n{out}");

        let (code, out, _) = run(dir.path(), &vars, &["--migrate-only"]);
        assert_eq!(code, 0, "{backend}:\n{out}");
        assert!(!out.contains("applied migration"), "{backend}: nothing left to apply:\n{out}");
        let last = log_lines(&out).pop().unwrap();
        assert_eq!(last["message"], "no migration pending: the database schema is up to date", "{backend}");
        assert_eq!(last["fields"]["applied"], 0, "{backend}");
    }
}
