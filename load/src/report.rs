//! The result: JSON on stdout (and `--out`), a Markdown summary (`--markdown`), and the verdict.

use serde_json::Value;

use crate::args::Args;

/// What makes a run fail its check: anything lost, duplicated, reordered or skipped, readers that
/// never connected, and posts no node would take.
pub fn failures(result: &Value) -> Vec<String> {
    let n = |path: &[&str]| {
        let mut v = result;
        for p in path {
            v = &v[*p];
        }
        v.as_u64().unwrap_or(0)
    };
    let mut out = Vec::new();
    for (what, path) in [
        ("lost", &["lost"][..]),
        ("duplicated", &["duplicated"]),
        ("reordered", &["reordered"]),
        ("holes (seqs never received below a received one)", &["holes"]),
        ("never connected", &["never_connected"]),
        ("posts failed after every retry", &["posts", "failed"]),
        ("readers not caught up at the end", &["drain_pending"]),
    ] {
        let v = n(path);
        if v > 0 {
            out.push(format!("{what}: {v}"));
        }
    }
    if let Some(e) = result["restart"]["error"].as_str() {
        out.push(format!("restart script: {e}"));
    }
    out
}

pub fn write(args: &Args, result: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(result)?;
    println!("{text}");
    if let Some(path) = &args.out {
        std::fs::write(path, &text)?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, markdown(result))?;
    }
    Ok(())
}

fn f(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        Some(x) => format!("{x:.2}"),
        None => "—".into(),
    }
}

pub fn markdown(r: &Value) -> String {
    let lat = &r["latency_ms"];
    let rec = &r["reconnects"]["all"];
    let server = &r["server"];
    let mut md = String::new();
    md.push_str(&format!(
        "### rustchat-load `{}`: {} connections, {} process(es), {} posts/s × {} s\n\n",
        r["scenario"].as_str().unwrap_or("?"),
        f(&r["connections"]),
        f(&r["processes"]),
        f(&r["rate"]),
        f(&r["duration_s"]),
    ));
    md.push_str("| posts acked | deliveries | lost | dup | reordered | p50 ms | p99 ms | p99.9 ms | reconnects | reconnect p50 / p99 / max ms | server KiB/conn | server µs CPU/delivery | check |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    md.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} | {} | {} |\n",
        f(&r["posts"]["acked"]),
        f(&r["deliveries"]),
        f(&r["lost"]),
        f(&r["duplicated"]),
        f(&r["reordered"]),
        f(&lat["p50"]),
        f(&lat["p99"]),
        f(&lat["p999"]),
        f(&rec["count"]),
        f(&rec["p50"]),
        f(&rec["p99"]),
        f(&rec["max"]),
        f(&server["rss_kib_per_connection"]),
        f(&server["cpu_us_per_delivery"]),
        if r["checks"]["passed"].as_bool() == Some(true) { "passed" } else { "FAILED" },
    ));
    md.push_str(&format!(
        "\nSeeding {} s ({}); connecting {} s; closes {}; slow consumers {} ({}); server RSS {} → {} KiB, CPU {} s under load.\n",
        f(&r["seeding"]["seconds"]),
        if r["seeding"]["from_cache"].as_bool() == Some(true) { "from cache" } else { "registered" },
        f(&r["connect_seconds"]),
        r["reconnects"]["closes"],
        f(&r["slow"]["clients"]),
        r["slow"]["outcomes"],
        f(&server["rss_kib_before"]),
        f(&server["rss_kib_connected"]),
        f(&server["cpu_s_load"]),
    ));
    if let Some(list) = r["checks"]["failures"].as_array().filter(|l| !l.is_empty()) {
        md.push_str("\nFailed checks:\n");
        for item in list {
            md.push_str(&format!("- {}\n", item.as_str().unwrap_or("?")));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_clean_result_passes_and_any_loss_fails() {
        let clean = json!({"lost": 0, "duplicated": 0, "reordered": 0, "holes": 0, "never_connected": 0, "posts": {"failed": 0}});
        assert!(failures(&clean).is_empty());
        let lossy = json!({"lost": 3, "duplicated": 1, "reordered": 0, "posts": {"failed": 0}});
        assert_eq!(failures(&lossy), vec!["lost: 3".to_string(), "duplicated: 1".to_string()]);
        let restart = json!({"restart": {"error": "exit status 1"}});
        assert_eq!(failures(&restart).len(), 1);
    }

    #[test]
    fn markdown_has_a_row() {
        let md = markdown(
            &json!({"scenario": "chat", "connections": 10, "latency_ms": {"p50": 1.5}, "checks": {"passed": true}}),
        );
        assert!(md.contains("| 1.50 |"), "{md}");
        assert!(md.contains("passed"));
    }
}
