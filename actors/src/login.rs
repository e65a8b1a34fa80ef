//! The right to read: a socket lives as long as the login it was opened with. When a login ends
//! (logout, revocation, password change, deactivation) the node that ended it publishes
//! [`LoginsEnded`] on the user's topic, and every node closes the matching sockets before routing
//! anything published after it (pub/sub keeps one publisher's order). A socket whose access token
//! expires is closed [`TOKEN_GRACE`] later unless the client presents a fresh one.
//!
//! ```text
//! {"logins_ended":{"user":"…","scope":{"only":"<login>"},"reason":"logged_out"}}
//! ```

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Close code for a socket whose access token expired: refresh the token, reconnect and `resume`.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// Close code for a socket whose login ended: log in again.
pub const CLOSE_LOGIN_ENDED: u16 = 4003;
/// How long a socket may outlive its access token's expiry without an `authenticate` action: room
/// for clock skew and a client that refreshes only when the token has run out.
pub const TOKEN_GRACE: Duration = Duration::from_secs(10);

/// Which of a user's logins ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginScope {
    /// Every login of the user (deactivation).
    All,
    /// One login (logout, revocation).
    Only(Uuid),
    /// Every login but one (a password change keeps the session that made it).
    AllBut(Uuid),
}

impl LoginScope {
    pub fn covers(&self, login: Uuid) -> bool {
        match self {
            LoginScope::All => true,
            LoginScope::Only(l) => *l == login,
            LoginScope::AllBut(l) => *l != login,
        }
    }
}

/// Why a login ended, as the close frame's reason says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    LoggedOut,
    Revoked,
    PasswordChanged,
    Deactivated,
    /// Found by a check of the database (the notice was lost, or the change was made outside a node:
    /// the admin command line, SQL, the session's own expiry).
    NoLongerValid,
}

impl EndReason {
    /// The close frame's reason text.
    pub fn describe(self) -> &'static str {
        match self {
            EndReason::LoggedOut => "login ended: logged out",
            EndReason::Revoked => "login ended: session revoked",
            EndReason::PasswordChanged => "login ended: password changed",
            EndReason::Deactivated => "login ended: account deactivated",
            EndReason::NoLongerValid => "login ended: session no longer valid",
        }
    }
}

/// Some logins of a user ended: their sockets close on every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginsEnded {
    pub user: Uuid,
    pub scope: LoginScope,
    pub reason: EndReason,
}

/// How [`LoginsEnded`] travels on a user's topic, beside that user's client frames.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Notice {
    LoginsEnded(LoginsEnded),
}

impl LoginsEnded {
    pub fn encode(&self) -> String {
        // A struct of ids and unit enums always serialises.
        serde_json::to_string(&Notice::LoginsEnded(*self)).unwrap_or_default()
    }

    /// The notice a user-topic payload carries, if it is one (client frames start with `{"event"`).
    pub fn decode(payload: &str) -> Option<LoginsEnded> {
        if !payload.starts_with("{\"logins_ended\"") {
            return None;
        }
        match serde_json::from_str(payload) {
            Ok(Notice::LoginsEnded(n)) => Some(n),
            Err(_) => None,
        }
    }
}

/// What a valid access token grants a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    pub user: Uuid,
    pub login: Uuid,
    pub expires_at: SystemTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_round_trips_and_client_frames_are_not_notices() {
        let login = Uuid::now_v7();
        for scope in [LoginScope::All, LoginScope::Only(login), LoginScope::AllBut(login)] {
            let notice = LoginsEnded { user: Uuid::now_v7(), scope, reason: EndReason::Deactivated };
            assert_eq!(LoginsEnded::decode(&notice.encode()), Some(notice), "{}", notice.encode());
        }
        assert_eq!(LoginsEnded::decode(r#"{"event":"channel_viewed","data":{}}"#), None);
        assert_eq!(LoginsEnded::decode(r#"{"logins_ended":{"user":"nope"}}"#), None);
    }

    #[test]
    fn scopes_cover_the_logins_they_name() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(LoginScope::All.covers(a));
        assert!(LoginScope::Only(a).covers(a) && !LoginScope::Only(a).covers(b));
        assert!(!LoginScope::AllBut(a).covers(a) && LoginScope::AllBut(a).covers(b));
    }
}
