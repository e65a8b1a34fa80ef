//! Single sign-on with OpenID Connect (the `openidconnect` crate: discovery, PKCE, state, nonce, and
//! ID-token verification — signature via the provider's JWKS, issuer, audience, expiry, nonce).
//! Discovery is cached for [`METADATA_TTL`] and re-read when a token is signed by a key we have not
//! seen (key rotation). Every call to the provider goes through the `oidc` circuit breaker.

pub mod one_time;
pub mod registry;

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use rustchat_actors::breaker::Breaker;
use serde::{Deserialize, Serialize};

use crate::config::OidcProviderSettings;
use crate::error::{Error, ErrorCode, Result};

/// How long discovery metadata (and the JWKS with it) is reused.
pub const METADATA_TTL: Duration = Duration::from_secs(600);
/// How long a login may take between leaving for the provider and coming back.
pub const STATE_TTL: Duration = Duration::from_secs(600);

/// A client built from discovery: authorization endpoint set, token and userinfo endpoints as discovered.
type ProviderClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// What the login keeps server-side between the redirect and the callback.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoginState {
    pub provider: String,
    pub pkce_verifier: String,
    pub nonce: String,
    /// SHA-256 (hex) of the value the login's browser holds in its binding cookie: the callback must
    /// come from the browser that began the login (login CSRF).
    #[serde(default)]
    pub browser: String,
    /// A signed-in user linking this provider to their account, instead of a login.
    #[serde(default)]
    pub link_to: Option<uuid::Uuid>,
}

/// A verified identity from the provider.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
}

pub struct Oidc {
    pub settings: OidcProviderSettings,
    redirect: RedirectUrl,
    http: openidconnect::reqwest::Client,
    metadata: tokio::sync::Mutex<Option<(Instant, CoreProviderMetadata)>>,
    breaker: Arc<Breaker>,
    /// ID token signature algorithms accepted, whatever discovery lists.
    algs: Vec<CoreJwsSigningAlgorithm>,
}

fn unavailable(detail: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::ServiceUnavailable, "the identity provider is unavailable; try again shortly")
        .with_cause(anyhow::anyhow!("{detail}"))
}

/// Reads `issuer`'s discovery document once, outside the cache and the breaker: whether logins through
/// a provider being added could work at all. The error says why not.
pub async fn check_discovery(issuer: &url::Url) -> std::result::Result<(), String> {
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    let issuer = IssuerUrl::new(issuer.as_str().trim_end_matches('/').to_string()).map_err(|e| e.to_string())?;
    match CoreProviderMetadata::discover_async(issuer, &http).await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{:#}", anyhow::Error::new(e))),
    }
}

impl Oidc {
    pub fn new(
        settings: OidcProviderSettings,
        site_url: &url::Url,
        breaker: Arc<Breaker>,
        signing_algs: &[String],
    ) -> anyhow::Result<Self> {
        let algs = signing_algs
            .iter()
            .map(|a| serde_json::from_value(serde_json::Value::String(a.clone())))
            .collect::<std::result::Result<Vec<CoreJwsSigningAlgorithm>, _>>()?;
        let redirect = site_url.join(&format!("api/v1/auth/oidc/{}/callback", settings.id))?;
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            settings,
            redirect: RedirectUrl::new(redirect.to_string())?,
            http,
            metadata: tokio::sync::Mutex::new(None),
            breaker,
            algs,
        })
    }

    pub fn redirect_uri(&self) -> &str {
        self.redirect.as_str()
    }

    /// Discovery, cached; `refresh` forces a new read (the provider rotated its keys).
    async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, m)) = cached.as_ref()
            && !refresh
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let Some(permit) = self.breaker.permit() else {
            return Err(unavailable("oidc circuit breaker open"));
        };
        let issuer =
            IssuerUrl::new(self.settings.issuer.as_str().trim_end_matches('/').to_string()).map_err(unavailable)?;
        match CoreProviderMetadata::discover_async(issuer, &self.http).await {
            Ok(m) => {
                permit.succeeded();
                *cached = Some((Instant::now(), m.clone()));
                Ok(m)
            }
            Err(e) => {
                permit.failed();
                tracing::warn!(error = %e, "OIDC discovery failed");
                Err(unavailable(e))
            }
        }
    }

    fn client(&self, metadata: CoreProviderMetadata) -> ProviderClient {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.expose().clone())),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// The ID token verifier: the algorithms are ours, never just what discovery lists (a provider
    /// listing HS256 would otherwise let a token signed with the client secret through).
    fn verifier<'a>(&self, client: &'a ProviderClient) -> openidconnect::core::CoreIdTokenVerifier<'a> {
        client.id_token_verifier().set_allowed_algs(self.algs.clone())
    }

    /// The provider's authorization URL for a new login, its `state`, and what to keep until the callback.
    pub async fn begin(&self) -> Result<(String, String, LoginState)> {
        let client = self.client(self.metadata(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request =
            client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let keep = LoginState {
            provider: self.settings.id.clone(),
            pkce_verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            browser: String::new(),
            link_to: None,
        };
        Ok((url.to_string(), state.secret().clone(), keep))
    }

    /// Exchanges the code and verifies the ID token.
    pub async fn finish(&self, code: &str, state: &LoginState) -> Result<Identity> {
        let client = self.client(self.metadata(false).await?);
        // Dropped unsettled (the browser hung up while the provider hangs), the permit gives its probe back.
        let Some(permit) = self.breaker.permit() else {
            return Err(unavailable("oidc circuit breaker open"));
        };
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(unavailable)?
            .set_pkce_verifier(PkceCodeVerifier::new(state.pkce_verifier.clone()));
        let response = match request.request_async(&self.http).await {
            Ok(r) => {
                permit.succeeded();
                r
            }
            // The provider answered, with a body we cannot read as a token response (a claim of the
            // wrong type, say): the provider is up, and the login is refused with the reason.
            Err(openidconnect::RequestTokenError::Parse(e, _)) => {
                permit.succeeded();
                tracing::warn!(provider = %self.settings.id, error = %e, "OIDC token response unreadable");
                return Err(Error::unauthorized(format!(
                    "Unauthorized: the identity provider's answer could not be read ({}); ask its administrator",
                    e.inner()
                )));
            }
            Err(openidconnect::RequestTokenError::ServerResponse(e)) => {
                permit.succeeded();
                tracing::warn!(error = %e, "OIDC code exchange refused by the provider");
                return Err(Error::unauthorized(format!(
                    "Unauthorized: the provider refused the authorization code ({})",
                    e.error()
                )));
            }
            Err(e) => {
                permit.failed();
                return Err(unavailable(e));
            }
        };
        let id_token =
            response.id_token().ok_or_else(|| Error::unauthorized("Unauthorized: the provider sent no ID token"))?;
        let nonce = Nonce::new(state.nonce.clone());
        let claims = match id_token.claims(&self.verifier(&client), &nonce) {
            Ok(c) => c.clone(),
            Err(first) => {
                // Perhaps signed with a key published after our discovery: re-read and try once more.
                let fresh = self.client(self.metadata(true).await?);
                match id_token.claims(&self.verifier(&fresh), &nonce) {
                    Ok(c) => c.clone(),
                    Err(e) => {
                        tracing::warn!(error = %e, first = %first, "OIDC ID token rejected");
                        return Err(Error::unauthorized(format!("Unauthorized: the ID token is not valid ({e})")));
                    }
                }
            }
        };
        Ok(Identity {
            issuer: claims.issuer().as_str().to_string(),
            subject: claims.subject().as_str().to_string(),
            email: claims.email().map(|e| e.as_str().to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            preferred_username: claims.preferred_username().map(|u| u.as_str().to_string()),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_string()),
        })
    }
}
