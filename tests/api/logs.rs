//! Log lines as the runbook's `jq` filters read them, checked on a real process's real stdout.

use std::time::Duration;

use crate::common::NodeProcess;
use crate::common::process::free_port;

async fn wait_live(client: &reqwest::Client, base: &str) {
    crate::common::eventually(Duration::from_secs(30), "the node to answer", || async {
        let r = client.get(format!("{base}/api/v1/health/live")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await
}

#[tokio::test]
async fn every_line_is_a_json_object_with_the_runbook_fields() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let node = NodeProcess::start(
        dir.path(),
        &[("RUSTCHAT_SERVER_PORT", &port), ("RUSTCHAT_LOG_FORMAT", "json"), ("RUSTCHAT_TYPO_SETTING", "1")],
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_live(&client, &base).await;

    let ok =
        client.get(format!("{base}/api/v1/health/live")).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(ok.headers()["x-request-id"], "trace-me-42", "an incoming request id is echoed");
    let missing = client.get(format!("{base}/api/v1/nothing/here")).send().await.unwrap();
    let minted = missing.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(missing.status(), 404);

    let lines = crate::common::eventually(Duration::from_secs(10), "both request lines", || async {
        let lines = node.json_lines();
        let n = lines.iter().filter(|l| l["span"]["name"] == "http_request").count();
        (n >= 3).then_some(lines)
    })
    .await;

    for line in &lines {
        assert!(line["message"].is_string(), "message is not a string: {line}");
        assert!(line["timestamp"].is_string() && line["target"].is_string(), "{line}");
        let level = line["level"].as_str().unwrap();
        assert!(["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&level), "{line}");
        assert!(line["fields"].is_object(), "{line}");
    }

    let typo = lines.iter().find(|l| l["message"].as_str().unwrap().contains("RUSTCHAT_TYPO_SETTING"));
    assert_eq!(typo.expect("a warning for the unknown variable")["level"], "WARN");

    let request = |id: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["request_id"] == id && l["fields"]["status"].is_number())
            .unwrap_or_else(|| panic!("no request line for {id}"))
            .clone()
    };
    let line = request("trace-me-42");
    assert_eq!(line["ip"], "127.0.0.1", "client ip at top level: {line}");
    assert_eq!(line["fields"]["method"], "GET");
    assert_eq!(line["fields"]["route"], "/api/v1/health/live");
    assert_eq!(line["fields"]["status"], 200);
    assert!(line["fields"]["latency_ms"].as_f64().unwrap() >= 0.0, "{line}");
    assert_eq!(line["span"]["name"], "http_request");
    assert_eq!(line["span"]["request_id"], "trace-me-42");

    let line = request(&minted);
    assert_eq!(line["fields"]["status"], 404);
    // `jq 'select(.fields.status | tonumber > 400)'` must select it.
    assert!(line["fields"]["status"].as_u64().unwrap() > 400);
    assert_eq!(line["fields"]["route"], "unmatched", "raw paths never become the route");
}

/// A newcomer's first run says, in one line, which URL to open and what to do next; once an account
/// exists, the line stops asking for one.
#[tokio::test]
async fn the_start_line_names_the_url_to_open_and_the_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let vars = [("RUSTCHAT_SERVER_PORT", port.as_str()), ("RUSTCHAT_LOG_FORMAT", "json")];
    let client = reqwest::Client::new();
    let start_line = |node: &NodeProcess| node.json_lines().into_iter().find(|l| l["fields"]["url"].is_string());

    let mut node = NodeProcess::start(dir.path(), &vars);
    wait_live(&client, &format!("http://127.0.0.1:{port}")).await;
    let line =
        crate::common::eventually(Duration::from_secs(10), "the start line", || async { start_line(&node) }).await;
    let url = line["fields"]["url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("http://localhost:{port}"), "{line}");
    let message = line["message"].as_str().unwrap();
    assert!(message.contains(&format!("open {url}/api/v1/health/live")), "{message}");
    assert!(
        message.contains("create the first account") && message.contains("rustchat admin create-user --admin"),
        "{message}"
    );
    let opened = client.get(format!("http://127.0.0.1:{port}/api/v1/health/live")).send().await.unwrap();
    assert_eq!(opened.status(), 200, "the URL it names answers");

    let body = serde_json::json!({"username": "first", "email": "first@example.com", "password": "correct horse"});
    let r = client.post(format!("http://127.0.0.1:{port}/api/v1/auth/register")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    node.signal(libc::SIGTERM);
    assert!(node.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()));

    let node = NodeProcess::start(dir.path(), &vars);
    wait_live(&client, &format!("http://127.0.0.1:{port}")).await;
    let line =
        crate::common::eventually(Duration::from_secs(10), "the start line", || async { start_line(&node) }).await;
    let message = line["message"].as_str().unwrap();
    assert!(!message.contains("create the first account"), "an account exists: {message}");
    assert!(message.contains(&format!("{url}/api/v1/openapi.json")), "{message}");
}
