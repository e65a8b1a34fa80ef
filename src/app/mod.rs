//! The application layer: the rules of each action, once, for every face that offers it. A command
//! takes the caller and parsed input and returns what was committed; faces parse and render.

pub mod accounts;
pub mod bots;
pub mod channels;
pub mod commands;
pub mod files;
pub mod hooks;
pub mod invites;
pub mod outgoing;
pub mod posts;
pub mod preferences;
pub mod providers;
pub mod reads;
pub mod registration;
pub mod search;
pub mod sessions;
pub mod site;
pub mod sso;
pub mod teams;
pub mod tokens;
pub mod users;

use crate::auth::AuthUser;
use crate::domain::UserId;
use crate::error::{Error, Result};

/// Who runs a command the operator's command line shares with the API: a logged-in user, or the
/// operator at the machine, who has no account and every right (they hold the database already).
#[derive(Clone, Copy)]
pub enum Principal<'a> {
    User(&'a AuthUser),
    Operator,
}

impl Principal<'_> {
    pub fn is_system_admin(&self) -> bool {
        match self {
            Principal::User(u) => u.is_system_admin(),
            Principal::Operator => true,
        }
    }

    /// The account behind the command, if any.
    pub fn user(&self) -> Option<UserId> {
        match self {
            Principal::User(u) => Some(u.id()),
            Principal::Operator => None,
        }
    }
}

/// The audit trail's `by`: the acting user's id, or `command line` (the operations guide names it).
impl std::fmt::Display for Principal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::User(u) => write!(f, "{}", u.id()),
            Principal::Operator => f.write_str("command line"),
        }
    }
}

impl<'a> From<&'a AuthUser> for Principal<'a> {
    fn from(user: &'a AuthUser) -> Self {
        Principal::User(user)
    }
}

/// Refuses anyone but system admins (and the operator).
pub(crate) fn system_admins_only(by: Principal<'_>, message: &'static str) -> Result<()> {
    if by.is_system_admin() { Ok(()) } else { Err(Error::forbidden(message)) }
}
