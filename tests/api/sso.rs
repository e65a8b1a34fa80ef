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

    // The session refreshes from its refresh cookie: 204, new cookies, no token a script could read;
    // without X-Requested-With (a cross-site form) it is refused.
    let refresh = format!("{}/api/v1/auth/refresh", app.address);
    let forged = browser.http.post(&refresh).json(&json!({})).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    let r = browser.http.post(&refresh).header("x-requested-with", "rustchat").json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let renewed: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert!(renewed.iter().any(|c| c.starts_with("rustchat_access=") && c.contains("HttpOnly")), "{renewed:?}");
    let old_refresh = cookies.iter().find(|c| c.starts_with("rustchat_refresh=")).unwrap().split(';').next().unwrap();
    let new_refresh = renewed.iter().find(|c| c.starts_with("rustchat_refresh=")).expect("a new refresh cookie");
    assert!(new_refresh.contains("Path=/api/v1/auth") && !new_refresh.starts_with(old_refresh), "{new_refresh}");
    assert!(r.text().await.unwrap().is_empty(), "no token in the body");
    let me = browser.get(&format!("{}/api/v1/users/me", app.address)).await;
    assert_eq!(me.status(), 200, "the renewed cookies authenticate");
    // The old refresh cookie, presented again, is a reuse: the session ends.
    let replay = reqwest::Client::new()
        .post(&refresh)
        .header("cookie", old_refresh)
        .header("x-requested-with", "rustchat")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    let me = browser.get(&format!("{}/api/v1/users/me", app.address)).await;
    assert_eq!(me.status(), 401, "a reused refresh token revokes the session");
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
        (stats["circuit_breakers"]["oidc:sso"]["state"] == "open").then_some(r.json::<Value>().await.ok()?)
    })
    .await;
    assert_eq!(body["error"]["code"], "service_unavailable");
    assert!(body["error"]["message"].as_str().unwrap().contains("identity provider"));
    // The same transition the log reports as `circuit breaker oidc: closed -> open` (runbook P5 greps
    // `circuit.*oidc`; the line format is shared with the redis breaker, whose log test runs jq on it).
    let scrape = app.get("/api/v1/health/metrics").await.text().await.unwrap();
    let labels = [("breaker", "oidc"), ("provider", "sso"), ("from", "closed"), ("to", "open")];
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

/// The code a `code`-delivery callback answered with, traded for the tokens.
async fn exchanged(base: &str, back: reqwest::Response) -> Value {
    let location = back.headers()["location"].to_str().unwrap().to_string();
    let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "sso_code").unwrap().1.to_string();
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/oidc/exchange"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

/// A first login joins an existing account by email only where the operator allows that domain, only
/// for an address the provider verified, and never a system admin's; each refusal is a WARN line with
/// issuer, subject and client address. Without the policy, users link a provider from their account.
#[tokio::test]
async fn a_first_sso_login_links_an_existing_account_only_where_the_operator_allows_it() {
    if !available() {
        return;
    }
    let port = crate::common::process::free_port();
    let site = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(&[format!("{site}/api/v1/auth/oidc/sso/callback")]).await;
    let mut vars = oidc_vars(&provider.issuer, &site, "code");
    vars.push(("RUSTCHAT_OIDC_LINK_EMAIL_DOMAINS".into(), "example.com".into()));
    let Some(cluster) = Cluster::start_with_ports(1, &refs(&vars), &[Some(port)]).await else { return };
    // Local accounts with the addresses the provider will report (`<name>@example.com`); the first is
    // the system admin.
    let admin = Api::register(&site, "root").await;
    let local = Api::register(&site, "alice").await;
    Api::register(&site, "unverified1").await;
    let finish = |account: &'static str| {
        let (provider, base) = (&provider, site.clone());
        async move {
            let browser = Browser::new();
            let callback = browser.login_until_callback(&base, account, provider).await;
            browser.get(&callback).await
        }
    };
    let linked = finish("alice").await;
    assert_eq!(linked.status(), 302);
    let tokens = exchanged(&site, linked).await;
    assert_eq!(tokens["user"]["id"], local.user_id.as_str(), "verified email in an allowed domain: linked");
    for (account, why) in [("unverified1", "an unverified address"), ("root", "a system admin's address")] {
        let r = finish(account).await;
        assert_eq!(r.status(), 409, "{why} never takes over an account");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("link this provider"), "{body}");
    }
    let warning = cluster
        .wait_log(0, "a WARN line for the refused admin link", |l| {
            l["level"] == "WARN" && l["fields"]["reason"] == "email belongs to a system admin"
        })
        .await;
    let fields = &warning["fields"];
    assert_eq!(fields["issuer"], provider.issuer.as_str(), "{warning}");
    assert_eq!(fields["subject"], "root", "{warning}");
    assert_eq!(warning["ip"], "127.0.0.1", "{warning}");
    let text = warning.to_string();
    assert!(!text.contains("eyJ"), "no token in the line: {text}");

    // The admin links the provider explicitly, signed in: the same round trip, bound to their browser.
    let browser = Browser::new();
    let start = browser
        .http
        .post(format!("{site}/api/v1/auth/oidc/sso/link"))
        .bearer_auth(admin.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 200);
    let url = start.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_string();
    let mut location = format!("{url}&login_hint=root");
    for _ in 0..10 {
        if location.contains("/api/v1/auth/oidc/") {
            break;
        }
        let next = if location.starts_with('/') { format!("{}{location}", provider.issuer) } else { location };
        location = browser.get(&next).await.headers()["location"].to_str().unwrap().to_string();
    }
    let back = browser.get(&location).await;
    assert_eq!(back.status(), 302);
    assert!(back.headers()["location"].to_str().unwrap().contains("sso_linked=sso"), "{:?}", back.headers());
    let again = finish("root").await;
    assert_eq!(again.status(), 302, "after linking, the provider signs the admin in");
    assert_eq!(exchanged(&site, again).await["user"]["id"], admin.user_id.as_str());
}

/// Without the operator's policy no first login joins an existing account by email.
#[tokio::test]
async fn by_default_no_first_login_joins_an_existing_account() {
    let Some((provider, app)) = one_node_with_provider("code").await else { return };
    Api::register(&app.address, "root").await;
    Api::register(&app.address, "alice").await;
    let browser = Browser::new();
    let callback = browser.login_until_callback(&app.address, "alice", &provider).await;
    assert_eq!(browser.get(&callback).await.status(), 409);
}

/// Login CSRF: an attacker who begins a login and signs in at the provider as themselves cannot hand
/// the callback to a victim's browser: the state is bound to the browser that began the login.
#[tokio::test]
async fn a_callback_opened_in_another_browser_signs_no_one_in() {
    for delivery in ["cookie", "code"] {
        let Some((provider, app)) = one_node_with_provider(delivery).await else { return };
        let attacker = Browser::new();
        let callback = attacker.login_until_callback(&app.address, "mallory", &provider).await;
        let victim = Browser::new();
        let r = victim.get(&callback).await;
        assert_eq!(r.status(), 400, "{delivery}");
        assert!(r.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("rustchat_access=")));
        let body: Value = r.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("not begun in this browser"), "{body}");
        let me = victim.get(&format!("{}/api/v1/users/me", app.address)).await;
        assert_eq!(me.status(), 401, "{delivery}: the victim is not signed in as anyone");
        // The browser that began a login finishes it.
        let own = attacker.login_until_callback(&app.address, "mallory", &provider).await;
        let r = attacker.get(&own).await;
        assert_eq!(r.status(), 302, "{delivery}");
        let cleared = r.headers().get_all("set-cookie").iter().any(|c| {
            let c = c.to_str().unwrap();
            c.starts_with("rustchat_oidc_login=;") && c.contains("Max-Age=0")
        });
        assert!(cleared, "{delivery}: the binding cookie is cleared");
    }
}

/// A provider that lists HS256 in discovery (Keycloak does by default) cannot get a token signed with
/// the client secret accepted, unless the operator names HS256.
#[tokio::test]
async fn id_tokens_signed_with_the_client_secret_are_refused_unless_the_operator_allows_them() {
    if !available() {
        return;
    }
    let ports = [crate::common::process::free_port(), crate::common::process::free_port()];
    let sites = ports.map(|p| format!("http://127.0.0.1:{p}"));
    let callbacks: Vec<String> = sites.iter().map(|s| format!("{s}/api/v1/auth/oidc/sso/callback")).collect();
    let mut provider = Provider::start(&callbacks).await;
    provider.launch_with(0, &[("ID_TOKEN_ALG", "HS256")]).await;
    let mut apps = Vec::new();
    for (i, algs) in [None, Some("RS256 HS256")].into_iter().enumerate() {
        let mut vars = oidc_vars(&provider.issuer, &sites[i], "code");
        vars.push(("RUSTCHAT_SERVER_PORT".into(), ports[i].to_string()));
        if let Some(algs) = algs {
            vars.push(("RUSTCHAT_OIDC_SIGNING_ALGS".into(), algs.into()));
        }
        let Some(app) = spawn_app(Db::Sqlite, &refs(&vars)).await else { return };
        apps.push(app);
    }
    let browser = Browser::new();
    let callback = browser.login_until_callback(&apps[0].address, "mallory", &provider).await;
    let r = browser.get(&callback).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("ID token is not valid"), "{body}");
    let callback = browser.login_until_callback(&apps[1].address, "mallory", &provider).await;
    assert_eq!(browser.get(&callback).await.status(), 302, "an operator who names HS256 gets it");
}

/// A claim of the wrong type (`email_verified: "true"`) is the login's problem: a clear 401, and the
/// provider's breaker does not count it.
#[tokio::test]
async fn a_claim_of_the_wrong_type_refuses_the_login_without_tripping_the_breaker() {
    let Some((mut provider, app)) = one_node_with_provider("code").await else { return };
    provider.launch_with(0, &[("EMAIL_VERIFIED_STRING", "1")]).await;
    for _ in 0..6 {
        let browser = Browser::new();
        let callback = browser.login_until_callback(&app.address, "mallory", &provider).await;
        let r = browser.get(&callback).await;
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("could not be read"), "{body}");
    }
    let (_, stats) = app.get_json("/api/v1/health/stats").await;
    assert_eq!(stats["circuit_breakers"]["oidc:sso"]["state"], "closed", "{stats}");
    assert_eq!(stats["circuit_breakers"]["oidc:sso"]["total_failures"], 0, "{stats}");
}

/// A second provider that is down trips its own breaker; logins through the healthy one go on, and
/// stats and metrics name the provider.
#[tokio::test]
async fn a_broken_provider_trips_only_its_own_breaker() {
    if !available() {
        return;
    }
    let port = crate::common::process::free_port();
    let site = format!("http://127.0.0.1:{port}");
    let healthy = Provider::start(&[format!("{site}/api/v1/auth/oidc/sso/callback")]).await;
    let mut broken = Provider::start(&[format!("{site}/api/v1/auth/oidc/broken/callback")]).await;
    let mut vars = oidc_vars(&healthy.issuer, &site, "code");
    vars.push(("RUSTCHAT_SERVER_PORT".into(), port.to_string()));
    let Some(app) = spawn_app(Db::Sqlite, &refs(&vars)).await else { return };
    let admin = Api::register(&app.address, "root").await;
    admin
        .post(
            "/api/v1/admin/oidc/providers",
            json!({"id": "broken", "issuer": broken.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
        )
        .await
        .expect(201);
    broken.stop();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for _ in 0..6 {
        let r = http.get(format!("{}/api/v1/auth/oidc/broken/login", app.address)).send().await.unwrap();
        assert_eq!(r.status(), 503);
    }
    let (_, stats) = app.get_json("/api/v1/health/stats").await;
    assert_eq!(stats["circuit_breakers"]["oidc:broken"]["state"], "open", "{stats}");
    let browser = Browser::new();
    let callback = browser.login_until_callback(&app.address, "alice", &healthy).await;
    assert_eq!(browser.get(&callback).await.status(), 302, "the healthy provider's logins go on");
    let (_, stats) = app.get_json("/api/v1/health/stats").await;
    assert_eq!(stats["circuit_breakers"]["oidc:sso"]["state"], "closed", "{stats}");
    assert_eq!(stats["circuit_breakers"]["oidc"]["state"], "open", "the summary shows the worst: {stats}");
    let scrape = app.get("/api/v1/health/metrics").await.text().await.unwrap();
    let opened = [("breaker", "oidc"), ("provider", "broken"), ("from", "closed"), ("to", "open")];
    assert_eq!(crate::operability::sample(&scrape, "rustchat_circuit_breaker_state_changes_total", &opened), Some(1.0));
    let healthy_opened = [("breaker", "oidc"), ("provider", "sso"), ("from", "closed"), ("to", "open")];
    assert_eq!(
        crate::operability::sample(&scrape, "rustchat_circuit_breaker_state_changes_total", &healthy_opened),
        Some(0.0),
        "{scrape}"
    );
}

/// With the provider hanging and its breaker half-open, a browser that gives up on the probing login
/// (the request's future is dropped) gives the probe back: the next login is answered, not refused
/// with 503 until the node restarts.
#[tokio::test]
async fn a_probe_dropped_mid_flight_does_not_hold_the_oidc_breaker_half_open() {
    let Some((mut provider, app)) = one_node_with_provider("code").await else { return };
    // Callbacks prepared while the provider is up (the first also caches discovery).
    let mut callbacks = Vec::new();
    for _ in 0..7 {
        let browser = Browser::new();
        let callback = browser.login_until_callback(&app.address, "alice", &provider).await;
        callbacks.push((browser, callback));
    }
    provider.stop();
    for (browser, callback) in callbacks.drain(..5) {
        assert_eq!(browser.get(&callback).await.status(), 503, "the token endpoint is down");
    }
    let (_, stats) = app.get_json("/api/v1/health/stats").await;
    assert_eq!(stats["circuit_breakers"]["oidc:sso"]["state"], "open", "{stats}");
    tokio::time::sleep(rustchat_actors::breaker::OPEN_COOLDOWN + Duration::from_millis(300)).await;
    // The provider's port now accepts connections and never answers.
    let hanging = tokio::net::TcpListener::bind(("127.0.0.1", provider.port)).await.unwrap();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((s, _)) = hanging.accept().await {
            sockets.push(s);
        }
    });
    let (browser, callback) = callbacks.remove(0);
    let gave_up = tokio::time::timeout(Duration::from_secs(1), browser.get(&callback)).await;
    assert!(gave_up.is_err(), "the probing login hangs with the provider");
    tokio::time::sleep(Duration::from_millis(300)).await;
    held.abort();
    let _ = held.await;
    provider.launch(0).await;
    // The provider restarted without the codes it issued: it refuses the last one (401), which is an
    // answer: the breaker closes. Before the fix this was 503 until the node restarted.
    let (browser, callback) = callbacks.remove(0);
    let r = browser.get(&callback).await;
    assert_eq!(r.status(), 401, "{}", r.text().await.unwrap());
    let (_, stats) = app.get_json("/api/v1/health/stats").await;
    assert_eq!(stats["circuit_breakers"]["oidc:sso"]["state"], "closed", "{stats}");
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
