//! The web client every node serves: the page at `/` and at client paths, its files under `/assets/`
//! with validators, compression and caching, the security headers, the JSON 404 kept for the server's
//! own paths, and the SSO cookie accepted on the WebSocket handshake only from the site's own pages.

use std::io::Read as _;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use serde_json::json;

use crate::common::{Api, Db, TestApp, spawn_app};

const WEB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/web");

async fn node() -> TestApp {
    spawn_app(Db::Sqlite, &[]).await.expect("an SQLite node always starts")
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// Every file under web/, as paths relative to it.
fn web_files() -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path.strip_prefix(WEB).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(std::path::Path::new(WEB), &mut out);
    out.sort();
    out
}

/// The `/assets/{version}/` prefix the page names.
async fn versioned_prefix(app: &TestApp) -> String {
    let page = app.get("/").await.text().await.unwrap();
    let start = page.find("/assets/").expect("the page names its assets");
    let rest = &page[start + "/assets/".len()..];
    format!("/assets/{}/", &rest[..rest.find('/').unwrap()])
}

fn assert_secure(r: &reqwest::Response, what: &str) {
    let csp = header(r, "content-security-policy");
    for needed in
        ["default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"]
    {
        assert!(csp.contains(needed), "{what}: CSP lacks {needed}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: CSP allows inline script: {csp}");
    assert_eq!(header(r, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(r, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(r, "referrer-policy"), "no-referrer", "{what}");
}

#[tokio::test]
async fn the_page_answers_at_the_root_and_at_client_paths_with_strict_security_headers() {
    let app = node().await;
    for path in ["/", "/channels/0190a5c6-0000-7000-8000-000000000000", "/admin"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8", "{path}");
        assert_eq!(
            header(&r, "cache-control"),
            "no-cache",
            "{path}: the page must be revalidated to pick up a new build"
        );
        assert_secure(&r, path);
        let html = r.text().await.unwrap();
        assert!(html.contains(r#"<script type="module" src="/assets/"#), "{path}: {html}");
        // No inline script: every <script> element loads a file.
        for tag in html.split("<script").skip(1) {
            assert!(tag[..tag.find('>').unwrap()].contains(" src="), "{path}: an inline script: <script{tag}");
        }
        assert!(!html.contains("__VERSION__"), "{path}: the version placeholder was not filled in");
        for foreign in ["http://", "https://", "//fonts.", "googleapis"] {
            assert!(!html.contains(foreign), "{path}: the page names another site ({foreign})");
        }
    }
}

#[tokio::test]
async fn the_servers_own_paths_keep_their_json_404() {
    let app = node().await;
    for path in
        ["/api", "/api/v1/nope", "/api/v2/teams", "/hooks/x", "/health", "/metrics", "/favicon.ico", "/assets/nope.js"]
    {
        let r = app.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert!(header(&r, "content-type").starts_with("application/json"), "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
    let r = app.client.post(format!("{}/channels/x", app.address)).send().await.unwrap();
    assert_eq!(r.status(), 404, "only GET and HEAD get the page");
}

#[tokio::test]
async fn every_file_under_web_is_served_with_its_type_an_etag_and_a_year_of_cache() {
    let app = node().await;
    let prefix = versioned_prefix(&app).await;
    let files = web_files();
    assert!(files.len() >= 10 && files.contains(&"js/main.js".to_string()), "{files:?}");
    for file in files.iter().filter(|f| *f != "index.html") {
        let url = format!("{prefix}{file}");
        let r = app.get(&url).await;
        assert_eq!(
            r.status(),
            200,
            "{url}: a file under web/ that the binary does not serve (list it in src/http/client/assets.rs)"
        );
        let want = match file.rsplit('.').next().unwrap() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            "txt" => "text/plain; charset=utf-8",
            other => panic!("{file}: no media type decided for .{other}"),
        };
        assert_eq!(header(&r, "content-type"), want, "{url}");
        assert_eq!(header(&r, "cache-control"), "public, max-age=31536000, immutable", "{url}");
        assert_secure(&r, &url);
        let etag = header(&r, "etag");
        assert!(etag.starts_with('"') && etag.len() > 10, "{url}: etag {etag:?}");
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            std::fs::read(format!("{WEB}/{file}")).unwrap(),
            "{url}: the body is the file"
        );

        let again =
            app.client.get(format!("{}{url}", app.address)).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{url}: a current copy is not sent again");
        assert_eq!(header(&again, "etag"), etag);
        assert!(again.bytes().await.unwrap().is_empty());
        let stale =
            app.client.get(format!("{}{url}", app.address)).header("If-None-Match", "\"old\"").send().await.unwrap();
        assert_eq!(stale.status(), 200, "{url}: a stale copy is replaced");
    }
    // Without the build's prefix a file is still served, but revalidated each time.
    let r = app.get("/assets/js/main.js").await;
    assert_eq!((r.status().as_u16(), header(&r, "cache-control")), (200, "no-cache".to_string()));
}

#[tokio::test]
async fn files_are_gzipped_for_browsers_that_accept_it_and_the_first_load_stays_under_150_kib() {
    let app = node().await;
    let prefix = versioned_prefix(&app).await;
    let mut first_load = 0usize;
    for file in web_files() {
        let url = if file == "index.html" { "/".to_string() } else { format!("{prefix}{file}") };
        let r = app
            .client
            .get(format!("{}{url}", app.address))
            .header("Accept-Encoding", "gzip, deflate, br")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(header(&r, "vary"), "Accept-Encoding", "{url}");
        let gzipped = header(&r, "content-encoding") == "gzip";
        let body = r.bytes().await.unwrap();
        if file != "LICENSE.txt" {
            first_load += body.len();
        }
        if file.ends_with(".js") || file.ends_with(".css") || file == "index.html" {
            assert!(gzipped, "{url}: text files are compressed");
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(body.as_ref()).read_to_end(&mut plain).unwrap();
            if file != "index.html" {
                assert_eq!(plain, std::fs::read(format!("{WEB}/{file}")).unwrap(), "{url}: gzip of the file");
            }
        }
        let refused =
            app.client.get(format!("{}{url}", app.address)).header("Accept-Encoding", "gzip;q=0").send().await.unwrap();
        assert_eq!(header(&refused, "content-encoding"), "", "{url}: gzip;q=0 refuses gzip");
    }
    assert!(first_load <= 150 * 1024, "the first load transfers {first_load} bytes compressed, over 150 KiB");
}

async fn ws_with_cookie(app: &TestApp, token: &str, origin: Option<&str>) -> Result<(), String> {
    let mut request =
        format!("{}/api/v1/ws", app.address.replacen("http://", "ws://", 1)).into_client_request().unwrap();
    request.headers_mut().insert("Cookie", format!("theme=dark; rustchat_access={token}").parse().unwrap());
    if let Some(o) = origin {
        request.headers_mut().insert("Origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut stream, _)) => {
            let first = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
            let hello: serde_json::Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
            assert_eq!(hello["event"], "hello", "{hello}");
            Ok(())
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test]
async fn the_sso_cookie_opens_a_websocket_only_from_the_sites_own_pages() {
    let app = node().await;
    let user = Api::register(&app.address, "cookie").await;
    let token = user.token.clone().unwrap();
    let own = format!("http://127.0.0.1:{}", app.port);
    assert_eq!(ws_with_cookie(&app, &token, Some(&own)).await, Ok(()), "the node's own page");
    for origin in [Some("http://evil.example"), Some(&format!("http://127.0.0.1:{}", app.port + 1)), Some("null"), None]
    {
        let refused = ws_with_cookie(&app, &token, origin).await;
        assert_eq!(refused, Err("401 Unauthorized".to_string()), "origin {origin:?}");
    }
    assert_eq!(ws_with_cookie(&app, "not-a-token", Some(&own)).await, Err("401 Unauthorized".to_string()));
}

/// With a site URL the cookie handshake must come from the site's origin, whatever host the request
/// reached (a node's own address is not the site a user's browser shows).
#[tokio::test]
async fn with_a_site_url_the_sso_cookie_opens_a_websocket_only_from_that_origin() {
    let site = "https://chat.example.com";
    let app = spawn_app(Db::Sqlite, &[("RUSTCHAT_SITE_URL", site)]).await.expect("an SQLite node always starts");
    let token = Api::register(&app.address, "cookie").await.token.unwrap();
    assert_eq!(ws_with_cookie(&app, &token, Some(site)).await, Ok(()), "the site's own page");
    let node_itself = format!("http://127.0.0.1:{}", app.port);
    for origin in [node_itself.as_str(), "http://chat.example.com", "https://chat.example.com.evil.example"] {
        assert_eq!(ws_with_cookie(&app, &token, Some(origin)).await, Err("401 Unauthorized".to_string()), "{origin}");
    }
}

/// A cookie rides on other sites' requests too: cookie-authenticated writes need `X-Requested-With`
/// (which a cross-site form cannot send); reads and bearer-authenticated writes do not.
#[tokio::test]
async fn cookie_authenticated_writes_need_the_x_requested_with_header() {
    let app = node().await;
    let user = Api::register(&app.address, "cookie").await;
    let cookie = format!("rustchat_access={}", user.token.as_deref().unwrap());
    let http = reqwest::Client::new();
    let team = json!({ "name": "acme", "open": false });
    let url = format!("{}/api/v1/teams", app.address);
    let r = http.post(&url).header("cookie", &cookie).json(&team).send().await.unwrap();
    assert_eq!(r.status(), 403, "a cross-site form's request");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("X-Requested-With"), "{body}");
    let read = http.get(format!("{}/api/v1/users/me", app.address)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(read.status(), 200, "reads need no header");
    let r = http.post(&url).header("cookie", &cookie).header("x-requested-with", "rustchat").json(&team).send().await;
    assert_eq!(r.unwrap().status(), 201, "the web client's request");
    let r =
        http.post(&url).bearer_auth(user.token.as_deref().unwrap()).json(&json!({ "name": "other", "open": false }));
    assert_eq!(r.send().await.unwrap().status(), 201, "a bearer token is no ambient credential");
}
