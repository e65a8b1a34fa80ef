//! The few REST calls seeding needs, with errors that say which call failed and what the node said.

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

/// A seeded account.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub name: String,
    pub id: String,
    pub access_token: String,
    pub refresh_token: String,
}

fn account(name: &str, v: &Value) -> anyhow::Result<Account> {
    let field = |path: &[&str]| -> anyhow::Result<String> {
        let mut cur = v;
        for p in path {
            cur = &cur[*p];
        }
        cur.as_str().map(str::to_string).with_context(|| format!("no {} in {v}", path.join(".")))
    };
    Ok(Account {
        name: name.to_string(),
        id: field(&["user", "id"])?,
        access_token: field(&["access_token"])?,
        refresh_token: field(&["refresh_token"])?,
    })
}

/// What to do about a refusal: a 429 is the node's per-address limits, not the load being measured.
pub fn hint(status: u16) -> &'static str {
    if status == 429 {
        " -- the node rate-limited the load tool (every client comes from a few addresses): start the nodes \
         with RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE=1000000 and RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE=1000000, \
         as scripts/bench does"
    } else {
        ""
    }
}

pub async fn register(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<Account> {
    let body = json!({"username": name, "email": format!("{name}@load.test"), "password": format!("pw-{name}-load")});
    let r = http.post(format!("{base}/api/v1/auth/register")).json(&body).send().await?;
    let status = r.status();
    let text = r.text().await?;
    if status.as_u16() != 201 {
        bail!("register {name}: {status} {text}{}", hint(status.as_u16()));
    }
    account(name, &serde_json::from_str(&text)?)
}

/// A new token pair for a cached account (refresh tokens work once; the new one replaces it).
pub async fn refresh(http: &reqwest::Client, base: &str, old: &Account) -> anyhow::Result<Account> {
    let r = http
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": old.refresh_token}))
        .send()
        .await?;
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        let why = match hint(status.as_u16()) {
            "" => " (a seed cache only works against the database and JWT secret it was made with)",
            h => h,
        };
        bail!("refresh {}: {status} {text}{why}", old.name);
    }
    account(&old.name, &serde_json::from_str(&text)?)
}

pub async fn call(
    http: &reqwest::Client,
    method: Method,
    url: String,
    token: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let r = http.request(method.clone(), &url).bearer_auth(token).json(&body).send().await?;
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        bail!("{method} {url}: {status} {text}{}", hint(status.as_u16()));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn id_of(v: &Value, what: &str) -> anyhow::Result<String> {
    v["id"].as_str().map(str::to_string).with_context(|| format!("no {what} id in {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_says_which_limits_to_raise() {
        assert!(hint(429).contains("RUSTCHAT_SECURITY_RATE_LIMIT_AUTH_PER_MINUTE"));
        assert!(hint(429).contains("RUSTCHAT_SECURITY_RATE_LIMIT_WS_PER_MINUTE"));
        assert_eq!(hint(401), "");
    }
}
