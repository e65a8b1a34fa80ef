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
    let runs: Vec<_> = (0..4)
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
