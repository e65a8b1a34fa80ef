//! Site settings: the typed view of `server_config.site`. Unknown keys in the stored document are
//! kept (an operator may add them in SQL); missing keys take their defaults.

use serde::{Deserialize, Serialize};

/// Who may create an account (the first account is always allowed and becomes system admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    Open,
    InviteOnly,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SiteConfig {
    /// Per-user limit on simultaneous WebSocket connections, counted cluster-wide.
    pub max_simultaneous_connections: u32,
    pub registration: Registration,
    pub site_name: String,
    /// Whether any user may create a team (otherwise only system admins).
    pub allow_team_creation: bool,
    /// Whether users may create personal access tokens, and owners tokens for their bots (system
    /// admins always may). Off by default, as in Mattermost: an operator opts in.
    pub enable_personal_access_tokens: bool,
    /// Whether any user may create bot accounts (otherwise only system admins).
    pub enable_bot_account_creation: bool,
    /// Whether incoming webhooks exist at all: when off, none can be created and none posts.
    pub enable_incoming_webhooks: bool,
    /// Whether only channel, team and system admins may create incoming webhooks (otherwise any
    /// member of the channel).
    pub incoming_webhooks_admins_only: bool,
    /// Whether a webhook payload's `username` is shown instead of its creator's (ignored otherwise).
    pub enable_post_username_override: bool,
    /// Whether a webhook payload's `icon_url` is shown instead of its creator's picture (ignored otherwise).
    pub enable_post_icon_override: bool,
    /// Posts one incoming webhook may make a minute (a burst of that many, then evenly spaced).
    pub incoming_webhook_posts_per_minute: u32,
    /// Whether outgoing webhooks exist at all: when off, none can be created and none is called.
    pub enable_outgoing_webhooks: bool,
    /// Whether slash commands exist at all: when off, none can be registered and none runs.
    pub enable_commands: bool,
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self {
            max_simultaneous_connections: 10,
            registration: Registration::Open,
            site_name: "RustChat".into(),
            allow_team_creation: true,
            enable_personal_access_tokens: false,
            enable_bot_account_creation: false,
            enable_incoming_webhooks: true,
            incoming_webhooks_admins_only: false,
            enable_post_username_override: false,
            enable_post_icon_override: false,
            incoming_webhook_posts_per_minute: 60,
            enable_outgoing_webhooks: true,
            enable_commands: true,
        }
    }
}

impl SiteConfig {
    /// Checks values a patch may set; the limits keep a typo from locking everyone out.
    pub fn validate(&self) -> Result<(), crate::error::Error> {
        if !(1..=1000).contains(&self.max_simultaneous_connections) {
            return Err(crate::error::Error::validation("max_simultaneous_connections must be 1-1000"));
        }
        let n = self.site_name.trim().chars().count();
        if n == 0 || n > 64 {
            return Err(crate::error::Error::validation("site_name must be 1-64 characters"));
        }
        if !(1..=60_000).contains(&self.incoming_webhook_posts_per_minute) {
            return Err(crate::error::Error::validation("incoming_webhook_posts_per_minute must be 1-60000"));
        }
        Ok(())
    }
}
