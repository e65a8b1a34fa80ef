//! Calls out of RustChat: outgoing webhooks and slash commands. Every call goes through the SSRF
//! [`guard`] and its host's circuit breaker ([`breakers`]); webhook calls are made durable by the
//! outbox worker ([`crate::delivery`]: at least once, leased, retried with backoff), command calls are
//! made while the caller waits. [`payload`] builds the Mattermost-compatible bodies and the signature
//! header.
//!
//! ```text
//! post committed ─(same transaction)─> outgoing_triggers ─(outbox worker, any node)─> webhook_deliveries
//!   ─(claimed with a lease)─> guard ─> breaker ─> POST (Idempotency-Key, X-RustChat-Signature)
//! ```

pub mod breakers;
pub mod guard;
pub mod payload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use self::breakers::HostBreakers;
use self::guard::{Guard, Refused};
use crate::config::WebhookSettings;
use crate::telemetry::metrics::Metrics;

/// Most bytes of an answer read (a reply's text is far shorter).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The node's outgoing side: guard, breakers, settings and metrics.
pub struct Webhooks {
    pub guard: Guard,
    pub breakers: HostBreakers,
    pub settings: WebhookSettings,
    pub metrics: Arc<Metrics>,
    /// The site settings (`enable_outgoing_webhooks`, `enable_commands`), for the paths without app state.
    pub site: crate::site::SiteCache,
}

/// One HTTP call to make.
pub struct Call<'a> {
    pub url: &'a str,
    /// `POST` with `body`, or `GET` with `body` as the query string.
    pub get: bool,
    pub content_type: &'a str,
    pub body: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub timeout: Duration,
}

/// A target's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why a call did not get an answer.
#[derive(Debug)]
pub enum CallError {
    /// The guard refused the target: trying again will not help.
    Refused(Refused),
    /// The host's breaker is open: not tried.
    BreakerOpen,
    /// Connection, timeout or transport failure.
    Failed(String),
}

impl Webhooks {
    pub fn new(settings: WebhookSettings, metrics: Arc<Metrics>, site: crate::site::SiteCache) -> Self {
        metrics.declare_webhook_results();
        Self {
            guard: Guard::new(settings.allowed_networks.clone()),
            breakers: HostBreakers::new(metrics.clone()),
            settings,
            metrics,
            site,
        }
    }

    /// Makes one call: resolves and checks the target, asks its host's breaker, dials the checked
    /// address. A 5xx answer counts against the breaker like a failure to connect; the answer is
    /// returned either way. Returns the time the call took, too.
    pub async fn call(&self, call: Call<'_>) -> (Result<Answer, CallError>, Option<f64>) {
        let url = match Guard::parse_url(call.url, "url") {
            Ok(u) => u,
            Err(r) => return (Err(CallError::Refused(r)), None),
        };
        let target = match self.guard.resolve(&url).await {
            Ok(t) => t,
            Err(r) => return (Err(CallError::Refused(r)), None),
        };
        let breaker = self.breakers.of(&target.host);
        if !breaker.admit() {
            return (Err(CallError::BreakerOpen), None);
        }
        let started = Instant::now();
        let result = send(&target, &call).await;
        let seconds = started.elapsed().as_secs_f64();
        match &result {
            Ok(a) if a.status < 500 => breaker.record_success(),
            _ => breaker.record_failure(),
        }
        (result, Some(seconds))
    }
}

async fn send(target: &guard::Target, call: &Call<'_>) -> Result<Answer, CallError> {
    let client = Guard::client(target, call.timeout).map_err(|e| CallError::Failed(format!("client: {e}")))?;
    let mut request = if call.get {
        let mut url = target.url.clone();
        url.set_query(Some(call.body));
        client.get(url)
    } else {
        client.post(target.url.clone()).header("Content-Type", call.content_type).body(call.body.to_string())
    };
    request = request.header("Accept", "application/json");
    for (name, value) in &call.headers {
        request = request.header(*name, value);
    }
    let mut response = request.send().await.map_err(|e| CallError::Failed(describe(&e)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_ANSWER_BYTES {
                    body.truncate(MAX_ANSWER_BYTES);
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => return Err(CallError::Failed(describe(&e))),
        }
    }
    Ok(Answer { status, body })
}

/// A transport error without the URL (it may carry a query string with a token).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_else(|| "request failed".into())
    }
}
