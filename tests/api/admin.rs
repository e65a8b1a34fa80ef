//! `rustchat admin …`, run as the real binary against PostgreSQL and SQLite: accounts it creates log
//! in over HTTP, its exit codes are the documented ones, passwords come from stdin and are never
//! printed, and a deactivation closes the user's socket on a running node (close code 4003).

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::process::{free_port, run_with_stdin};
use crate::common::{Api, Db, TestDb, Ws, spawn_app, spawn_app_on};

/// A fresh database of kind `db`: its URL, and what keeps it alive.
async fn database(db: Db) -> Option<(String, Option<TestDb>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    Some(match db {
        Db::Postgres => {
            let test_db = TestDb::create().await?;
            (test_db.url.clone(), Some(test_db), dir)
        }
        Db::Sqlite => (format!("sqlite://{}", dir.path().join("chat.db").display()), None, dir),
    })
}

/// Runs `rustchat admin <args>` on `url` (development settings: the schema is migrated on first use),
/// off the async runtime.
async fn admin(url: &str, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let (url, stdin) = (url.to_string(), stdin.map(str::to_string));
    let mut argv = vec!["admin".to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        run_with_stdin(dir.path(), &[("RUSTCHAT_DATABASE_URL", &url)], &args, stdin.as_deref())
    })
    .await
    .unwrap()
}

async fn login(app: &str, login: &str, password: &str) -> (u16, Value) {
    let r = Api::login(app, login, password).await;
    (r.status, r.body)
}

async fn accounts_are_created_from_the_command_line_and_log_in(db: Db) {
    let Some((url, _db, _dir)) = database(db).await else { return };
    let secret = "correct-horse-battery";
    for (args, role) in [
        (
            &["create-user", "--username", "first", "--email", "first@example.com", "--password-stdin"][..],
            "system admin",
        ),
        (&["create-user", "--username", "second", "--email", "second@example.com", "--password-stdin"], "member"),
        (
            &[
                "create-user",
                "--username",
                "Third",
                "--email",
                "third@example.com",
                "--display-name",
                "Third Person",
                "--admin",
                "--password-stdin",
            ],
            "system admin",
        ),
    ] {
        let (code, out, err) = admin(&url, args, Some(&format!("{secret}\n"))).await;
        assert_eq!(code, 0, "{args:?}:\n{out}\n{err}");
        assert!(out.starts_with("created ") && out.trim_end().ends_with(role), "{args:?}: {out}");
        assert!(!out.contains(secret) && !err.contains(secret), "the password was printed:\n{out}\n{err}");
    }

    let (code, out, err) = admin(&url, &["list-users", "--json"], None).await;
    assert_eq!(code, 0, "{err}");
    let users: Value = serde_json::from_str(&out).unwrap();
    let summary: Vec<(String, bool, bool)> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["username"].as_str().unwrap().to_string(), u["is_system_admin"] == true, u["is_active"] == true))
        .collect();
    let expected = [("first", true, true), ("second", false, true), ("third", true, true)]
        .map(|(n, a, b)| (n.to_string(), a, b))
        .to_vec();
    assert_eq!(summary, expected, "the first account and --admin make admins: {out}");
    assert!(!out.contains("password"), "no hash in the listing: {out}");

    let (code, table, _) = admin(&url, &["list-users"], None).await;
    assert_eq!(code, 0);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("USERNAME") && rows[0].contains("ADMIN") && rows[0].contains("ACTIVE"), "{table}");
    assert!(
        rows[3].starts_with("third ") && rows[3].contains("third@example.com") && rows[3].ends_with("Third Person")
    );

    let app = spawn_app_on(&url, &[]).await.unwrap();
    let (status, body) = login(&app.address, "third@example.com", secret).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["is_system_admin"], true);
    assert_eq!(login(&app.address, "second", "wrong-password").await.0, 401);
}

async fn the_exit_codes_are_the_documented_ones(db: Db) {
    let Some((url, _db, _dir)) = database(db).await else { return };
    let create =
        |name: &'static str| ["create-user", "--username", name, "--email", "x@example.com", "--password-stdin"];
    let ok = Some("long-enough-password\n");
    assert_eq!(admin(&url, &create("taken"), ok).await.0, 0);

    let cases: Vec<(Vec<&str>, Option<&str>, i32, &str)> = vec![
        (create("taken").to_vec(), ok, 4, "already taken"),
        (create("other").to_vec(), ok, 4, "already taken"),
        (create("9bad name").to_vec(), ok, 2, "username must be"),
        (create("shorty").to_vec(), Some("short\n"), 2, "at least 8 characters"),
        (create("empty").to_vec(), Some(""), 2, "no password on stdin"),
        (vec!["create-user", "--username", "nopw", "--email", "n@example.com"], ok, 2, "--password-stdin"),
        (
            vec!["create-user", "--username", "argv", "--email", "a@example.com", "--password", "hunter22"],
            ok,
            2,
            "--password",
        ),
        (vec!["deactivate", "nobody"], None, 3, "no account has the username or email \"nobody\""),
        (vec!["reset-password", "nobody", "--password-stdin"], ok, 3, "nobody"),
        (vec!["frobnicate"], None, 2, "unrecognized subcommand"),
    ];
    for (args, stdin, code, message) in cases {
        let (got, out, err) = admin(&url, &args, stdin).await;
        assert_eq!(got, code, "{args:?}:\n{out}\n{err}");
        assert!(err.contains(message), "{args:?}: stderr lacks {message:?}:\n{err}");
    }
    let (code, out, _) = admin(&url, &["list-users", "--json"], None).await;
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().len(), 1, "nothing else was created");
}

async fn reset_password_ends_every_session_and_the_new_password_works(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let _admin = Api::register(&app.address, "boss").await;
    let user = Api::register(&app.address, "forgetful").await;
    let refresh = user.refresh.clone().unwrap();

    let new = "a-brand-new-password";
    let (code, out, err) =
        admin(&app.db_url, &["reset-password", "forgetful", "--password-stdin"], Some(&format!("{new}\n"))).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out.trim(), "reset the password of forgetful; 1 session(s) ended");
    assert!(!out.contains(new) && !err.contains(new), "the password was printed");

    assert_eq!(login(&app.address, "forgetful", "password-forgetful").await.0, 401, "the old password is gone");
    assert_eq!(login(&app.address, "forgetful@example.com", new).await.0, 200);
    let refreshed =
        Api::anonymous(&app.address).post("/api/v1/auth/refresh", json!({ "refresh_token": refresh })).await;
    assert_eq!(refreshed.status, 401, "the session from before the reset ended: {:?}", refreshed.body);
}

async fn deactivate_closes_the_users_socket_on_a_running_node_with_4003(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else { return };
    let _admin = Api::register(&app.address, "boss").await;
    let user = Api::register(&app.address, "leaver").await;
    let mut ws = Ws::connect(&app.address, user.token.as_deref().unwrap()).await;
    ws.send(json!({"action": "ping"})).await;
    ws.expect("pong", Duration::from_secs(10)).await;

    let (code, out, err) = admin(&app.db_url, &["deactivate", "leaver"], None).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with("deactivated leaver"), "{out}");
    // Another process changed the database: the node finds out at its sockets' next login check.
    let (close, reason) = ws.expect_close(Duration::from_secs(15)).await;
    assert_eq!(close, 4003, "closed with {close} {reason:?}");
    assert_eq!(login(&app.address, "leaver", "password-leaver").await.0, 401);
    assert_eq!(user.get("/api/v1/users/me").await.status, 401, "the access token ended with its session");

    let (code, out, _) = admin(&app.db_url, &["deactivate", "leaver@example.com"], None).await;
    assert_eq!((code, out.trim()), (0, "leaver was already deactivated"));
    let (code, _, _) = admin(&app.db_url, &["activate", "leaver"], None).await;
    assert_eq!(code, 0);
    assert_eq!(login(&app.address, "leaver", "password-leaver").await.0, 200, "reactivated");
}

crate::on_both_databases!(
    accounts_are_created_from_the_command_line_and_log_in,
    the_exit_codes_are_the_documented_ones,
    reset_password_ends_every_session_and_the_new_password_works,
    deactivate_closes_the_users_socket_on_a_running_node_with_4003,
);

#[tokio::test]
async fn an_unusable_database_or_a_pending_schema_fails_with_exit_code_1_and_says_why() {
    let Some(db) = TestDb::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let closed = format!("postgres://postgres:pw-n0t-for-logs@127.0.0.1:{}/rustchat", free_port());
    let (code, out, err) = run_with_stdin(
        dir.path(),
        &[("RUSTCHAT_DATABASE_URL", &closed), ("RUSTCHAT_DB_POOL__ACQUIRE_TIMEOUT_MS", "500")],
        &["admin", "list-users"],
        None,
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("cannot connect to PostgreSQL at 127.0.0.1:") && err.contains("connection refused"), "{err}");
    assert!(!err.contains("pw-n0t-for-logs"), "{err}");
    assert!(out.is_empty(), "stdout is for answers only: {out}");

    // Production never migrates on its own, from the command line either.
    let production = [
        ("RUSTCHAT_ENVIRONMENT", "production"),
        ("RUSTCHAT_JWT_SECRET", "Zmlyc3QtZGVwbG95bWVudC1qd3Qtc2VjcmV0LWZyb20tb3BlbnNzbC1yYW5kLWJhc2U2NC00OA=="),
        ("RUSTCHAT_ENCRYPTION_KEY", "Zmlyc3QtZGVwbG95bWVudC1lbmNyeXB0aW9uLWtleS1mcm9tLW9wZW5zc2wtcmFuZC00OCEhIQ=="),
        ("RUSTCHAT_DATABASE_URL", db.url.as_str()),
    ];
    let (code, _, err) = run_with_stdin(dir.path(), &production, &["admin", "list-users"], None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("migration(s) pending") && err.contains("rustchat --migrate-only"), "{err}");
    let (code, out, err) = run_with_stdin(dir.path(), &production, &["--migrate-only"], None);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = run_with_stdin(
        dir.path(),
        &production,
        &["admin", "create-user", "--admin", "--username", "ops", "--email", "ops@example.com", "--password-stdin"],
        Some("first-admin-password\n"),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("system admin"), "{out}");
}

#[test]
fn the_readme_and_the_operations_guide_document_every_admin_command_and_exit_code() {
    use clap::CommandFactory;
    let read = |path: &str| std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let (readme, guide) = (read("README.md"), read("docs/operations.md"));
    let cli = rustchat::cli::Cli::command();
    let admin = cli.find_subcommand("admin").expect("an admin command");
    let commands: Vec<&str> = admin.get_subcommands().map(|c| c.get_name()).collect();
    assert!(commands.len() >= 5, "{commands:?}");
    for name in commands {
        let usage = format!("rustchat admin {name}");
        assert!(readme.contains(&format!("| `{usage}")), "README's admin table lacks {usage}");
        assert!(guide.contains(&usage), "docs/operations.md lacks {usage}");
    }
    use rustchat::cli::exit::*;
    for code in [OK, FAILED, INVALID, NOT_FOUND, CONFLICT] {
        assert!(readme.contains(&format!("\n| {code} | ")), "README's exit code table lacks {code}");
    }
}
