//! Deployment artifacts checked offline: Dockerfile, Kubernetes manifests, Grafana dashboard and alert
//! rules against a real scrape.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::process::run;
use crate::common::{Api, Db, TestDb, Ws, redis_available, redis_url, spawn_app};

/// The Kubernetes version the manifests are validated against (one `kubernetes-validate` ships schemas for).
const KUBERNETES_VERSION: &str = "1.33.0";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Runs an external tool in the repository root. `None` when it is not installed, off CI only: on CI
/// (`CI` set) a missing tool fails the test.
fn tool(name: &str, args: &[&str]) -> Option<Output> {
    match Command::new(name).args(args).current_dir(repo()).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{name} is not installed, and CI never skips (.ci/run installs it)"
            );
            eprintln!("SKIPPED: {name} not installed");
            None
        }
        Err(e) => panic!("{name}: {e}"),
    }
}

fn assert_success(name: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{name} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The files kustomization.yaml lists under `resources:` (a simple YAML list, read line by line).
fn kustomize_resources() -> Vec<String> {
    let text = read("k8s/kustomization.yaml");
    let mut resources = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let content = line.split('#').next().unwrap_or("").trim_end();
        if content.trim().is_empty() {
            continue;
        }
        if !line.starts_with([' ', '-']) {
            inside = content == "resources:";
            continue;
        }
        if inside && let Some(item) = content.trim().strip_prefix("- ") {
            resources.push(item.trim().trim_matches(|c| c == '"' || c == '\'').to_string());
        }
    }
    resources
}

/// The lines of the YAML block that starts at `key:` (the key's line and every more-indented line after it).
fn block<'a>(yaml: &'a str, key: &str) -> Vec<&'a str> {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != format!("{key}:"));
    let Some(first) = lines.next() else { return Vec::new() };
    let indent = first.len() - first.trim_start().len();
    let rest = lines.take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent);
    std::iter::once(first).chain(rest).collect()
}

/// The integer value of `key:` within `lines`.
fn number(lines: &[&str], key: &str) -> u64 {
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .and_then(|v| v.trim().trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("no numeric {key} in:\n{}", lines.join("\n")))
}

/// The value of the env entry `name` (the `value:` line right after `- name: <name>`).
fn env_value(yaml: &str, name: &str) -> Option<String> {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != format!("- name: {name}"));
    lines.next()?;
    let value = lines.next()?.trim().strip_prefix("value:")?;
    Some(value.trim().trim_matches('"').to_string())
}

/// Every `rustchat_…` metric name in `text`.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .match_indices("rustchat_")
        .filter(|(i, _)| !text[..*i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
        .map(|(i, _)| text[i..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect::<String>())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The series names (no labels) in a Prometheus text scrape.
fn scraped_series(scrape: &str) -> Vec<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn the_kubernetes_manifests_validate_against_the_schemas() {
    let resources = kustomize_resources();
    for expected in
        ["deployment.yaml", "service.yaml", "configmap.yaml", "secret.yaml", "pdb.yaml", "hpa.yaml", "ingress.yaml"]
    {
        assert!(resources.iter().any(|r| r == expected), "kustomization.yaml does not list {expected}: {resources:?}");
    }
    for file in &resources {
        assert!(repo().join("k8s").join(file).is_file(), "kustomization.yaml lists k8s/{file}, which does not exist");
        // A Job's pod template is immutable: `kubectl apply -k` with a new image would be refused.
        assert!(!read(&format!("k8s/{file}")).contains("kind: Job"), "k8s/{file} holds a Job");
    }
    // The ServiceMonitor is a CRD the validator cannot know: kept out of the default resources, on purpose.
    assert!(repo().join("k8s/servicemonitor.yaml").is_file());
    assert!(!resources.iter().any(|r| r == "servicemonitor.yaml"), "servicemonitor.yaml needs the operator's CRD");
    let monitor = read("k8s/servicemonitor.yaml");
    assert!(monitor.contains("path: /api/v1/health/metrics") && monitor.contains("port: http"), "{monitor}");

    // The runbook's names: `kubectl logs -l app=rustchat`, `kubectl scale deployment rustchat`,
    // `kubectl rollout restart deployment/rustchat`, Secret `rustchat-secrets`.
    let deployment = read("k8s/deployment.yaml");
    let metadata = block(&deployment, "metadata");
    assert!(metadata.iter().any(|l| l.trim() == "name: rustchat"), "Deployment is not named rustchat");
    assert!(deployment.contains("kind: Deployment"));
    let template = block(&deployment, "template");
    assert!(template.iter().any(|l| l.trim() == "app: rustchat"), "pods are not labelled app=rustchat");
    // The HPA owns the replica count: a `replicas:` in the Deployment would reset it on every apply.
    assert!(
        !deployment.lines().any(|l| l.split('#').next().unwrap_or("").trim().starts_with("replicas:")),
        "deployment.yaml sets replicas, which fights hpa.yaml"
    );
    let hpa = read("k8s/hpa.yaml");
    assert!(hpa.contains("name: rustchat") && number(&hpa.lines().collect::<Vec<_>>(), "minReplicas") >= 3);
    // Every pod migrates first (the runbook's --migrate-only) with the node's own image and configuration.
    let init = block(&deployment, "initContainers");
    assert!(init.iter().any(|l| l.trim() == r#"args: ["--migrate-only"]"#), "no migrate init container: {init:?}");
    let images = |lines: &[&str]| -> Vec<String> {
        lines.iter().filter_map(|l| l.trim().strip_prefix("image: ")).map(str::to_string).collect()
    };
    assert_eq!(images(&init), images(&block(&deployment, "containers")), "init and node images differ");
    for needed in ["name: rustchat-config", "key: jwt", "key: key", "mountPath: /var/lib/rustchat"] {
        assert!(init.iter().any(|l| l.trim() == needed), "the migrate init container lacks `{needed}`: {init:?}");
    }
    let rolling = block(&deployment, "rollingUpdate");
    assert_eq!(number(&rolling, "maxUnavailable"), 0);
    assert_eq!(number(&rolling, "maxSurge"), 1);
    for (probe, path) in [
        ("livenessProbe", "/api/v1/health/live"),
        ("readinessProbe", "/api/v1/health/ready"),
        ("startupProbe", "/api/v1/health/live"),
    ] {
        let lines = block(&deployment, probe);
        assert!(lines.iter().any(|l| l.trim() == format!("path: {path}")), "{probe} does not check {path}: {lines:?}");
        assert!(lines.iter().any(|l| l.trim() == "port: http"), "{probe} port: {lines:?}");
    }
    assert!(deployment.contains("containerPort: 3000"));
    assert!(deployment.contains(r#"command: ["sleep", "10"]"#), "preStop sleep 10");
    // The runbook's rotation replaces the whole `rustchat-secrets`: the encryption key lives elsewhere.
    for (secret, key, var) in
        [("rustchat-secrets", "jwt", "RUSTCHAT_JWT_SECRET"), ("rustchat-encryption", "key", "RUSTCHAT_ENCRYPTION_KEY")]
    {
        let entry = deployment.lines().skip_while(|l| l.trim() != format!("- name: {var}")).take(5).collect::<Vec<_>>();
        assert!(entry.iter().any(|l| l.trim() == format!("name: {secret}")), "{var}: {entry:?}");
        assert!(entry.iter().any(|l| l.trim() == format!("key: {key}")), "{var}: {entry:?}");
    }
    assert!(deployment.contains("fieldPath: metadata.name"), "RUSTCHAT_NODE_ID from the pod name");
    // The whole stop sequence fits in the grace period: preStop, drain, in-flight grace.
    let drain: u64 = env_value(&deployment, "RUSTCHAT_SHUTDOWN_DRAIN_SECONDS").unwrap().parse().unwrap();
    let grace: u64 = env_value(&deployment, "RUSTCHAT_SHUTDOWN_GRACE_SECONDS").unwrap().parse().unwrap();
    let termination = number(&deployment.lines().collect::<Vec<_>>(), "terminationGracePeriodSeconds");
    assert!((drain, grace) == (5, 30), "drain {drain} s, grace {grace} s");
    assert!(10 + drain + grace < termination, "preStop + drain + grace must fit in {termination} s");
    for hardening in
        ["runAsNonRoot: true", "runAsUser: 10001", "readOnlyRootFilesystem: true", "allowPrivilegeEscalation: false"]
    {
        assert!(deployment.contains(hardening), "{hardening}");
    }
    assert!(deployment.contains("mountPath: /var/lib/rustchat") && deployment.contains("emptyDir:"));
    assert!(deployment.contains("topologyKey: kubernetes.io/hostname"));
    let secret = read("k8s/secret.yaml");
    assert!(secret.contains("name: rustchat-secrets") && secret.contains("openssl rand -base64 48"));

    // Every RUSTCHAT_* variable the manifests set is a real setting (the README's configuration table).
    let readme = read("README.md");
    for file in &resources {
        let text = read(&format!("k8s/{file}"));
        for var in text.match_indices("RUSTCHAT_").map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect::<String>()
        }) {
            assert!(readme.contains(&format!("`{var}`")), "k8s/{file} sets {var}, which RustChat does not know");
        }
    }

    let mut args = vec!["--kubernetes-version", KUBERNETES_VERSION, "--strict", "--quiet"];
    let paths: Vec<String> = resources.iter().map(|r| format!("k8s/{r}")).collect();
    args.extend(paths.iter().map(String::as_str));
    let Some(out) = tool("kubernetes-validate", &args) else { return };
    assert_success("kubernetes-validate", &out);

    // What `kubectl apply -k k8s/` sends, validated as a whole.
    let Some(rendered) = kustomize("k8s") else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rendered.yaml");
    std::fs::write(&path, &rendered).unwrap();
    let out = tool(
        "kubernetes-validate",
        &["--kubernetes-version", KUBERNETES_VERSION, "--strict", "--quiet", path.to_str().unwrap()],
    )
    .unwrap();
    assert_success("kubernetes-validate (kubectl kustomize k8s)", &out);
}

/// `kubectl kustomize <dir>` (what `kubectl apply -k` applies), run in the repository root; `None`
/// when kubectl is not installed, off CI only.
fn kustomize(dir: &str) -> Option<String> {
    let out = tool("kubectl", &["kustomize", dir])?;
    assert_success("kubectl kustomize", &out);
    Some(String::from_utf8(out.stdout).unwrap())
}

/// The `kind:` of every document in a rendered multi-document YAML stream.
fn kinds(rendered: &str) -> Vec<String> {
    rendered.lines().filter_map(|l| l.strip_prefix("kind: ")).map(|k| k.trim().to_string()).collect()
}

#[test]
fn an_image_bump_through_kustomize_changes_only_mutable_image_fields() {
    // The operator's upgrade: an overlay (or an edit of k8s/kustomization.yaml) with a new tag, then
    // `kubectl apply -k`. The apply is refused if any immutable field changes, such as a Job's pod
    // template; so nothing but the images may differ between the two renders, and only in objects whose
    // image is mutable.
    let Some(before) = kustomize("k8s") else { return };
    // kustomize takes only relative bases: a copy of k8s/ beside the overlay.
    let dir = tempfile::tempdir().unwrap();
    let (base, overlay) = (dir.path().join("base"), dir.path().join("overlay"));
    std::fs::create_dir_all(&base).unwrap();
    std::fs::create_dir_all(&overlay).unwrap();
    for entry in std::fs::read_dir(repo().join("k8s")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), base.join(entry.file_name())).unwrap();
    }
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base\nimages:\n  - name: rustchat\n    newTag: \"9.9.9\"\n",
    )
    .unwrap();
    let after = kustomize(overlay.to_str().unwrap()).unwrap();

    assert_eq!(kinds(&before), kinds(&after));
    for kind in kinds(&before) {
        assert!(!["Job", "CronJob"].contains(&kind.as_str()), "a {kind} is applied: its pod template is immutable");
    }
    let (old_lines, new_lines): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    assert_eq!(old_lines.len(), new_lines.len(), "the bump changed more than images:\n{after}");
    let changed: Vec<(&str, &str)> =
        old_lines.iter().zip(&new_lines).filter(|(a, b)| a != b).map(|(a, b)| (*a, *b)).collect();
    // The migrate init container and the node: both take the new image, nothing else moves.
    assert_eq!(changed.len(), 2, "expected exactly the two image lines to change: {changed:#?}");
    for (old, new) in changed {
        assert_eq!(old.trim(), "image: rustchat:0.3.1");
        assert_eq!(new.trim(), "image: rustchat:9.9.9");
    }
    let deployment = after.split("\n---\n").find(|doc| doc.contains("kind: Deployment")).unwrap();
    assert!(deployment.contains("initContainers:") && deployment.contains("--migrate-only"));
}

#[test]
fn the_ingress_keeps_websockets_open_longer_than_the_heartbeat() {
    let ingress = read("k8s/ingress.yaml");
    assert!(ingress.contains("kind: Ingress") && ingress.contains("apiVersion: networking.k8s.io/v1"));
    let default = |name: &str| -> u64 {
        rustchat::config::VARIABLES.iter().find(|v| v.name == name).unwrap().default_text().parse().unwrap()
    };
    let (ping, client_timeout) = (default("RUSTCHAT_WS_PING_SECONDS"), default("RUSTCHAT_WS_CLIENT_TIMEOUT_SECONDS"));
    let lines: Vec<&str> = ingress.lines().collect();
    for annotation in
        ["nginx.ingress.kubernetes.io/proxy-read-timeout", "nginx.ingress.kubernetes.io/proxy-send-timeout"]
    {
        let seconds = number(&lines, annotation);
        assert!(
            seconds > ping && seconds > client_timeout,
            "{annotation} is {seconds} s: the proxy would cut sockets RustChat keeps ({ping} s pings, {client_timeout} s timeout)"
        );
    }
    // It routes the whole API (REST and /api/v1/ws) to the Service's named port.
    let backend = block(&ingress, "backend");
    assert!(backend.iter().any(|l| l.trim() == "name: rustchat"), "{backend:?}");
    assert!(backend.iter().any(|l| l.trim() == "name: http"), "{backend:?}");
    assert!(ingress.contains("path: /api/v1\n") && ingress.contains("pathType: Prefix"));
    let configmap = read("k8s/configmap.yaml");
    let site = configmap.lines().find_map(|l| l.trim().strip_prefix("RUSTCHAT_SITE_URL:")).unwrap();
    let host = url::Url::parse(site.trim().trim_matches('"')).unwrap().host_str().unwrap().to_string();
    assert!(ingress.contains(&format!("host: {host}")), "the Ingress host is not RUSTCHAT_SITE_URL's {host}");
}

/// The `data:` entries of k8s/configmap.yaml, with the comment lines right above each.
fn configmap_entries() -> Vec<(String, String, Vec<String>)> {
    let text = read("k8s/configmap.yaml");
    let mut entries = Vec::new();
    let mut comments = Vec::new();
    for line in block(&text, "data").into_iter().skip(1) {
        let trimmed = line.trim();
        if let Some(comment) = trimmed.strip_prefix('#') {
            comments.push(comment.trim().to_string());
        } else if let Some((key, value)) = trimmed.split_once(": ") {
            entries.push((key.to_string(), value.trim_matches('"').to_string(), std::mem::take(&mut comments)));
        } else {
            comments.clear();
        }
    }
    entries
}

#[tokio::test]
async fn the_configmap_trusts_the_ingress_and_every_value_is_accepted_by_the_binary() {
    let entries = configmap_entries();
    let (_, proxies, why) = entries
        .iter()
        .find(|(k, _, _)| k == "RUSTCHAT_SECURITY_TRUSTED_PROXIES")
        .expect("the ConfigMap sets RUSTCHAT_SECURITY_TRUSTED_PROXIES (behind an ingress every user shares one IP)");
    assert!(why.join(" ").contains("ingress"), "RUSTCHAT_SECURITY_TRUSTED_PROXIES has no comment saying why: {why:?}");
    for net in proxies.split(',') {
        let net: ipnet::IpNet = net.trim().parse().unwrap_or_else(|e| panic!("{net}: {e}"));
        assert!(net.prefix_len() > 0, "{net} trusts every address: any client could choose its own IP");
    }

    // The real binary, in production, with every ConfigMap value (the database and Redis pointed at the
    // test services) and real secrets: `--check-config` accepts them all and shows the proxies in use.
    let Some(db) = TestDb::create().await else { return };
    if !redis_available().await {
        return;
    }
    let redis = redis_url();
    let mut vars: Vec<(&str, &str)> = entries
        .iter()
        .map(|(k, v, _)| match k.as_str() {
            "RUSTCHAT_DATABASE_URL" => (k.as_str(), db.url.as_str()),
            "RUSTCHAT_REDIS_URL" => (k.as_str(), redis.as_str()),
            _ => (k.as_str(), v.as_str()),
        })
        .collect();
    vars.push(("RUSTCHAT_JWT_SECRET", "bXktdGVzdC1qd3Qtc2VjcmV0LXRoYXQtaXMtbG9uZy1lbm91Z2gtMTIzNDU2Nzg5MA=="));
    vars.push(("RUSTCHAT_ENCRYPTION_KEY", "YW5vdGhlci10ZXN0LWVuY3J5cHRpb24ta2V5LWxvbmctZW5vdWdoLTEyMzQ1Njc4OTA="));
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(dir.path(), &vars, &["--check-config"]);
    assert_eq!(code, 0, "the ConfigMap's values are refused:\n{out}\n{err}");
    assert!(!out.contains("unknown configuration variable"), "{out}");
    let line = out.lines().find(|l| l.trim_start().starts_with("RUSTCHAT_SECURITY_TRUSTED_PROXIES")).unwrap();
    assert!(line.contains(proxies.as_str()) && line.contains("environment"), "{line}");
}

/// The assignments in .env.example: (name, value, active). Commented-out `# NAME=value` lines count
/// too (they document the defaults); prose comments do not.
fn env_example() -> Vec<(String, String, bool)> {
    read(".env.example")
        .lines()
        .filter_map(|line| {
            let (active, assignment) = match line.strip_prefix("# ") {
                Some(rest) => (false, rest),
                None => (true, line),
            };
            let (name, value) = assignment.split_once('=')?;
            (name.starts_with("RUSTCHAT_")
                && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .then(|| (name.to_string(), value.to_string(), active))
        })
        .collect()
}

#[test]
fn env_example_names_every_setting_and_only_real_ones() {
    let entries = env_example();
    let known: Vec<&str> = rustchat::config::VARIABLES.iter().map(|v| v.name).collect();
    for (name, value, _) in &entries {
        assert!(known.contains(&name.as_str()), ".env.example sets {name}, which RustChat does not know");
        // docker run --env-file keeps quotes as part of the value.
        assert!(!value.starts_with(['"', '\'']), ".env.example quotes {name}: docker would pass the quotes on");
        assert_eq!(value.trim(), value, ".env.example: {name} has surrounding spaces");
    }
    for name in &known {
        let count = entries.iter().filter(|(n, _, _)| n == name).count();
        assert_eq!(
            count, 1,
            ".env.example names {name} {count} times (every setting once, commented out at its default if unused)"
        );
    }
    // A commented-out line shows the default where there is a single one to show.
    for v in rustchat::config::VARIABLES {
        let (_, value, active) = entries.iter().find(|(n, _, _)| n == v.name).unwrap();
        let default = v.default_text();
        let plain_default = !default.is_empty() && !default.contains(' ') && !v.secret;
        if !active && plain_default {
            assert_eq!(*value, default, ".env.example shows {} = {value}, the default is {default}", v.name);
        }
    }
    assert!(read("README.md").contains("cp .env.example .env"), "the README says to copy .env.example");
}

#[test]
fn env_example_as_the_dotenv_file_runs_a_development_node_without_warnings() {
    // The README's `docker run --env-file .env` and a bare `rustchat` both read it: the binary, started
    // in a folder whose .env is .env.example, accepts every value and knows every name.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join(".env.example"), dir.path().join(".env")).unwrap();
    let (code, out, err) = run(dir.path(), &[], &["--check-config"]);
    assert_eq!(code, 0, ".env.example is refused:\n{out}\n{err}");
    assert!(!out.contains("unknown configuration variable"), "{out}");
    for (name, value, active) in env_example() {
        if active {
            let line = out.lines().find(|l| l.trim_start().starts_with(&format!("{name} "))).unwrap();
            assert!(line.contains(&value) && line.contains("(.env)"), "{name} from .env.example not in effect: {line}");
        }
    }
}

#[tokio::test]
async fn the_placeholder_secrets_are_refused_in_production() {
    // secret.yaml's placeholders must never run: production refuses secrets shorter than 32 bytes.
    let secret = read("k8s/secret.yaml") + &read("k8s/encryption-secret.yaml");
    let value = |key: &str| {
        secret
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap()
    };
    let (jwt, encryption) = (value("jwt"), value("key"));
    assert!(jwt.contains("REPLACE_ME") && encryption.contains("REPLACE_ME"), "obvious placeholders");
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("RUSTCHAT_ENVIRONMENT", "production"),
        ("RUSTCHAT_DATABASE_URL", "postgres://rustchat@127.0.0.1:9/rustchat"),
        ("RUSTCHAT_JWT_SECRET", jwt.as_str()),
        ("RUSTCHAT_ENCRYPTION_KEY", encryption.as_str()),
    ];
    let (code, out, err) = run(dir.path(), &vars, &["--check-config"]);
    assert_eq!(code, 2, "placeholders accepted:\n{out}\n{err}");
    assert!(format!("{out}{err}").contains("RUSTCHAT_JWT_SECRET"), "the error names the variable:\n{out}\n{err}");
}

#[tokio::test]
async fn the_alert_rules_pass_promtool() {
    let Some(out) = tool("promtool", &["check", "rules", "k8s/prometheus-rules.yaml"]) else { return };
    assert_success("promtool check rules", &out);
    let rules = read("k8s/prometheus-rules.yaml");
    for threshold in [
        r#"sum(rate(rustchat_http_requests_total{status=~"5.."}[5m]))"#,
        "/ sum(rate(rustchat_http_requests_total[5m])) > 0.01",
        "histogram_quantile(0.99, sum by (le) (rate(rustchat_http_request_duration_seconds_bucket[5m]))) > 0.5",
        "rustchat_db_pool_saturation_ratio > 0.8",
        "increase(rustchat_circuit_breaker_state_changes_total[5m]) > 0",
        "rustchat_redis_bus_connected == 0",
    ] {
        assert!(rules.contains(threshold), "no alert on `{threshold}`");
    }

    // The dashboard's queries are PromQL too: each one parses (as a recording rule).
    let dashboard: serde_json::Value = serde_json::from_str(&read("k8s/grafana-dashboard.json")).unwrap();
    let mut file = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let panels = dashboard["panels"].as_array().unwrap();
    let mut count = 0;
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            file.push_str(&format!(
                "      - record: dashboard:query{count}\n        expr: {}\n",
                serde_json::json!(expr)
            ));
            count += 1;
        }
    }
    assert!(count >= 11, "the dashboard has {count} queries");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard-rules.yaml");
    std::fs::write(&path, file).unwrap();
    let out = tool("promtool", &["check", "rules", path.to_str().unwrap()]).unwrap();
    assert_success("promtool check rules (dashboard queries)", &out);
    assert_eq!(dashboard["templating"]["list"][0]["type"], "datasource", "a datasource variable");
}

#[tokio::test]
async fn every_metric_in_the_dashboard_and_rules_is_exported_by_a_real_node() {
    // A low auth limit so a few bad logins produce a real 429 (and the rate-limit counter).
    let Some(app) = spawn_app(Db::Sqlite, &[("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE", "3")]).await else {
        return;
    };
    let user = Api::register(&app.address, "dashboard").await;
    let team = user.create_team("deploy", false).await;
    let channel = user.create_channel(&team, "general", "public").await;
    // A socket in the channel, so the post is fanned out (the delivery-latency histogram).
    let mut ws = Ws::connect(&app.address, user.token.as_deref().unwrap()).await;
    ws.send(serde_json::json!({"action": "ping"})).await;
    ws.expect("pong", Duration::from_secs(10)).await;
    user.say(&channel, "a post for the dashboard").await;
    ws.expect("posted", Duration::from_secs(10)).await;
    assert_eq!(Api::anonymous(&app.address).get("/api/v1/users/me").await.status, 401);
    let mut refused = false;
    for _ in 0..20 {
        if Api::login(&app.address, "dashboard", "wrong password").await.status == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the auth rate limit never answered 429");

    let mut wanted = metric_names(&read("k8s/grafana-dashboard.json"));
    wanted.extend(metric_names(&read("k8s/prometheus-rules.yaml")));
    wanted.sort();
    wanted.dedup();
    assert!(wanted.len() >= 12, "too few metrics found: {wanted:?}");

    // Gauges are sampled in the background (the slowest every 5 s): scrape until all are there.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let (missing, scrape) = loop {
        let scrape = app.get("/api/v1/health/metrics").await.text().await.unwrap();
        let series = scraped_series(&scrape);
        // A panel's description may name a histogram by its family; its series are `_bucket` etc.
        let missing: Vec<&String> =
            wanted.iter().filter(|n| !series.iter().any(|s| s == *n || family(s) == n.as_str())).collect();
        if missing.is_empty() || tokio::time::Instant::now() > deadline {
            break (missing.into_iter().cloned().collect::<Vec<_>>(), scrape);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(missing.is_empty(), "the dashboard or alert rules use metrics no node exports: {missing:?}\n{scrape}");
}

/// A histogram's or counter's family name: `…_bucket`, `…_count` and `…_sum` are its series.
fn family(series: &str) -> &str {
    ["_bucket", "_count", "_sum"].iter().find_map(|s| series.strip_suffix(s)).unwrap_or(series)
}

#[test]
fn every_dashboard_metric_is_documented_and_fan_out_latency_has_a_panel() {
    let dashboard: serde_json::Value = serde_json::from_str(&read("k8s/grafana-dashboard.json")).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    // The fan-out delivery latency (the histogram the benchmarks measure end to end) as quantiles.
    let fanout = panels
        .iter()
        .find(|p| p["targets"].to_string().contains("rustchat_fanout_delivery_latency_seconds_bucket"))
        .expect("no dashboard panel shows rustchat_fanout_delivery_latency_seconds");
    let exprs: Vec<&str> = fanout["targets"].as_array().unwrap().iter().filter_map(|t| t["expr"].as_str()).collect();
    assert!(exprs.iter().any(|e| e.starts_with("histogram_quantile(0.99,")), "no p99 in {exprs:?}");
    assert_eq!(fanout["fieldConfig"]["defaults"]["unit"], "s");

    // Panels do not overlap (Grafana would shuffle them) and ids are unique.
    let mut ids: Vec<i64> = panels.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), panels.len(), "duplicate panel ids");
    let cells = |p: &serde_json::Value| {
        let g = &p["gridPos"];
        let (x, y, w, h) =
            (g["x"].as_i64().unwrap(), g["y"].as_i64().unwrap(), g["w"].as_i64().unwrap(), g["h"].as_i64().unwrap());
        (x..x + w).flat_map(move |cx| (y..y + h).map(move |cy| (cx, cy))).collect::<Vec<_>>()
    };
    let mut taken = std::collections::HashSet::new();
    for panel in panels {
        for cell in cells(panel) {
            assert!(taken.insert(cell), "panel {} overlaps another at {cell:?}", panel["title"]);
        }
    }

    // Every metric on the dashboard is in the README's metrics reference (what operators read).
    let readme = read("README.md");
    for name in metric_names(&read("k8s/grafana-dashboard.json")) {
        let family = family(&name);
        assert!(
            readme.contains(&format!("`{family}")),
            "the dashboard uses {family}, which the README does not document"
        );
    }
}

#[tokio::test]
async fn the_dockerfile_passes_hadolint() {
    let dockerfile = read("Dockerfile");
    let instructions: Vec<&str> = dockerfile.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
    assert!(dockerfile.contains("cargo build --release --locked"), "a reproducible build");
    assert!(
        instructions.iter().any(|l| l.starts_with("COPY --from=") && l.contains("target/release/rustchat")),
        "the runtime copies target/release/rustchat"
    );
    let user = instructions.iter().rev().find_map(|l| l.strip_prefix("USER ")).expect("a USER instruction");
    assert!(!["root", "0", "0:0"].contains(&user.trim()), "runs as root: USER {user}");
    assert!(instructions.contains(&"EXPOSE 3000"));
    assert!(instructions.iter().any(|l| l.starts_with("HEALTHCHECK")) && dockerfile.contains("/api/v1/health/live"));
    for line in &instructions {
        if line.starts_with("ENV") || line.starts_with("ARG") {
            assert!(!line.contains("SECRET") && !line.contains("ENCRYPTION_KEY"), "a secret baked in: {line}");
        }
    }
    // The embedded migrations are in the build context before the final build.
    let migrations = dockerfile.find("COPY migrations").expect("migrations are copied");
    let last_build = dockerfile.rfind("cargo build --release --locked").unwrap();
    assert!(migrations < last_build, "sqlx::migrate! needs migrations/ before the final build");
    // The dependency layer needs every workspace member's manifest, or cargo cannot load the workspace.
    let cargo_toml = read("Cargo.toml");
    let members = cargo_toml.lines().find_map(|l| l.trim().strip_prefix("members =")).expect("workspace members");
    for member in members.split(['[', ']', ',', '"']).map(str::trim).filter(|m| !m.is_empty() && *m != ".") {
        assert!(
            instructions.contains(&format!("COPY {member}/Cargo.toml {member}/Cargo.toml").as_str()),
            "the Dockerfile does not copy workspace member {member}'s manifest"
        );
    }
    // Cargo.toml's [patch.crates-io] paths (the vendored actix-http) are dependencies: cargo cannot even
    // load the workspace without them, so they are in the context before the first build.
    let first_build = dockerfile.find("cargo build --release --locked").unwrap();
    let patched: Vec<&str> = cargo_toml
        .split("[patch.crates-io]")
        .nth(1)
        .expect("Cargo.toml patches crates.io")
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| l.split("path = \"").nth(1)?.split('"').next())
        .collect();
    assert!(!patched.is_empty());
    for path in patched {
        let top = path.split('/').next().unwrap();
        let copy = instructions
            .iter()
            .filter(|l| l.starts_with("COPY ") && !l.starts_with("COPY --from"))
            .find(|l| l.split_whitespace().nth(1).is_some_and(|src| src == top || src == path))
            .unwrap_or_else(|| panic!("the Dockerfile never copies {path}, which Cargo.toml patches in"));
        assert!(dockerfile.find(copy).unwrap() < first_build, "`{copy}` comes after the first cargo build");
    }
    let dockerignore = read(".dockerignore");
    assert!(!dockerignore.lines().any(|l| l.trim().trim_matches('/') == "vendor"), ".dockerignore drops vendor/");
    for ignored in ["target", ".git", ".env"] {
        assert!(dockerignore.lines().any(|l| l.trim() == ignored), ".dockerignore lacks {ignored}");
    }

    let Some(out) = tool("hadolint", &["Dockerfile"]) else { return };
    assert_success("hadolint", &out);
}

#[test]
fn the_readme_documents_the_dockerfiles_own_build_and_run_commands() {
    let readme = read("README.md");
    let dockerfile = read("Dockerfile");
    for command in ["docker build -t rustchat .", "docker run -p 3000:3000 --env-file .env rustchat"] {
        assert!(readme.contains(command), "README lacks `{command}`");
        assert!(dockerfile.contains(command), "Dockerfile's header lacks `{command}`");
    }
}

#[test]
fn the_readme_lists_the_prerequisites_with_the_manifests_rust_version() {
    let readme = read("README.md");
    let prerequisites = readme
        .split("## Prerequisites")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has a Prerequisites section");
    let rust_version = read("Cargo.toml")
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("Cargo.toml declares rust-version");
    assert!(prerequisites.contains(&format!("Rust {rust_version}")), "Prerequisites do not name Rust {rust_version}");
    // The README's own examples pipe into jq; clusters need PostgreSQL and Redis, a single node neither.
    assert!(readme.contains("| jq -r") && prerequisites.contains("`jq`"), "jq is used but not listed");
    assert!(
        prerequisites.contains("PostgreSQL") && prerequisites.contains("Redis") && prerequisites.contains("cluster")
    );
}
