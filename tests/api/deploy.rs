//! Deployment artifacts checked offline: Dockerfile, Kubernetes manifests, Grafana dashboard and alert
//! rules against a real scrape.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::process::run;
use crate::common::{Api, Db, spawn_app};

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
    for expected in ["deployment.yaml", "service.yaml", "configmap.yaml", "secret.yaml", "pdb.yaml", "hpa.yaml"] {
        assert!(resources.iter().any(|r| r == expected), "kustomization.yaml does not list {expected}: {resources:?}");
    }
    assert!(resources.iter().any(|r| r == "migration-job.yaml"), "{resources:?}");
    for file in &resources {
        assert!(repo().join("k8s").join(file).is_file(), "kustomization.yaml lists k8s/{file}, which does not exist");
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
    assert_eq!(number(&block(&deployment, "spec"), "replicas"), 3);
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
        for var in text
            .match_indices("RUSTCHAT_")
            .map(|(i, _)| text[i..].chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect::<String>())
        {
            assert!(readme.contains(&format!("`{var}`")), "k8s/{file} sets {var}, which RustChat does not know");
        }
    }

    let mut args = vec!["--kubernetes-version", KUBERNETES_VERSION, "--strict", "--quiet"];
    let paths: Vec<String> = resources.iter().map(|r| format!("k8s/{r}")).collect();
    args.extend(paths.iter().map(String::as_str));
    let Some(out) = tool("kubernetes-validate", &args) else { return };
    assert_success("kubernetes-validate", &out);
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
    user.say(&channel, "a post for the dashboard").await;
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
        let missing: Vec<&String> = wanted.iter().filter(|n| !series.contains(n)).collect();
        if missing.is_empty() || tokio::time::Instant::now() > deadline {
            break (missing.into_iter().cloned().collect::<Vec<_>>(), scrape);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(missing.is_empty(), "the dashboard or alert rules use metrics no node exports: {missing:?}\n{scrape}");
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
    let dockerignore = read(".dockerignore");
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
