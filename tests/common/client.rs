//! A typed HTTP client for tests: one logged-in user against one node.

use serde_json::{Value, json};

/// A user's session against a node.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
    pub refresh: Option<String>,
    pub user_id: String,
    pub username: String,
}

/// What a call answered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// Panics unless the status is `expected`, showing the body.
    pub fn expect(self, expected: u16) -> Value {
        assert_eq!(self.status, expected, "unexpected status; body: {}", self.body);
        self.body
    }

    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no error body>")
    }
}

impl Api {
    /// The same client (and login) pointed at another node.
    pub fn on(&self, base: &str) -> Api {
        Api { base: base.to_string(), ..self.clone() }
    }

    pub fn anonymous(base: &str) -> Api {
        Api {
            base: base.to_string(),
            http: reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().unwrap(),
            token: None,
            refresh: None,
            user_id: String::new(),
            username: String::new(),
        }
    }

    /// Registers `username` (password `password-<username>`) and returns their logged-in client.
    pub async fn register(base: &str, username: &str) -> Api {
        let mut api = Api::anonymous(base);
        let body = api
            .post(
                "/api/v1/auth/register",
                json!({ "username": username, "email": format!("{username}@example.com"), "password": format!("password-{username}") }),
            )
            .await
            .expect(201);
        api.adopt(&body);
        api
    }

    /// Logs in as an existing user.
    pub async fn login(base: &str, login: &str, password: &str) -> Reply {
        Api::anonymous(base).post("/api/v1/auth/login", json!({ "login": login, "password": password })).await
    }

    /// Takes the tokens and identity of a login/register/refresh answer.
    pub fn adopt(&mut self, tokens: &Value) {
        self.token = Some(tokens["access_token"].as_str().unwrap().to_string());
        self.refresh = Some(tokens["refresh_token"].as_str().unwrap().to_string());
        self.user_id = tokens["user"]["id"].as_str().unwrap().to_string();
        self.username = tokens["user"]["username"].as_str().unwrap().to_string();
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    // Shortcuts for the common nouns; each asserts success and returns the JSON.

    pub async fn create_team(&self, name: &str, open: bool) -> String {
        let team = self.post("/api/v1/teams", json!({ "name": name, "open": open })).await.expect(201);
        team["id"].as_str().unwrap().to_string()
    }

    pub async fn add_to_team(&self, team: &str, user_id: &str) {
        let r = self.post(&format!("/api/v1/teams/{team}/members"), json!({ "user_id": user_id })).await;
        assert!(r.status == 201 || r.status == 200, "add to team: {r:?}");
    }

    pub async fn create_channel(&self, team: &str, name: &str, kind: &str) -> String {
        let c = self
            .post(&format!("/api/v1/teams/{team}/channels"), json!({ "name": name, "kind": kind }))
            .await
            .expect(201);
        c["id"].as_str().unwrap().to_string()
    }

    pub async fn add_to_channel(&self, channel: &str, user_id: &str) {
        let r = self.post(&format!("/api/v1/channels/{channel}/members"), json!({ "user_id": user_id })).await;
        assert!(r.status == 201 || r.status == 200, "add to channel: {r:?}");
    }

    pub async fn say(&self, channel: &str, message: &str) -> Value {
        self.post(&format!("/api/v1/channels/{channel}/posts"), json!({ "message": message })).await.expect(201)
    }
}
