//! Preferences: each user reads and writes only their own, within bounds.

use crate::auth::AuthUser;
use crate::error::{Error, Result};
use crate::store::{Preference, Store};

/// Most preferences one request may set.
pub const MAX_PER_SAVE: usize = 100;
/// Longest category or name, in characters.
pub const MAX_KEY_CHARS: usize = 64;
/// Longest value, in characters (Mattermost's own limit is 2000).
pub const MAX_VALUE_CHARS: usize = 2000;

pub async fn list(store: &Store, caller: &AuthUser) -> Result<Vec<Preference>> {
    store.preferences(caller.id()).await
}

/// Saves the caller's preferences; each must name the caller (as Mattermost requires).
pub async fn save(store: &Store, caller: &AuthUser, prefs: &[Preference]) -> Result<()> {
    if prefs.len() > MAX_PER_SAVE {
        return Err(Error::validation(format!("at most {MAX_PER_SAVE} preferences at once")));
    }
    for p in prefs {
        if p.user_id != caller.id() {
            return Err(Error::forbidden("preferences can only be set for yourself"));
        }
        let key_ok = |k: &str| !k.is_empty() && k.chars().count() <= MAX_KEY_CHARS;
        if !key_ok(&p.category) || !key_ok(&p.name) {
            return Err(Error::validation(format!("category and name must be 1-{MAX_KEY_CHARS} characters")));
        }
        if p.value.chars().count() > MAX_VALUE_CHARS {
            return Err(Error::validation(format!("value must be at most {MAX_VALUE_CHARS} characters")));
        }
    }
    store.save_preferences(caller.id(), prefs).await
}
