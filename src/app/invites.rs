//! Invite codes: who may hand them out (system admins for the site, team admins for their team), their
//! limits, and using one up. Only a code's hash is stored; the code itself is shown once.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Principal, system_admins_only};
use crate::access::member_team;
use crate::auth::{AuthUser, generate_invite_code, hash_invite};
use crate::domain::{Role, TeamId, Timestamp};
use crate::error::{Error, Result};
use crate::store::Store;

/// How often and how long a new code may be used; `None` takes the default.
pub struct InviteTerms {
    /// 1–1000, default 1.
    pub max_uses: Option<i32>,
    /// 1–720, default 72.
    pub expires_in_hours: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Invite {
    /// Shown once; only its hash is stored.
    pub code: String,
    pub team_id: Option<TeamId>,
    pub max_uses: i32,
    pub expires_at: Timestamp,
}

/// A site-wide code (system admins): registers accounts on an invite-only site.
pub async fn create_for_site(store: &Store, caller: &AuthUser, terms: &InviteTerms) -> Result<Invite> {
    system_admins_only(Principal::User(caller), "system admins only")?;
    issue(store, caller, None, terms).await
}

/// A code that registers accounts into `team` (its admins).
pub async fn create_for_team(store: &Store, caller: &AuthUser, team: TeamId, terms: &InviteTerms) -> Result<Invite> {
    let (team, role) = member_team(store, caller, team).await?;
    if role != Role::Admin {
        return Err(Error::forbidden("only team admins can create invites"));
    }
    issue(store, caller, Some(team.id), terms).await
}

async fn issue(store: &Store, caller: &AuthUser, team: Option<TeamId>, terms: &InviteTerms) -> Result<Invite> {
    let max_uses = terms.max_uses.unwrap_or(1);
    if !(1..=1000).contains(&max_uses) {
        return Err(Error::validation("max_uses must be 1-1000"));
    }
    let hours = terms.expires_in_hours.unwrap_or(72);
    if !(1..=720).contains(&hours) {
        return Err(Error::validation("expires_in_hours must be 1-720"));
    }
    let code = generate_invite_code();
    let expires_at = Timestamp::now().plus(std::time::Duration::from_secs(u64::from(hours) * 3600));
    store.create_invite(&hash_invite(&code), team, caller.id(), max_uses, expires_at).await?;
    Ok(Invite { code, team_id: team, max_uses, expires_at })
}

/// Uses `code` once; returns the team it registers into, if any. An unknown, spent or expired code is
/// refused.
pub async fn redeem(store: &Store, code: &str) -> Result<Option<TeamId>> {
    store
        .redeem_invite(&hash_invite(code))
        .await?
        .ok_or_else(|| Error::forbidden("the invite code is unknown, used up or expired"))
}
