//! Outgoing integration settings (#20): which internal networks outgoing webhooks and slash commands
//! may reach (none by default: the SSRF guard), and how the outbox times, retries and gives up calls.

use std::time::Duration;

use super::kind::{DefaultValue as D, Kind, Unit, Variable};
use super::reader::Reader;

const fn var(name: &'static str, kind: Kind, default: D, meaning: &'static str) -> Variable {
    Variable { name, kind, default, meaning, secret: false }
}

pub const WEBHOOK_ALLOWED_NETWORKS: Variable = var(
    "RUSTCHAT_WEBHOOK_ALLOWED_NETWORKS",
    Kind::Networks,
    D::None,
    "IPs/CIDRs outgoing webhooks and slash commands may reach although they are loopback, private, \
     link-local or otherwise internal (all such addresses are refused by default)",
);
pub const WEBHOOK_TIMEOUT: Variable = var(
    "RUSTCHAT_WEBHOOK_TIMEOUT_MS",
    Kind::Duration { unit: Unit::Milliseconds, min: 100, max: 60_000 },
    D::Duration(Duration::from_secs(10)),
    "how long one outgoing webhook call may take; a slash command waits at most the smaller of this and 3 s",
);
pub const WEBHOOK_MAX_ATTEMPTS: Variable = var(
    "RUSTCHAT_WEBHOOK_MAX_ATTEMPTS",
    Kind::Integer { min: 1, max: 50 },
    D::Integer(8),
    "tries of one outgoing webhook call before it is given up (state `dead`)",
);
pub const WEBHOOK_RETRY_BASE: Variable = var(
    "RUSTCHAT_WEBHOOK_RETRY_BASE_MS",
    Kind::Duration { unit: Unit::Milliseconds, min: 10, max: 600_000 },
    D::Duration(Duration::from_secs(2)),
    "wait before the first retry; each further retry waits twice as long (at most 1 h), plus jitter",
);

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub allowed_networks: Vec<ipnet::IpNet>,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub retry_base: Duration,
}

impl WebhookSettings {
    /// How long a claimed call stays with the node that claimed it: past its longest run (name
    /// resolution, at most 5 s, then the call's timeout), so a live node keeps its call, and short, so
    /// a dead node's call is soon taken by another.
    pub fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(6)
    }
}

pub(super) fn parse(p: &mut Reader) -> WebhookSettings {
    let mut allowed_networks = Vec::new();
    let raw = p.text(&WEBHOOK_ALLOWED_NETWORKS);
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let net = item.parse::<ipnet::IpNet>().or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match net {
            Ok(net) => allowed_networks.push(net),
            Err(_) => p.fail(
                &WEBHOOK_ALLOWED_NETWORKS,
                format!("expected comma-separated IP addresses or CIDRs like 127.0.0.1 or 10.0.0.0/8, got '{item}'"),
            ),
        }
    }
    WebhookSettings {
        allowed_networks,
        timeout: p.duration(&WEBHOOK_TIMEOUT),
        max_attempts: p.integer(&WEBHOOK_MAX_ATTEMPTS),
        retry_base: p.duration(&WEBHOOK_RETRY_BASE),
    }
}

/// What `--check-config` shows for a webhook variable.
pub(super) fn effective_value(s: &super::Settings, name: &str) -> Option<String> {
    let w = &s.webhooks;
    Some(match name {
        "RUSTCHAT_WEBHOOK_ALLOWED_NETWORKS" => {
            let list: Vec<String> = w.allowed_networks.iter().map(ToString::to_string).collect();
            if list.is_empty() { "(none)".into() } else { list.join(",") }
        }
        "RUSTCHAT_WEBHOOK_TIMEOUT_MS" => w.timeout.as_millis().to_string(),
        "RUSTCHAT_WEBHOOK_MAX_ATTEMPTS" => w.max_attempts.to_string(),
        "RUSTCHAT_WEBHOOK_RETRY_BASE_MS" => w.retry_base.as_millis().to_string(),
        _ => return None,
    })
}
