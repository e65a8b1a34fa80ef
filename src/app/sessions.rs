//! Logins: opening a session with a password, refreshing it, and the token pair each hands out. Login
//! never reveals whether an account exists: unknown user, wrong password and deactivated account all
//! answer the same 401, after the same amount of hashing work. Each refresh token works once; presenting
//! a used one again means it was copied, so its session is revoked.

use rustchat_actors::login::{EndReason, LoginScope, LoginsEnded};

use crate::auth::{ACCESS_TTL, REFRESH_TTL, RefreshToken, TokenKeys, TokenPair, verify_password};
use crate::domain::{SessionId, Timestamp};
use crate::error::{Error, ErrorCode, Result};
use crate::store::RefreshOutcome;
use crate::store::Store;
use crate::store::models::User;

/// Longest user agent kept with a session.
const USER_AGENT_CHARS: usize = 256;

/// Opens a session for `user` (already authenticated, by password or an identity provider) and
/// issues its first token pair.
pub async fn open(store: &Store, tokens: &TokenKeys, user: User, user_agent: &str) -> Result<TokenPair> {
    if user.is_bot {
        // Bots act through access tokens only; no identity provider logs one in either.
        tracing::info!(user_id = %user.id, "Unauthorized: a bot cannot log in");
        return Err(Error::unauthorized("Unauthorized: invalid login or password"));
    }
    let user_agent: String = user_agent.chars().take(USER_AGENT_CHARS).collect();
    let placeholder = RefreshToken::generate(SessionId::new());
    let expires = Timestamp::now().plus(REFRESH_TTL);
    let session =
        store.create_session(user.id, &placeholder.hash(), expires, &user_agent, tokens.secret_ids().0).await?;
    // The refresh token names its session; the secret stored above is the one issued below.
    let token = RefreshToken { session, secret: placeholder.secret };
    pair(tokens, user, session, token)
}

/// Logs in with a username or email and a password.
pub async fn login(
    store: &Store,
    tokens: &TokenKeys,
    login: &str,
    password: &str,
    user_agent: &str,
) -> Result<TokenPair> {
    let user = check_password(store, login, password).await?;
    open(store, tokens, user, user_agent).await
}

/// The active account a username or email and password name; the same 401 whatever was wrong.
async fn check_password(store: &Store, login: &str, password: &str) -> Result<User> {
    let (user, hash) = match store.user_credentials(login).await? {
        Some(c) => (Some(c.user), c.password_hash),
        None => (None, None),
    };
    let ok = verify_password(password, hash).await?;
    match user {
        Some(user) if ok && user.is_active && !user.is_bot => Ok(user),
        _ => {
            tracing::info!("Unauthorized: auth login failed");
            Err(Error::unauthorized("Unauthorized: invalid login or password"))
        }
    }
}

/// A login for clients that keep one token for the whole session (the Mattermost API's faces): the
/// same password check, a session like any other (listed, revoked by logout and password changes,
/// checked at every use), and one access token that lives as long as the session instead of a
/// short-lived token plus a refresh token. Returns the user, the token and when it expires.
pub async fn session_token(
    store: &Store,
    tokens: &TokenKeys,
    login: &str,
    password: &str,
    user_agent: &str,
) -> Result<(User, String, Timestamp)> {
    let user = check_password(store, login, password).await?;
    let user_agent: String = user_agent.chars().take(USER_AGENT_CHARS).collect();
    // The refresh secret is never handed out: this session is never refreshed.
    let unused = RefreshToken::generate(SessionId::new());
    let expires = Timestamp::now().plus(REFRESH_TTL);
    let session = store.create_session(user.id, &unused.hash(), expires, &user_agent, tokens.secret_ids().0).await?;
    let token = tokens.issue_access_expiring(user.id, session, expires.unix_seconds())?;
    Ok((user, token, expires))
}

/// What presenting a refresh token did: the answer, and the login it ended when the token had been
/// used before (announce that whatever the answer).
pub struct Refreshed {
    pub answer: Result<TokenPair>,
    pub ended: Option<LoginsEnded>,
}

/// Exchanges a refresh token for a new pair.
pub async fn refresh(store: &Store, tokens: &TokenKeys, presented: &str) -> Result<Refreshed> {
    let invalid =
        || Error::new(ErrorCode::InvalidToken, "Unauthorized: the refresh token is invalid, expired or revoked");
    let refused = |ended| Ok(Refreshed { answer: Err(invalid()), ended });
    let Some(presented) = RefreshToken::parse(presented) else {
        tracing::warn!(reason = "malformed refresh token", "Invalid token");
        return refused(None);
    };
    let next = RefreshToken::generate(presented.session);
    let expires = Timestamp::now().plus(REFRESH_TTL);
    match store.rotate_refresh(presented.session, &presented.hash(), &next.hash(), expires, tokens.secret_ids()).await?
    {
        RefreshOutcome::Rotated(user_id) => {
            let user = store.user(user_id).await?.filter(|u| u.is_active).ok_or_else(invalid)?;
            Ok(Refreshed { answer: pair(tokens, user, presented.session, next), ended: None })
        }
        RefreshOutcome::Reused(user) => {
            tracing::warn!(session_id = %presented.session, reason = "refresh token reused; session revoked", "Invalid token");
            refused(Some(LoginsEnded {
                user: user.0,
                scope: LoginScope::Only(presented.session.0),
                reason: EndReason::Revoked,
            }))
        }
        RefreshOutcome::Invalid => {
            tracing::warn!(reason = "unknown or stale refresh token", "Invalid token");
            refused(None)
        }
    }
}

fn pair(tokens: &TokenKeys, user: User, session: SessionId, refresh: RefreshToken) -> Result<TokenPair> {
    Ok(TokenPair {
        access_token: tokens.issue_access(user.id, session)?,
        refresh_token: refresh.to_text(),
        expires_in: ACCESS_TTL.as_secs(),
        token_type: "Bearer",
        user,
    })
}
