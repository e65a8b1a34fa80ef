//! A real OpenID provider for tests: `oidc-provider` (npm, OpenID-certified) run by Node on loopback
//! from `tests/oidc/provider.js`. `.ci/run` installs it (`npm ci` in `tests/oidc`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::free_port;

pub const CLIENT_ID: &str = "rustchat";
pub const CLIENT_SECRET: &str = "rustchat-client-secret-for-tests";

pub struct Provider {
    pub port: u16,
    pub issuer: String,
    child: Option<Child>,
    redirect_uris: String,
}

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Whether Node and the provider package are installed; on CI they must be.
pub fn available() -> bool {
    let ok =
        Command::new("node").arg("--version").output().is_ok() && dir().join("node_modules/oidc-provider").exists();
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "node and tests/oidc/node_modules must be installed on CI (.ci/run does it)"
        );
        eprintln!("SKIPPED: node or tests/oidc/node_modules missing (cd tests/oidc && npm ci)");
    }
    ok
}

impl Provider {
    /// Starts a provider whose client accepts `redirect_uris`.
    pub async fn start(redirect_uris: &[String]) -> Provider {
        let port = free_port();
        let mut p = Provider {
            port,
            issuer: format!("http://127.0.0.1:{port}"),
            child: None,
            redirect_uris: redirect_uris.join(","),
        };
        p.launch(0).await;
        p
    }

    /// (Re)starts on the same port, publishing signing key set `key_set`.
    pub async fn launch(&mut self, key_set: u32) {
        self.launch_with(key_set, &[]).await
    }

    /// (Re)starts with extra environment (e.g. `ID_TOKEN_EXPIRED=1`, `ID_TOKEN_AUDIENCE=x`).
    pub async fn launch_with(&mut self, key_set: u32, env: &[(&str, &str)]) {
        self.stop();
        let child = Command::new("node")
            .arg("provider.js")
            .current_dir(dir())
            .env("PORT", self.port.to_string())
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URIS", &self.redirect_uris)
            .env("KEY_SET", key_set.to_string())
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node");
        self.child = Some(child);
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let up = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(up.is_ok(), "the OpenID provider did not start");
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A browser: a cookie jar, redirects followed by hand so each hop can be inspected.
pub struct Browser {
    pub http: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// Starts a login at `start` (a node), logs in at the provider as `account`, and stops at the
    /// redirect back to us: returns that callback URL.
    pub async fn login_until_callback(&self, start: &str, account: &str, provider: &Provider) -> String {
        self.login_with("sso", start, account, provider).await
    }

    /// Like [`Browser::login_until_callback`] through the provider registered as `id`.
    pub async fn login_with(&self, id: &str, start: &str, account: &str, provider: &Provider) -> String {
        self.login_bound(id, start, account, provider).await.0
    }

    /// Like [`Browser::login_with`], with the `name=value` of the cookie that binds the login to this
    /// browser (for a test that sends the callback by hand).
    pub async fn login_bound(&self, id: &str, start: &str, account: &str, provider: &Provider) -> (String, String) {
        let r = self.http.get(format!("{start}/api/v1/auth/oidc/{id}/login")).send().await.unwrap();
        assert_eq!(r.status(), 302, "login start: {}", r.status());
        let binding = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
            .find(|c| c.starts_with("rustchat_oidc_login="))
            .unwrap_or_default();
        let mut location = format!("{}&login_hint={account}", r.headers()["location"].to_str().unwrap());
        for _ in 0..10 {
            if location.contains("/api/v1/auth/oidc/") {
                return (location, binding);
            }
            let url =
                if location.starts_with('/') { format!("{}{location}", provider.issuer) } else { location.clone() };
            let r = self.http.get(&url).send().await.unwrap();
            location = r
                .headers()
                .get("location")
                .unwrap_or_else(|| panic!("no redirect from {url}: {}", r.status()))
                .to_str()
                .unwrap()
                .to_string();
        }
        panic!("the provider never sent the browser back");
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }
}
