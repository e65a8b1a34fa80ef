//! Client actions over the WebSocket that change state. `post` goes through the same checks and the
//! same store call as `POST /channels/{id}/posts`.

use rustchat_actors::ports::{ActionError, ActionOutcome, Actions, BusMessage, LocalFut};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::log::frame_of;
use crate::domain::{ChannelId, PostId, SessionId, UserId};
use crate::error::Error;
use crate::store::Store;

pub struct ChatActions {
    pub store: Store,
    pub presence: std::sync::Arc<dyn rustchat_actors::ports::Connections>,
    pub metrics: std::sync::Arc<crate::telemetry::metrics::Metrics>,
}

#[derive(Deserialize)]
struct PostAction {
    channel_id: ChannelId,
    message: String,
    root_id: Option<PostId>,
}

fn refuse(e: Error) -> ActionError {
    ActionError { code: e.code.as_str().to_string(), message: e.message.clone() }
}

impl Actions for ChatActions {
    fn perform(
        &self,
        user: Uuid,
        login: Uuid,
        action: String,
        payload: Value,
    ) -> LocalFut<Result<ActionOutcome, ActionError>> {
        let store = self.store.clone();
        let presence = self.presence.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            match action.as_str() {
                "post" => {
                    let request: PostAction = serde_json::from_value(payload).map_err(|e| ActionError {
                        code: "validation_failed".into(),
                        message: format!("post needs channel_id, message and optionally root_id: {e}"),
                    })?;
                    let (post, event) = crate::http::posts::post_as(
                        &store,
                        presence.as_ref(),
                        SessionId(login),
                        UserId(user),
                        request.channel_id,
                        &request.message,
                        request.root_id,
                    )
                    .await
                    .map_err(refuse)?;
                    metrics.posts_created.add(1, &[]);
                    let publish = vec![BusMessage::Channel(frame_of(&event))];
                    Ok(ActionOutcome { reply: json!({ "post": post, "seq": event.seq }), publish })
                }
                other => {
                    Err(ActionError { code: "unknown_action".into(), message: format!("unknown action '{other}'") })
                }
            }
        })
    }
}
