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
