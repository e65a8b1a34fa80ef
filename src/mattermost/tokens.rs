//! User access tokens as Mattermost's v4 API offers them (rules in `app::tokens`): create for me or a
//! bot I manage, list, revoke. Mattermost's `UserAccessToken` is `{id, token, user_id, description,
//! is_active}`; a token's name is its description.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::error::MmResult;
use super::input::{id, json, ok, status_ok};
use super::models;
use super::users::user_param;
use crate::app;
use crate::domain::SessionId;
use crate::state::AppState;
use crate::store::AccessToken;

#[derive(Deserialize)]
struct NewToken {
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
struct Revoke {
    token_id: String,
}

fn token(t: &AccessToken) -> Value {
    json!({
        "id": models::id(t.id.0),
        "user_id": models::id(t.user_id.0),
        "description": t.name,
        "is_active": true,
    })
}

pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    path: super::input::Seg,
    body: web::Payload,
) -> MmResult<HttpResponse> {
    let user = user_param(&caller, &path)?;
    let body: NewToken = json(body).await?;
    let site = state.site.get();
    let created = if user == caller.id() {
        app::tokens::create_personal(&state.store, &site, &state.tokens, &caller, &body.description).await?
    } else {
        app::tokens::create_for_bot(&state.store, &site, &state.tokens, &caller, user, &body.description).await?
    };
    let mut answer = token(&created.info);
    answer["token"] = Value::String(created.token);
    Ok(ok(answer))
}

pub async fn list(state: web::Data<AppState>, caller: Caller, path: super::input::Seg) -> MmResult<HttpResponse> {
    let user = user_param(&caller, &path)?;
    let tokens = if user == caller.id() {
        app::tokens::list_personal(&state.store, &caller).await?
    } else {
        app::tokens::list_for_bot(&state.store, &caller, user).await?
    };
    Ok(ok(tokens.iter().map(token).collect::<Vec<_>>()))
}

pub async fn revoke(state: web::Data<AppState>, caller: Caller, body: web::Payload) -> MmResult<HttpResponse> {
    let body: Revoke = json(body).await?;
    let token = SessionId(id(&body.token_id, "token_id")?);
    // Mine, else a bot's I manage: each is refused as not found when it is neither.
    let ended = match app::tokens::revoke_personal(&state.store, &caller, token).await {
        Ok(ended) => ended,
        Err(e) if e.code == crate::error::ErrorCode::NotFound => {
            let Some(found) = state.store.access_token(token).await? else { return Err(e.into()) };
            app::tokens::revoke_for_bot(&state.store, &caller, found.user_id, token).await?
        }
        Err(e) => return Err(e.into()),
    };
    state.realtime.end_logins(ended);
    Ok(status_ok())
}
