//! Single sign-on against a real OpenID provider (oidc-provider on loopback): login across nodes,
//! state and code checks, token delivery, key rotation, the provider going down.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::op::{Browser, CLIENT_ID, CLIENT_SECRET, Provider, available};
use crate::common::{Api, Cluster, Db, eventually, spawn_app};

fn oidc_vars(issuer: &str, site: &str, delivery: &str) -> Vec<(String, String)> {
    [
        ("RUSTCHAT_OIDC_ISSUER", issuer),
        ("RUSTCHAT_OIDC_CLIENT_ID", CLIENT_ID),
        ("RUSTCHAT_OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("RUSTCHAT_SITE_URL", site),
        ("RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY", delivery),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A provider and one node that uses it (the node's port is fixed first: the provider must know the
/// callback URL). `None` when Node or the provider package is missing outside CI.
async fn one_node_with_provider(delivery: &str) -> Option<(Provider, crate::common::TestApp)> {
    if !available() {
        return None;
    }
    let port = crate::common::process::free_port();
    let site = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(&[format!("{site}/api/v1/auth/oidc/sso/callback")]).await;
    let mut vars = oidc_vars(&provider.issuer, &site, delivery);
    vars.push(("RUSTCHAT_SERVER_PORT".into(), port.to_string()));
    let app = spawn_app(Db::Sqlite, &refs(&vars)).await?;
    Some((provider, app))
}

#[tokio::test]
async fn a_login_started_on_one_node_finishes_on_another_and_its_code_works_once() {
    if !available() {
        return;
    }
    // Ports first: the provider must know the callback URL, which is node 1 (the "site").
    let port = crate::common::process::free_port();
    let site = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(&[format!("{site}/api/v1/auth/oidc/sso/callback")]).await;
    let mut vars = oidc_vars(&provider.issuer, &site, "code");
    vars.push(("RUSTCHAT_SERVER_PORT".into(), port.to_string()));
    let Some(cluster) = Cluster::start_with_ports(2, &refs(&vars), &[None, Some(port)]).await else { return };

    let browser = Browser::new();
    let callback = browser.login_until_callback(&cluster.base(0), "bob", &provider).await;
    assert!(callback.starts_with(&cluster.base(1)), "the provider sends the browser to the site (node 1): {callback}");
    let back = browser.get(&callback).await;
    assert_eq!(back.status(), 302, "{}", back.text().await.unwrap());
    let target = url::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    let code =
        target.query_pairs().find(|(k, _)| k == "sso_code").map(|(_, v)| v.to_string()).expect("a one-time code");

    // The code sits in Redis under the runbook's pattern, with a short TTL.
    let client = redis::Client::open(crate::common::redis_url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 =
        redis::cmd("TTL").arg(format!("{}:oauth:code:{code}", cluster.prefix)).query_async(&mut c).await.unwrap();
    assert!((1..=60).contains(&ttl), "ttl {ttl}");

    let exchange = |node: usize| {
        let url = format!("{}/api/v1/auth/oidc/exchange", cluster.base(node));
        let code = code.clone();
        async move {
            let r = reqwest::Client::new().post(url).json(&json!({ "code": code })).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, tokens) = exchange(0).await;
    assert_eq!(status, 200, "{tokens}");
    let mut bob = Api::anonymous(&cluster.base(0));
    bob.adopt(&tokens);
    let me = bob.get("/api/v1/users/me").await.expect(200);
    assert_eq!((me["username"].as_str(), me["email"].as_str()), (Some("bob"), Some("bob@example.com")));
    assert_eq!(exchange(1).await.0, 400, "an exchange code works once");

    // The same person again is the same account, matched by issuer and subject.
    let again = browser.login_until_callback(&cluster.base(1), "bob", &provider).await;
    let back = browser.get(&again).await;
    let code2 = url::Url::parse(back.headers()["location"].to_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "sso_code")
        .unwrap()
        .1
        .to_string();
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/oidc/exchange", cluster.base(1)))
        .json(&json!({ "code": code2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["user"]["id"], me["id"]);

    // A replayed callback (state already used) and a forged state are refused and logged.
    assert_eq!(browser.get(&callback).await.status(), 400);
    let forged = callback.replace("state=", "state=forged");
    assert_eq!(browser.get(&forged).await.status(), 400);
    cluster
        .wait_log(1, "an 'OAuth state' log line", |l| l["message"].as_str().unwrap_or("").contains("OAuth state"))
        .await;
}

#[tokio::test]
async fn a_replayed_authorization_code_is_refused_by_the_provider() {
    if !available() {
        return;
    }
    let Some((provider, app)) = one_node_with_provider("code").await else { return };
    let browser = Browser::new();
    let first = browser.login_until_callback(&app.address, "carol", &provider).await;
    assert_eq!(browser.get(&first).await.status(), 302);
    // A second login's fresh state, with the first login's (used) code.
    let second = browser.login_until_callback(&app.address, "carol", &provider).await;
    let used_code = url::Url::parse(&first).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
    let mut replay = url::Url::parse(&second).unwrap();
    let pairs: Vec<(String, String)> = replay
        .query_pairs()
        .map(|(k, v)| (k.to_string(), if k == "code" { used_code.clone() } else { v.to_string() }))
        .collect();
    replay.query_pairs_mut().clear().extend_pairs(pairs);
    let r = browser.get(replay.as_str()).await;
    assert_eq!(r.status(), 401, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn cookie_delivery_sets_httponly_lax_cookies_that_authenticate() {
    if !available() {
        return;
    }
    let Some((provider, app)) = one_node_with_provider("cookie").await else { return };
    let providers: Value =
        reqwest::get(format!("{}/api/v1/auth/oidc/providers", app.address)).await.unwrap().json().await.unwrap();
    assert_eq!(providers[0]["id"], "sso");

    let browser = Browser::new();
    let callback = browser.login_until_callback(&app.address, "dave", &provider).await;
    let back = browser.get(&callback).await;
    assert_eq!(back.status(), 302);
    let cookies: Vec<String> =
        back.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let access = cookies.iter().find(|c| c.starts_with("rustchat_access=")).expect("access cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(access.contains(attribute), "{access}");
    }
    assert!(!access.contains("Secure"), "Secure only in production (this is plain http): {access}");
    // The browser's cookie jar now authenticates API calls.
    let me: Value = browser.get(&format!("{}/api/v1/users/me", app.address)).await.json().await.unwrap();
    assert_eq!(me["username"], "dave");
}

#[tokio::test]
async fn signing_key_rotation_at_the_provider_is_followed() {
    if !available() {
        return;
    }
    let Some((mut provider, app)) = one_node_with_provider("code").await else { return };
    let browser = Browser::new();
    let first = browser.login_until_callback(&app.address, "erin", &provider).await;
    assert_eq!(browser.get(&first).await.status(), 302, "first login caches discovery and keys");
    provider.launch(1).await;
    let browser = Browser::new();
    let second = browser.login_until_callback(&app.address, "erin", &provider).await;
    let r = browser.get(&second).await;
    assert_eq!(r.status(), 302, "a token signed with the new key is accepted: {}", r.text().await.unwrap());
}

#[tokio::test]
async fn the_provider_down_opens_the_oidc_breaker_and_logins_fail_fast_until_it_returns() {
    if !available() {
        return;
    }
    let Some((mut provider, app)) = one_node_with_provider("code").await else { return };
    provider.stop();
    let login = format!("{}/api/v1/auth/oidc/sso/login", app.address);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let body: Value = eventually(Duration::from_secs(30), "the oidc breaker to open", || async {
        let r = http.get(&login).send().await.ok()?;
        assert_eq!(r.status(), 503);
        let (_, stats) = app.get_json("/api/v1/health/stats").await;
        (stats["circuit_breakers"]["oidc"]["state"] == "open").then_some(r.json::<Value>().await.ok()?)
    })
    .await;
    assert_eq!(body["error"]["code"], "service_unavailable");
    assert!(body["error"]["message"].as_str().unwrap().contains("identity provider"));
    // The same transition the log reports as `circuit breaker oidc: closed -> open` (runbook P5 greps
    // `circuit.*oidc`; the line format is shared with the redis breaker, whose log test runs jq on it).
    let scrape = app.get("/api/v1/health/metrics").await.text().await.unwrap();
    let labels = [("breaker", "oidc"), ("from", "closed"), ("to", "open")];
    assert_eq!(
        crate::operability::sample(&scrape, "rustchat_circuit_breaker_state_changes_total", &labels),
        Some(1.0),
        "{scrape}"
    );

    provider.launch(0).await;
    eventually(Duration::from_secs(30), "logins to work again", || async {
        let r = http.get(&login).send().await.ok()?;
        (r.status() == 302).then_some(())
    })
    .await;
}

/// Identity providers added through the admin API: the client secret is sealed in the database,
/// a wrong encryption key stops the node at start, and a rotation re-seals with the new key.
#[tokio::test]
async fn provider_secrets_are_sealed_a_wrong_key_fails_loudly_and_rotation_reseals() {
    use sqlx::Connection;

    if !available() {
        return;
    }
    let Some(db) = crate::common::TestDb::create().await else { return };
    const K1: &str = "Zmlyc3QtZW5jcnlwdGlvbi1rZXktZm9yLXZhdWx0LXRlc3RzLTAxMjM0NTY3ODk=";
    const K2: &str = "c2Vjb25kLWVuY3J5cHRpb24ta2V5LWZvci12YXVsdC10ZXN0cy05ODc2NTQzMjE=";
    const JWT: &str = "and0LXNlY3JldC1mb3ItdmF1bHQtdGVzdHMtMDEyMzQ1Njc4OTAxMjM0NTY3ODk=";
    let port = crate::common::process::free_port();
    let site = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(&[format!("{site}/api/v1/auth/oidc/corp/callback")]).await;
    let port_s = port.to_string();
    let base = |key: &'static str| {
        vec![
            ("RUSTCHAT_SITE_URL", site.clone()),
            ("RUSTCHAT_SERVER_PORT", port_s.clone()),
            ("RUSTCHAT_JWT_SECRET", JWT.to_string()),
            ("RUSTCHAT_ENCRYPTION_KEY", key.to_string()),
            ("RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY", "code".to_string()),
        ]
    };
    let as_refs = |v: &[(&'static str, String)]| v.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    let login = |app_base: String| {
        let provider = &provider;
        async move {
            let browser = Browser::new();
            let cb = browser.login_with("corp", &app_base, "frank", provider).await;
            browser.get(&cb).await.status().as_u16()
        }
    };

    let v1 = as_refs(&base(K1));
    let app = crate::common::spawn_app_on(&db.url, &v1.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>())
        .await
        .unwrap();
    let admin = Api::register(&app.address, "root").await;
    let created = admin
        .post(
            "/api/v1/admin/oidc/providers",
            json!({"id": "corp", "issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "display_name": "Corp SSO"}),
        )
        .await
        .expect(201);
    assert!(!created.to_string().contains(CLIENT_SECRET), "the secret is never returned: {created}");
    assert_eq!(created["redirect_uri"], format!("{site}/api/v1/auth/oidc/corp/callback"));
    let listed = admin.get("/api/v1/admin/oidc/providers").await.expect(200);
    assert!(!listed.to_string().contains(CLIENT_SECRET));
    let k1_id = created["secret_key_id"].as_str().unwrap().to_string();
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let sealed: String = sqlx::query_scalar("SELECT client_secret_sealed FROM oidc_providers WHERE id = 'corp'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(sealed.starts_with(&format!("v1.{k1_id}.")) && !sealed.contains(CLIENT_SECRET), "{sealed}");
    assert_eq!(login(app.address.clone()).await, 302, "a login through the stored provider works");
    drop(app);

    // The wrong key: the node refuses to start and says what to do.
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = base(K2);
    wrong.push(("RUSTCHAT_DATABASE_URL", db.url.clone()));
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, out, err) = crate::common::process::run(dir.path(), &wrong, &[]);
    assert_ne!(code, 0);
    assert!(out.contains("RUSTCHAT_ENCRYPTION_KEY_PREVIOUS"), "{out}{err}");

    // Rotation: the new key with the old one as previous re-seals at start.
    let mut rotating = base(K2);
    rotating.push(("RUSTCHAT_ENCRYPTION_KEY_PREVIOUS", K1.to_string()));
    let rotating: Vec<(&str, &str)> = rotating.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = crate::common::spawn_app_on(&db.url, &rotating).await.unwrap();
    let resealed: String = sqlx::query_scalar("SELECT client_secret_sealed FROM oidc_providers WHERE id = 'corp'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(!resealed.starts_with(&format!("v1.{k1_id}.")), "re-sealed with the new key: {resealed}");
    assert_eq!(login(app.address.clone()).await, 302);
    drop(app);
    // Afterwards the new key alone is enough.
    let v2 = as_refs(&base(K2));
    let app = crate::common::spawn_app_on(&db.url, &v2.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(login(app.address.clone()).await, 302);
}

/// First logins link to an existing account only through an email the provider says is verified.
#[tokio::test]
async fn a_first_sso_login_links_an_existing_account_only_by_verified_email() {
    let Some((provider, app)) = one_node_with_provider("code").await else { return };
    // Local accounts with the addresses the provider will report (`<name>@example.com`).
    let local = Api::register(&app.address, "alice").await;
    Api::register(&app.address, "unverified1").await;
    let finish = |account: &'static str| {
        let (provider, base) = (&provider, app.address.clone());
        async move {
            let browser = Browser::new();
            let callback = browser.login_until_callback(&base, account, provider).await;
            browser.get(&callback).await
        }
    };
    let linked = finish("alice").await;
    assert_eq!(linked.status(), 302);
    let code = url::Url::parse(linked.headers()["location"].to_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "sso_code")
        .unwrap()
        .1
        .to_string();
    let tokens: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/oidc/exchange", app.address))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["user"]["id"], local.user_id.as_str(), "verified email: linked to the existing account");
    let refused = finish("unverified1").await;
    assert_eq!(refused.status(), 409, "an unverified address never takes over an account");
}

/// ID tokens that are expired or meant for another client are refused, however genuine their signature.
#[tokio::test]
async fn expired_id_tokens_and_tokens_for_another_audience_are_refused() {
    let Some((mut provider, app)) = one_node_with_provider("code").await else { return };
    for bad in [("ID_TOKEN_EXPIRED", "1"), ("ID_TOKEN_AUDIENCE", "some-other-client")] {
        provider.launch_with(0, &[bad]).await;
        let browser = Browser::new();
        let callback = browser.login_until_callback(&app.address, "mallory", &provider).await;
        let r = browser.get(&callback).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 401, "{bad:?}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("ID token is not valid"), "{bad:?}: {body}");
    }
    // A well-behaved provider again: the same login works.
    provider.launch(0).await;
    let browser = Browser::new();
    let callback = browser.login_until_callback(&app.address, "mallory", &provider).await;
    assert_eq!(browser.get(&callback).await.status(), 302);
}

/// Found by schemathesis: a provider added with an issuer that answers nothing made every login through
/// it a 503. It is refused when it is added (422, naming the issuer), and nothing is stored.
#[tokio::test]
async fn a_provider_whose_issuer_does_not_answer_discovery_is_refused_when_added() {
    let Some(app) = spawn_app(Db::Postgres, &[("RUSTCHAT_SITE_URL", "https://chat.example.com")]).await else {
        return;
    };
    let admin = Api::register(&app.address, "root").await;
    // A port nothing listens on.
    let issuer = format!("http://127.0.0.1:{}", crate::common::process::free_port());
    let reply = admin
        .post(
            "/api/v1/admin/oidc/providers",
            json!({"id": "corp", "issuer": issuer, "client_id": "rustchat", "client_secret": "s3cret"}),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (422, "unprocessable"), "{}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&issuer) && message.contains("discovery"), "{message}");
    assert_eq!(admin.get("/api/v1/admin/oidc/providers").await.expect(200), json!([]));
    assert_eq!(admin.get("/api/v1/auth/oidc/corp/login").await.status, 404);
}
