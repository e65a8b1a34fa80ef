//! Client actions over the WebSocket that change state. `post` goes through the same checks and the
//! same store call as `POST /channels/{id}/posts`.

use rustchat_actors::client::PostAction;
use rustchat_actors::ports::{ActionError, ActionOutcome, Actions, LocalFut};
use serde_json::json;
use uuid::Uuid;

use crate::domain::{ChannelId, PostId, SessionId, UserId};
use crate::error::Error;
use crate::store::Store;

pub struct ChatActions {
    pub store: Store,
    pub presence: std::sync::Arc<dyn rustchat_actors::ports::Connections>,
    pub metrics: std::sync::Arc<crate::telemetry::metrics::Metrics>,
}

/// A refusal as a socket's error reply: the REST error code and message.
impl From<Error> for ActionError {
    fn from(e: Error) -> ActionError {
        ActionError { code: e.code.as_str().to_string(), message: e.message.clone() }
    }
}

impl Actions for ChatActions {
    fn post(&self, user: Uuid, login: Uuid, action: PostAction) -> LocalFut<Result<ActionOutcome, ActionError>> {
        let store = self.store.clone();
        let presence = self.presence.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let (post, event) = crate::app::posts::post_as(
                &store,
                presence.as_ref(),
                SessionId(login),
                UserId(user),
                ChannelId(action.channel_id),
                &action.message,
                action.root_id.map(PostId),
            )
            .await
            .map_err(ActionError::from)?;
            metrics.posts_created.add(1, &[]);
            let publish = super::publications(&event);
            Ok(ActionOutcome { reply: json!({ "post": post, "seq": event.seq }), publish })
        })
    }
}
