//! The web client in a real browser: `tests/browser/run.mjs` drives Debian's chromium (playwright-core)
//! against two nodes behind HAProxy. This side starts the cluster and the balancer, runs the script,
//! performs the `kill -9` it asks for mid-conversation, and checks its verdict and screenshots.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::common::op::{CLIENT_ID, CLIENT_SECRET, Provider};
use crate::common::s3::Moto;
use crate::common::{Balancer, Cluster, Db, eventually, spawn_app};

const SCRIPT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Whether the browser, Node and the script's packages are here; CI must have them all.
fn browser_kit_present() -> bool {
    let missing: Vec<&str> = [
        (std::path::Path::new(&chromium()).exists(), "chromium (apt-get install chromium)"),
        (std::process::Command::new("node").arg("--version").output().is_ok(), "node"),
        (std::path::Path::new(SCRIPT_DIR).join("node_modules/playwright-core").exists(), "npm ci in tests/browser"),
    ]
    .into_iter()
    .filter(|(present, _)| !present)
    .map(|(_, what)| what)
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(std::env::var("CI").is_err(), "the browser test needs {missing:?} on CI (.ci/run installs them)");
    eprintln!("SKIPPED: the browser test needs {missing:?}");
    false
}

/// Runs `script` (in tests/browser) against `base` and returns its `RESULT` report, failing the test
/// with the script's output when it fails or says nothing.
async fn run_script(script: &str, base: &str, env: &[(&str, &str)], limit: Duration) -> serde_json::Value {
    let run = tokio::time::timeout(
        limit,
        tokio::process::Command::new("node")
            .arg(script)
            .current_dir(SCRIPT_DIR)
            .env("BASE_URL", base)
            .env("SCREENSHOT_DIR", screenshot_dir())
            .env("CHROMIUM", chromium())
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{script} finishes within {limit:?}"))
    .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{script} failed:\n{out}\n--- stderr ---\n{}", String::from_utf8_lossy(&run.stderr));
    let report = out.lines().find_map(|l| l.strip_prefix("RESULT ")).expect("the script reports its result");
    serde_json::from_str(report).unwrap()
}

/// Fails the test unless each screenshot was written.
fn assert_screenshots(names: &[&str]) {
    for shot in names {
        let path = screenshot_dir().join(format!("{shot}.png"));
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "screenshot {} missing or empty", path.display());
    }
}

fn screenshot_dir() -> PathBuf {
    std::env::var("SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/screenshots")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_client_works_in_a_real_browser_on_two_nodes_behind_the_balancer() {
    if !browser_kit_present() {
        return;
    }
    let Some(mut cluster) = Cluster::start(2, &[]).await else { return };
    let ports: Vec<u16> = (0..2).map(|i| cluster.base(i).rsplit(':').next().unwrap().parse().unwrap()).collect();
    let Some(lb) = Balancer::start(&ports) else { return };
    let base = lb.base();
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(20), "the balancer sees both nodes ready", || {
        let lb = &lb;
        async move {
            let states = lb.admin("show servers state be").await;
            (states.lines().filter(|l| l.contains(" node") && l.split_whitespace().nth(5) == Some("2")).count() == 2)
                .then_some(())
        }
    })
    .await;
    assert_eq!(http.get(format!("{base}/")).send().await.unwrap().status(), 200, "the page through the balancer");

    let shots = screenshot_dir();
    let mut child = tokio::process::Command::new("node")
        .arg("run.mjs")
        .current_dir(SCRIPT_DIR)
        .env("BASE_URL", &base)
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", chromium())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = child.stderr.take().unwrap();
    let errors = tokio::spawn(async move {
        let mut all = String::new();
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            all.push_str(&l);
            all.push('\n');
        }
        all
    });

    let mut transcript = Vec::new();
    let mut killed = None;
    let run = tokio::time::timeout(Duration::from_secs(300), async {
        while let Some(line) = out.next_line().await.unwrap() {
            eprintln!("browser: {line}");
            if let Some(node) = line.strip_prefix("KILL node-") {
                let i: usize = node.trim().parse().expect("a node index");
                cluster.kill9(i);
                killed = Some(i);
                stdin.write_all(b"KILLED\n").await.unwrap();
                stdin.flush().await.unwrap();
            }
            transcript.push(line);
        }
        child.wait().await.unwrap()
    })
    .await;
    let status = run.unwrap_or_else(|_| panic!("the browser run did not finish in 300 s:\n{}", transcript.join("\n")));
    let stderr = errors.await.unwrap_or_default();
    let transcript = transcript.join("\n");
    assert!(status.success(), "the browser run failed:\n{transcript}\n--- stderr ---\n{stderr}");
    assert!(killed.is_some(), "the script never asked for the kill:\n{transcript}");

    let result: serde_json::Value = serde_json::from_str(
        transcript.lines().find_map(|l| l.strip_prefix("RESULT ")).expect("the script reports its result"),
    )
    .unwrap();
    assert_eq!(result["dialogs"], 0, "no script of a message ran: {result}");
    assert_eq!(result["kill"]["messages"], 12, "every message once after the kill: {result}");
    for view in ["sign-in", "channel", "channel with thread open", "admin", "direct message dialog", "channel (dark)"] {
        assert_eq!(result["axe"][view]["serious_or_critical"], 0, "axe on {view}: {result}");
    }
    for shot in [
        "01-sign-in",
        "02-unread-and-mention-badges",
        "03-thread-and-reaction",
        "04-channel",
        "05-admin",
        "06-dark",
        "07-phone",
    ] {
        let path = shots.join(format!("{shot}.png"));
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "screenshot {} missing or empty", path.display());
    }
}

#[tokio::test]
async fn single_sign_on_in_cookie_mode_lands_on_a_working_client() {
    if !browser_kit_present() || !crate::common::op::available() {
        return;
    }
    let port = crate::common::process::free_port();
    let site = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(&[format!("{site}/api/v1/auth/oidc/sso/callback")]).await;
    let port_text = port.to_string();
    let vars = [
        ("RUSTCHAT_OIDC_ISSUER", provider.issuer.as_str()),
        ("RUSTCHAT_OIDC_CLIENT_ID", CLIENT_ID),
        ("RUSTCHAT_OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("RUSTCHAT_SITE_URL", site.as_str()),
        ("RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY", "cookie"),
        ("RUSTCHAT_SERVER_PORT", port_text.as_str()),
    ];
    let Some(_app) = spawn_app(Db::Sqlite, &vars).await else { return };
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg("sso.mjs")
            .current_dir(SCRIPT_DIR)
            .env("BASE_URL", &site)
            .env("SCREENSHOT_DIR", &shots)
            .env("CHROMIUM", chromium())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the SSO browser run finishes within 120 s")
    .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && out.contains("RESULT ok"),
        "{out}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// The largest upload the attachments run allows: the script's over-size file is one byte more.
const BROWSER_MAX_FILE: &str = "3000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_work_in_a_real_browser_on_two_nodes_sharing_s3_storage() {
    if !browser_kit_present() {
        return;
    }
    let Some(moto) = Moto::start().await else { return };
    moto.create_bucket("browser").await;
    let mut vars = Moto::vars(&moto.endpoint, "browser");
    vars.push(("RUSTCHAT_FILES_MAX_SIZE_BYTES".into(), BROWSER_MAX_FILE.into()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let Some(cluster) = Cluster::start(2, &vars).await else { return };
    let ports: Vec<u16> = (0..2).map(|i| cluster.base(i).rsplit(':').next().unwrap().parse().unwrap()).collect();
    let Some(lb) = Balancer::start(&ports) else { return };
    eventually(Duration::from_secs(20), "the balancer sees both nodes ready", || {
        let lb = &lb;
        async move {
            let states = lb.admin("show servers state be").await;
            (states.lines().filter(|l| l.contains(" node") && l.split_whitespace().nth(5) == Some("2")).count() == 2)
                .then_some(())
        }
    })
    .await;

    let result =
        run_script("files.mjs", &lb.base(), &[("MAX_SIZE_BYTES", BROWSER_MAX_FILE)], Duration::from_secs(240)).await;
    assert_eq!(result["dialogs"], 0, "no uploaded page ran a script: {result}");
    assert_eq!(result["axe"]["channel with attachments"]["serious_or_critical"], 0, "{result}");
    assert_screenshots(&[
        "20-attachments-ready",
        "21-attachments-inline",
        "22-image-viewer",
        "23-upload-progress",
        "24-too-large",
        "25-thread-attachment",
    ]);
    // The files went to the shared bucket, where both nodes read them.
    assert!(moto.keys("browser").await.len() >= 6, "the uploads are in S3: {:?}", moto.keys("browser").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrations_are_managed_in_a_real_browser_and_work_from_outside() {
    if !browser_kit_present() {
        return;
    }
    // The script serves the slash command on loopback, which the node may call only when allowed.
    let Some(cluster) = Cluster::start(1, &[("RUSTCHAT_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")]).await else {
        return;
    };
    let result = run_script("integrations.mjs", &cluster.base(0), &[], Duration::from_secs(180)).await;
    assert_eq!(result["command_calls"], 1, "the command was called once: {result}");
    assert_eq!(result["axe"]["integrations"]["serious_or_critical"], 0, "{result}");
    assert_screenshots(&["30-integrations-tokens", "31-webhook-post", "32-integrations-admin", "33-slash-command"]);
    // No secret shown on the page reached the node's log.
    let logs: Vec<String> = cluster.logs(0).iter().map(|l| l.to_string()).collect();
    assert!(logs.iter().all(|l| !l.contains("rcpat_")), "a token in the log");
}
