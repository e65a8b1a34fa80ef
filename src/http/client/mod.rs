//! The web client, served by every node: its files under `/assets/` ([`assets`], [`serve`]) and the
//! page itself for `/` and any client path (`/channels/…`), so a reload or a shared link opens the
//! client. Paths of the server's own interfaces (`/api`, `/hooks`, `/health`, `/metrics`) keep the
//! JSON 404 that API clients expect.

pub mod assets;
pub mod serve;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};

use serve::Caching;

/// First path segments that belong to the server, never to the client.
const SERVER_PREFIXES: &[&str] = &["api", "hooks", "health", "healthz", "metrics", "assets"];

/// What answers a request no route matched.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A client file, with its caching rule.
    Asset(String, Caching),
    /// The page (a client-side path).
    Page,
    /// The JSON 404.
    NotFound,
}

/// Decides, from the method and path alone, what a request gets.
pub fn target(method: &Method, path: &str) -> Target {
    if method != Method::GET && method != Method::HEAD {
        return Target::NotFound;
    }
    let rest = path.trim_start_matches('/');
    if let Some(asset) = rest.strip_prefix("assets/") {
        return match asset.split_once('/') {
            Some((v, file)) if v == assets::version() => Target::Asset(file.to_string(), Caching::Immutable),
            // Another build's prefix (a page loaded from a node of another version): today's file, revalidated.
            Some((v, file)) if v.len() == 12 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Target::Asset(file.to_string(), Caching::Revalidate)
            }
            _ => Target::Asset(asset.to_string(), Caching::Revalidate),
        };
    }
    let first = rest.split('/').next().unwrap_or("");
    let last = rest.rsplit('/').next().unwrap_or("");
    if SERVER_PREFIXES.contains(&first) || last.contains('.') {
        return Target::NotFound;
    }
    Target::Page
}

/// The default service: a client file, the page, or the JSON 404.
pub async fn fallback(req: HttpRequest) -> HttpResponse {
    match target(req.method(), req.path()) {
        Target::Asset(path, caching) if path != "index.html" => match assets::get(&path) {
            Some(file) => serve::file(&req, file, caching),
            None => super::not_found().await,
        },
        Target::Asset(..) | Target::NotFound => super::not_found().await,
        Target::Page => serve::file(&req, assets::index(), Caching::Revalidate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_paths_get_the_page_and_server_paths_keep_their_404() {
        let v = assets::version();
        let cases = [
            (Method::GET, "/".to_string(), Target::Page),
            (Method::GET, "/channels/abc".into(), Target::Page),
            (Method::HEAD, "/admin".into(), Target::Page),
            (Method::POST, "/".into(), Target::NotFound),
            (Method::GET, "/api".into(), Target::NotFound),
            (Method::GET, "/api/v2/x".into(), Target::NotFound),
            (Method::GET, "/hooks/x".into(), Target::NotFound),
            (Method::GET, "/health".into(), Target::NotFound),
            (Method::GET, "/metrics".into(), Target::NotFound),
            (Method::GET, "/robots.txt".into(), Target::NotFound),
            (Method::GET, format!("/assets/{v}/js/main.js"), Target::Asset("js/main.js".into(), Caching::Immutable)),
            (Method::GET, "/assets/0123456789ab/app.css".into(), Target::Asset("app.css".into(), Caching::Revalidate)),
            (Method::GET, "/assets/app.css".into(), Target::Asset("app.css".into(), Caching::Revalidate)),
        ];
        for (method, path, want) in cases {
            assert_eq!(target(&method, &path), want, "{method} {path}");
        }
    }
}
