//! The actors' view of logins: which of a node's sockets may still read, and what a fresh access token
//! presented on an open socket grants (the same checks as a handshake's).

use std::collections::HashSet;

use rustchat_actors::login::Credential;
use rustchat_actors::ports::{ActionError, LocalFut, Logins};
use uuid::Uuid;

use crate::auth::{AuthUser, TokenKeys};
use crate::domain::SessionId;
use crate::store::Store;

pub struct StoreLogins {
    pub store: Store,
    pub tokens: TokenKeys,
}

impl Logins for StoreLogins {
    fn live(&self, logins: Vec<Uuid>) -> LocalFut<Result<HashSet<Uuid>, String>> {
        let store = self.store.clone();
        Box::pin(async move {
            let ids: Vec<SessionId> = logins.into_iter().map(SessionId).collect();
            let live = store.live_sessions(&ids).await.map_err(|e| format!("{e:?}"))?;
            Ok(live.into_iter().map(|s| s.0).collect())
        })
    }

    fn authenticate(&self, token: String) -> LocalFut<Result<Credential, ActionError>> {
        let (store, tokens) = (self.store.clone(), self.tokens.clone());
        Box::pin(async move {
            let (caller, expires_at) =
                AuthUser::from_token_with_expiry(&store, &tokens, &token).await.map_err(ActionError::from)?;
            Ok(Credential { user: caller.id().0, login: caller.session.0, expires_at })
        })
    }
}
